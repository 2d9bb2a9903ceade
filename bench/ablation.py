"""The seeds' ablation, with an equal budget and seed for every variant.

    python bench/ablation.py --data data/synth --steps 1500 --out bench/results/ablation

Trains each variant with `echo-edge train` settings (same data, steps, batch size, seed, lr),
decodes the test split greedily and writes bench/results/ablation.md + ablation.json with the
exact command. Whatever the outcome, it is reported as measured.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

VARIANTS: dict[str, list[str]] = {
    "spectrogram": ["--features", "spectrogram"],
    "waveform": ["--features", "waveform"],
    "blend": ["--features", "spectrogram", "waveform"],
    "blend_pad30": ["--features", "spectrogram", "waveform", "--pad-to-seconds", "30"],
    "blend_pitch_stream": ["--features", "spectrogram", "waveform", "pitch"],
    "blend_pitch_rotary": [
        "--features", "spectrogram", "waveform",
        "--pitch-theta", "--pitch-radius", "--pitch-bias",
    ],
    "blend_hard_silence": ["--features", "spectrogram", "waveform", "--silence-scale", "1.0"],
    "blend_soft_silence_1e-6": ["--features", "spectrogram", "waveform", "--silence-scale", "1e-6"],
    "blend_cosine": ["--features", "spectrogram", "waveform", "--score", "cosine"],
    "blend_blend_score": ["--features", "spectrogram", "waveform", "--score", "blend"],
}  # fmt: skip


def evaluate(checkpoint: Path, manifest: Path, limit: int | None) -> dict[str, float]:
    """Greedy WER/CER of a checkpoint on a manifest, clean and noisy halves separately."""
    import torch

    from echo_edge.audio import load_audio
    from echo_edge.data import read_manifest
    from echo_edge.decoding import strip_special
    from echo_edge.metrics import char_error_rate, word_error_rate
    from echo_edge.model import Echo
    from echo_edge.tokenizer import default_tokenizer

    model = Echo.from_pretrained(checkpoint)
    tok = default_tokenizer()
    rows = read_manifest(manifest)[:limit]
    refs, hyps, noisy = [], [], []
    for row in rows:
        wave = torch.from_numpy(load_audio(row["audio"]))[None]
        hyps.append(tok.decode(strip_special(model.generate(wave)[0].tolist())))
        refs.append(row["text"])
        noisy.append(row.get("augment", "clean") != "clean")
    out = {"wer": word_error_rate(refs, hyps), "cer": char_error_rate(refs, hyps), "n": len(rows)}
    for name, flag in (("clean", False), ("noisy", True)):
        r = [x for x, n in zip(refs, noisy) if n == flag]
        h = [x for x, n in zip(hyps, noisy) if n == flag]
        if r:
            out[f"wer_{name}"] = word_error_rate(r, h)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="corpus dir with train/dev/test.jsonl")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=300)
    p.add_argument("--only", nargs="*", help="subset of variants")
    p.add_argument("--out", default="bench/results/ablation")
    args = p.parse_args(argv)

    from echo_edge.cli import build_parser
    from echo_edge.train import run_train

    data, out = Path(args.data), Path(args.out)
    results = {}
    for name, flags in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        run_dir = Path("runs/ablation") / name
        cli = ["train", "--train", str(data / "train.jsonl"), "--out", str(run_dir)]
        cli += ["--max-steps", str(args.steps), "--batch-size", str(args.batch_size)]
        cli += ["--seed", str(args.seed), "--eval-steps", str(args.steps + 1), *flags]
        start = time.time()
        run_train(build_parser().parse_args(cli))
        seconds = time.time() - start
        summary = json.loads((run_dir / "final" / "train_summary.json").read_text())
        metrics = evaluate(run_dir / "final", data / "test.jsonl", args.test_limit)
        results[name] = {
            "flags": " ".join(flags),
            "train_seconds": round(seconds, 1),
            "parameters": summary["parameters"],
            "learned": summary["learned"],
            **metrics,
        }
        print(name, json.dumps(results[name]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(results, indent=2) + "\n")
    command = "python bench/ablation.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# The seeds' ablation",
        "",
        f"Command: `{command}` (same data, {args.steps} steps, batch {args.batch_size}, "
        f"seed {args.seed} for every variant; WER on at most {args.test_limit} test utterances).",
        "",
        "| variant | flags | WER % | clean | noisy | CER % | params | train s | learned |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | `{r['flags']}` | {100 * r['wer']:.1f} | "
            f"{100 * r.get('wer_clean', float('nan')):.1f} | "
            f"{100 * r.get('wer_noisy', float('nan')):.1f} | {100 * r['cer']:.1f} | "
            f"{r['parameters']:,} | {r['train_seconds']:.0f} | `{json.dumps(r['learned'])}` |"
        )
    Path(f"{out}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
