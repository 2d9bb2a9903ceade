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
    "blend_no_silence_mask": ["--features", "spectrogram", "waveform", "--silence-scale", "1.0"],
    "blend_hard_silence": ["--features", "spectrogram", "waveform", "--silence-scale", "0"],
    "blend_cosine": ["--features", "spectrogram", "waveform", "--score", "cosine"],
    "blend_blend_score": ["--features", "spectrogram", "waveform", "--score", "blend"],
}  # fmt: skip


def evaluate(checkpoint: Path, manifest: Path, limit: int | None) -> dict[str, float]:
    """The flat figures of `echo-edge eval` for one variant: greedy WER/CER (clean and noisy
    halves), teacher-forced loss and token accuracy (they still rank variants while WER is
    saturated at a small budget)."""
    from echo_edge.evaluate import evaluate as evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, manifest, limit)
    return {k: v for k, v in report.items() if not k.startswith("by_") and k != "hypotheses"}


def command_line() -> str:
    return "python bench/ablation.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def reevaluate(args: argparse.Namespace) -> int:
    """--eval-only: new WER/CER/TF figures for the trained variants, training figures kept."""
    out = Path(args.out)
    results = json.loads(Path(f"{out}.json").read_text())
    for name, row in results.items():
        if args.only and name not in args.only:
            continue
        metrics = evaluate(
            Path("runs/ablation") / name / "final", Path(args.data) / "test.jsonl", args.test_limit
        )
        row.update(metrics, evaluated_by=command_line())
        print(name, json.dumps(metrics), flush=True)
        write_report(results, args, out)
    return 0


def write_report(results: dict, args: argparse.Namespace, out: Path) -> None:
    """ablation.json + ablation.md (the table) for the variants trained so far."""
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(results, indent=2) + "\n")
    redecoded: dict[str, list[str]] = {}  # --eval-only command -> the variants it decoded
    for name, r in results.items():
        if "evaluated_by" in r:
            redecoded.setdefault(r["evaluated_by"], []).append(name)
    commands = list(dict.fromkeys(r["command"] for r in results.values())) or [command_line()]
    lines = [
        "# The seeds' ablation",
        "",
        *(line for c in commands[:-1] for line in (f"Command: `{c}`", "")),
        f"Command: `{commands[-1]}` "
        f"(same data, {args.steps} steps, batch {args.batch_size}, "
        f"seed {args.seed}, lr {args.lr}, warm-up {args.warmup_steps} for every variant, auxiliary "
        f"CTC 0.3 as in `echo-edge train`; WER on at most {args.test_limit} test utterances; "
        "TF = teacher-forced decoder cross-entropy / token accuracy on the same utterances).",
        "",
        *(
            line
            for by, names in redecoded.items()
            for line in (f"Decoded again with `{by}`: {', '.join(names)}.", "")
        ),
        "| variant | flags | WER % | clean | noisy | CER % | TF loss | TF acc | params | train s "
        "| learned |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | `{r['flags']}` | {100 * r['wer']:.1f} | "
            f"{100 * r.get('wer_clean', float('nan')):.1f} | "
            f"{100 * r.get('wer_noisy', float('nan')):.1f} | {100 * r['cer']:.1f} | "
            f"{r['tf_loss']:.3f} | {r['tf_token_accuracy']:.3f} | "
            f"{r['parameters']:,} | {r['train_seconds']:.0f} | `{json.dumps(r['learned'])}` |"
        )
    Path(f"{out}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="corpus dir with train/dev/test.jsonl")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--max-seconds", type=float, default=10.0, help="skip longer utterances")
    p.add_argument("--workers", type=int, default=1, help="data loader workers")
    p.add_argument("--test-limit", type=int, default=300)
    p.add_argument("--only", nargs="*", help="subset of variants")
    p.add_argument("--out", default="bench/results/ablation")
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="re-decode the variants already trained (runs/ablation/*/final) with the current "
        "decoder and rewrite the report; training figures are kept from OUT.json",
    )
    args = p.parse_args(argv)
    if args.eval_only:
        return reevaluate(args)

    from echo_edge.cli import build_parser
    from echo_edge.train import run_train

    data, out = Path(args.data), Path(args.out)
    # Rows of variants trained by an earlier run with the same OUT are kept (each keeps its own
    # command); the variants trained now are added or replaced.
    results = json.loads(Path(f"{out}.json").read_text()) if Path(f"{out}.json").exists() else {}
    for name, flags in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        run_dir = Path("runs/ablation") / name
        cli = ["train", "--train", str(data / "train.jsonl"), "--out", str(run_dir)]
        cli += ["--max-steps", str(args.steps), "--batch-size", str(args.batch_size)]
        cli += ["--seed", str(args.seed), "--eval-steps", str(args.steps + 1), *flags]
        cli += ["--lr", str(args.lr), "--warmup-steps", str(args.warmup_steps)]
        cli += ["--max-seconds", str(args.max_seconds), "--workers", str(args.workers)]
        start = time.time()
        run_train(build_parser().parse_args(cli))
        seconds = time.time() - start
        summary = json.loads((run_dir / "final" / "train_summary.json").read_text())
        metrics = evaluate(run_dir / "final", data / "test.jsonl", args.test_limit)
        results[name] = {
            "command": command_line(),
            "flags": " ".join(flags),
            "train_seconds": round(seconds, 1),
            "parameters": summary["parameters"],
            "learned": summary["learned"],
            **metrics,
        }
        print(name, json.dumps(results[name]), flush=True)
        write_report(results, args, out)  # after every variant: a cut-short run keeps its rows
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
