"""Decoder ms per step of several bundles, measured side by side in one process.

    .venv/bin/python bench/decoder_steps.py BUNDLE... [--seconds 3 30] [--rounds 30]
        [--steps 60] [--threads 2] [--out DIR]

`echo-edge bench` times one bundle after another, so a neighbour on a shared CPU that is busy
for a minute moves one bundle's figure and not the next one's (decoder steps are ~1 ms of
many small ops). Here every bundle encodes the same audio (verify's first utterances glued to
each length), then the bundles take turns: each round runs `--steps` decoder steps (positions
0.. with the real cross-attention K/V, full caches in and out, as the greedy loop calls them)
on every bundle in turn, and a bundle's figure is its fastest round (with the quartile and
median beside it). Writes decoder_steps.json and decoder_steps.md under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from echo_edge import constants as C
from echo_edge.evalset import utterance_of_length, verify_set
from echo_edge.runtime.backend import CrossAttention
from echo_edge.runtime.recognizer import Recognizer


def steps_ms(recognizer: Recognizer, encoded: CrossAttention, steps: int) -> float:
    """Mean ms of `steps` decoder steps at positions 0.. (one token each, caches fed back)."""
    backend = recognizer.backend
    k, v = backend.empty_cache()
    token = np.array([[C.BOS_ID]], np.int64)
    start = time.perf_counter()
    for i in range(steps):
        _, k, v = backend.decode_step(token, i, k, v, encoded)
    return 1000.0 * (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("bundles", nargs="+", help="bundle directories, measured side by side")
    ap.add_argument("--seconds", type=float, nargs="+", default=[3.0, 30.0], help="audio lengths")
    ap.add_argument("--rounds", type=int, default=30, help="turns each bundle takes per length")
    ap.add_argument("--steps", type=int, default=60, help="decoder steps in one turn")
    ap.add_argument("--threads", type=int, default=2, help="Recognizer.from_bundle threads")
    ap.add_argument("--out", default=None, help="directory for decoder_steps.json and .md")
    args = ap.parse_args()
    utterances = verify_set(8)
    recognizers = [Recognizer.from_bundle(b, threads=args.threads) for b in args.bundles]
    rows = []
    for seconds in args.seconds:
        audio = utterance_of_length(utterances, seconds)
        encoded = []
        for r in recognizers:
            f = r.features(audio)
            encoded.append(r.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None]))
        for r, e in zip(recognizers, encoded):  # warm-up
            steps_ms(r, e, args.steps)
        samples: list[list[float]] = [[] for _ in recognizers]
        for _ in tqdm(range(args.rounds), desc=f"{seconds:g} s", unit="round"):
            for j, (r, e) in enumerate(zip(recognizers, encoded)):
                samples[j].append(steps_ms(r, e, args.steps))
        for bundle, ms in zip(args.bundles, samples):
            s = sorted(ms)
            rows.append(
                {
                    "bundle": bundle,
                    "seconds": seconds,
                    "best_ms": round(s[0], 3),
                    "p25_ms": round(s[len(s) // 4], 3),
                    "median_ms": round(s[len(s) // 2], 3),
                    "samples_ms": [round(x, 4) for x in ms],
                }
            )
    command = "python bench/decoder_steps.py " + " ".join(args.bundles)
    command += f" --seconds {' '.join(f'{s:g}' for s in args.seconds)} --rounds {args.rounds}"
    command += f" --steps {args.steps} --threads {args.threads}"
    command += f" --out {args.out}" if args.out else ""
    lines = [f"`{command}`", "", "| bundle | audio s | best ms/step | p25 | median |"]
    lines.append("|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['bundle']} | {r['seconds']:g} | {r['best_ms']:.3f} | {r['p25_ms']:.3f} "
            f"| {r['median_ms']:.3f} |"
        )
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "decoder_steps.json").write_text(json.dumps({"command": command, "rows": rows}))
        (out / "decoder_steps.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
