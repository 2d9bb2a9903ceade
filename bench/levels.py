"""WER of the same speech at several levels: the reference model and int8 bundles, level_norm off/on.

Each utterance is scaled to each target level (dBFS RMS over its speech frames, as
echo_edge.level.speech_level_db measures it after DC removal, then clipped to [-1, 1] as
every input path does), or left as it is ("as-is"). The reference is the shipped checkpoint
(or --checkpoint) with EchoConfig.level_norm off and on (the same weights); a bundle is
transcribed in one pass by the torch-free runtime (Recognizer.recognize, no endpointer).
Both decode with the default DecodingOptions (joint CTC/attention greedy for models with a
CTC head, as `echo-edge transcribe` does; the weight is written to levels.json).

    python bench/levels.py --limit 60 --bundle int8=echo_edge/assets/onnx-int8 \
        --bundle int8+level=runs/levels/onnx-int8-level --out bench/results/levels
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FESTIVAL = ROOT / "data" / "festival" / "test.jsonl"
DEFAULT_LEVELS = (-20.0, -35.0, -50.0)
AS_IS = "as-is"  # the utterance at its own level


def speech_level(audio: np.ndarray) -> float:
    """dBFS RMS over the speech frames of DC-free audio (N,), level.speech_level_db's measure."""
    import torch

    from echo_edge.frontend import frame_aligned_waveform
    from echo_edge.level import frame_energy_db, speech_level_db

    wave = frame_aligned_waveform(torch.from_numpy(np.ascontiguousarray(audio))[None])
    energy = frame_energy_db(wave)  # (1, T)
    return float(speech_level_db(energy, torch.ones_like(energy))[0])


def at_level(audio: np.ndarray, level: float, target: float) -> tuple[np.ndarray, int]:
    """audio scaled from `level` to `target` dBFS, clipped to [-1, 1]; (audio, clipped samples)."""
    scaled = audio * np.float32(10.0 ** ((target - level) / 20.0))
    clipped = int(np.count_nonzero(np.abs(scaled) > 1.0))
    return np.clip(scaled, -1.0, 1.0).astype(np.float32), clipped


def load_sets(limit: int, festival: Path | None) -> dict[str, list[tuple[str, np.ndarray, str]]]:
    """set name -> [(id, audio, reference text)]: verify's first `limit`, festival's rows."""
    from echo_edge.evalset import load_eval_set, verify_set

    sets = {"verify": [(u.id, u.audio, u.text) for u in verify_set(limit)]}
    if festival is not None:
        sets["festival"] = [(u.id, u.audio, u.text) for u in load_eval_set(festival, limit)]
    return sets


def systems(checkpoint: str | None, bundles: list[tuple[str, str]]) -> dict:
    """name -> fn(audio) -> text, for the reference (level_norm off, on) and each bundle."""
    import torch

    from echo_edge.model import Echo
    from echo_edge.runtime import Recognizer

    torch.set_num_threads(1)
    off = Echo.from_pretrained(checkpoint)
    on = Echo(dataclasses.replace(off.config, level_norm=not off.config.level_norm)).eval()
    on.load_state_dict(off.state_dict(), strict=True)
    on.checkpoint_dir = off.checkpoint_dir
    if off.config.level_norm:
        off, on = on, off
    out = {"reference": off.transcribe, "reference+level": on.transcribe}
    for name, path in bundles:
        rec = Recognizer.from_bundle(path)
        out[name] = lambda audio, rec=rec: rec.recognize(audio).text
    return out


def run(args: argparse.Namespace) -> dict:
    from echo_edge.metrics import word_error_rate
    from echo_edge.runtime.highpass import remove_dc

    sets = load_sets(args.limit, args.festival)
    fns = systems(args.checkpoint, args.bundle)
    conditions = [AS_IS, *args.levels]
    from echo_edge.decoding import DecodingOptions

    results: dict = {"levels_dbfs": args.levels, "sets": {}, "clipped_samples": {}}
    results["ctc_weight"] = DecodingOptions().ctc_weight
    for set_name, utts in sets.items():
        levels = [speech_level(remove_dc(a)) for _, a, _ in utts]
        refs = [t for _, _, t in utts]
        table: dict = {}
        for cond in conditions:
            clipped = 0
            audios = []
            for (_, audio, _), level in zip(utts, levels):
                if cond == AS_IS:
                    audios.append(audio)
                    continue
                scaled, n = at_level(audio, level, float(cond))
                audios.append(scaled)
                clipped += n
            results["clipped_samples"][f"{set_name} {cond}"] = clipped
            for name, fn in fns.items():
                t0 = time.perf_counter()
                hyps = [
                    fn(a)
                    for a in tqdm(
                        audios, desc=f"{set_name} {cond} {name}", leave=False, disable=None
                    )
                ]
                wer = 100.0 * word_error_rate(refs, hyps)
                table.setdefault(name, {})[str(cond)] = round(wer, 2)
                print(f"{set_name:9s} {cond!s:>6} {name:16s} WER {wer:6.2f} % "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)  # fmt: skip
        results["sets"][set_name] = {
            "utterances": len(utts),
            "speech_level_dbfs": {
                "median": round(float(np.median(levels)), 1),
                "p10": round(float(np.percentile(levels, 10)), 1),
                "p90": round(float(np.percentile(levels, 90)), 1),
            },
            "wer": table,
        }
    return results


def markdown(results: dict) -> str:
    """One WER table per set: a row per system, a column per level, and the spread."""
    lines = []
    levels = [str(v) for v in results["levels_dbfs"]]
    for set_name, s in results["sets"].items():
        lv = s["speech_level_dbfs"]
        lines += [
            f"**{set_name}** ({s['utterances']} utterances, own level median {lv['median']} "
            f"dBFS, p10-p90 {lv['p10']} .. {lv['p90']})",
            "",
            f"| system | {AS_IS} | " + " | ".join(f"{v} dBFS" for v in levels) + " | spread |",
            "|---|" + "---|" * (len(levels) + 2),
        ]
        for name, row in s["wer"].items():
            spread = max(row[v] for v in levels) - min(row[v] for v in levels)
            cells = " | ".join(f"{row[v]:.1f}" for v in [AS_IS, *levels])
            lines.append(f"| {name} | {cells} | {spread:.1f} |")
        lines.append("")
    return "\n".join(lines)


def corpus_levels(manifests: list[Path], rows: int = 600, seed: int = 0) -> dict:
    """Speech level (dBFS) of `rows` random rows of each manifest: median, p10, p90."""
    import random

    from echo_edge.audio import load_audio
    from echo_edge.runtime.highpass import remove_dc

    out = {}
    for manifest in manifests:
        items = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        random.Random(seed).shuffle(items)
        levels = [
            speech_level(remove_dc(load_audio(manifest.parent / r["audio"]))) for r in items[:rows]
        ]
        out[str(manifest)] = {
            "rows": len(levels),
            **{k: round(float(np.percentile(levels, q)), 1) for k, q in QUANTILES.items()},
        }
    return out


QUANTILES = {"median": 50, "p10": 10, "p90": 90}


def parse_bundle(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"expected NAME=BUNDLE_DIR, got {text!r}")
    return name, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--limit", type=int, default=60, help="utterances per set")
    parser.add_argument("--levels", type=float, nargs="+", default=list(DEFAULT_LEVELS))
    parser.add_argument("--checkpoint", help="reference checkpoint; default: the shipped model")
    parser.add_argument(
        "--bundle", type=parse_bundle, action="append", default=[], help="NAME=BUNDLE_DIR"
    )
    parser.add_argument("--festival", type=Path, default=DEFAULT_FESTIVAL, help="manifest")
    parser.add_argument("--no-festival", action="store_true")
    parser.add_argument("--out", type=Path, help="directory for levels.json and levels.md")
    parser.add_argument(
        "--corpus-level",
        type=Path,
        nargs="+",
        metavar="MANIFEST",
        help="only print the speech level of 600 random rows of each training manifest",
    )
    args = parser.parse_args(argv)
    if args.corpus_level:
        try:
            print(json.dumps(corpus_levels(args.corpus_level), indent=2))
        except (OSError, ValueError, KeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.no_festival or not args.festival.is_file():
        if not args.no_festival:
            print(f"no {args.festival}: festival skipped", file=sys.stderr)
        args.festival = None
    try:
        results = run(args)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    table = markdown(results)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "levels.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "levels.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
