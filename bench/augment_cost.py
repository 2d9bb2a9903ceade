"""Cost of the online waveform augmentation (echo_edge.corpus.online) per dataset item.

Reads the same rows through SpeechDataset with each preset and with each effect alone (its
probability set to 1), one item after another in this process (run it with one thread), and
reports milliseconds of CPU per second of audio: the work a DataLoader worker adds per item.
The RIR bank is built (and timed) before the items are read.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/augment_cost.py \
        --manifest data/synth-s1/train.jsonl --rows 200 --out bench/results/augment/cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from echo_edge.corpus.online import EFFECTS, PRESETS, AugmentConfig, rir_bank
from echo_edge.data import SpeechDataset, read_manifest
from echo_edge.tokenizer import default_tokenizer


def cost(rows: list[dict], config: AugmentConfig | None, seed: int) -> dict[str, float]:
    """CPU ms per second of audio for reading every row once (draw 0) with `config`."""
    ds = SpeechDataset(rows, default_tokenizer(), augment=config, seed=seed)
    if ds.augmenter is not None and config.reverb_prob > 0:
        ds.augmenter.bank  # noqa: B018  built before the clock starts (once per worker)
    audio_s, start = 0.0, time.process_time()
    for i in range(len(ds)):
        audio_s += ds[i]["input_values"].size / 16000
    cpu = time.process_time() - start
    return {"ms_per_audio_s": round(1000 * cpu / audio_s, 2), "audio_s": round(audio_s, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True, help="training manifest (JSONL) to read")
    p.add_argument("--rows", type=int, default=200, help="rows read per configuration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    try:
        rows = read_manifest(args.manifest, [])[: args.rows]
    except (OSError, ValueError) as e:
        print(f"augment_cost: {e}", file=sys.stderr)
        return 2
    results: dict[str, object] = {
        "manifest": args.manifest,
        "rows": len(rows),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg(),
    }
    start = time.process_time()
    bank = rir_bank(PRESETS["full"].rir_bank, args.seed, PRESETS["full"].rt60_s)
    import pyroomacoustics as pra

    rt60 = [pra.experimental.measure_rt60(h, fs=16000) for h in bank]
    results["rir_bank"] = {
        "rooms": len(bank),
        "build_cpu_s": round(time.process_time() - start, 2),
        "measured_rt60_s": [round(float(np.min(rt60)), 2), round(float(np.median(rt60)), 2)]
        + [round(float(np.max(rt60)), 2)],
        "seconds": [
            round(min(h.size for h in bank) / 16000, 2),
            round(max(h.size for h in bank) / 16000, 2),
        ],
    }
    print(json.dumps(results["rir_bank"]), file=sys.stderr)
    table: dict[str, dict[str, float]] = {}
    table["none"] = cost(rows, None, args.seed)
    for name in ("light", "full"):
        table[name] = cost(rows, PRESETS[name], args.seed)
    base = replace(PRESETS["full"], **{f"{e}_prob": 0.0 for e in EFFECTS})
    for effect in EFFECTS:
        table[f"{effect} alone"] = cost(rows, replace(base, **{f"{effect}_prob": 1.0}), args.seed)
    for codec in ("vorbis", "mp3"):
        one = replace(base, lossy_prob=1.0, lossy_codecs=(codec,))
        table[f"lossy {codec} alone"] = cost(rows, one, args.seed)
    for name, row in table.items():
        row["added_ms_per_audio_s"] = round(
            row["ms_per_audio_s"] - table["none"]["ms_per_audio_s"], 2
        )
        print(
            f"{name:20s} {row['ms_per_audio_s']:8.2f} ms/s  (+{row['added_ms_per_audio_s']:.2f})",
            file=sys.stderr,
        )
    results["cost"] = table
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
