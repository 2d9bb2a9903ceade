"""Arguments of `echo-edge train` (torch-free, so the CLI builds its parser without torch)."""

from __future__ import annotations

import argparse

from echo_edge.config import FEATURES, SCORES


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, nargs="+", help="training manifests (JSONL)")
    p.add_argument(
        "--hold-out",
        nargs="*",
        default=[],
        metavar="MANIFEST",
        help="drop training rows whose text occurs in these manifests (e.g. another corpus's test)",
    )
    p.add_argument("--dev", help="evaluation manifest (JSONL)")
    p.add_argument("--out", default="runs/echo", help="output directory")
    p.add_argument("--preset", default="tiny", choices=["tiny", "small", "seed"])
    p.add_argument("--init", help="start from this checkpoint instead of a fresh preset")
    p.add_argument("--features", nargs="+", default=["spectrogram", "waveform"], choices=FEATURES)
    p.add_argument("--score", default="dot", choices=SCORES)
    p.add_argument(
        "--silence-scale",
        type=float,
        default=1e-3,
        help="ε for silent keys; 1 = off, 0 = hard mask",
    )
    p.add_argument("--pad-mask", default="hard", choices=["hard", "soft"])
    p.add_argument("--pitch-theta", action="store_true", help="pitch-modulated rotary phase")
    p.add_argument("--pitch-radius", action="store_true", help="pitch rotary radius")
    p.add_argument("--pitch-bias", action="store_true", help="pitch-similarity attention bias")
    p.add_argument("--betweenness", action="store_true", help="bRoPE betweenness offsets")
    p.add_argument("--learned-freq", action="store_true", help="learn rotary frequencies")
    p.add_argument("--no-cross-gate", action="store_true", help="no gate on cross-attention")
    p.add_argument("--ctc-weight", type=float, default=0.3, help="auxiliary encoder CTC loss")
    p.add_argument("--pad-to-seconds", type=float, help="pad/truncate every batch (seeds: 30)")
    p.add_argument(
        "--speed-perturb",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="play each training item at a speed drawn from [LOW, HIGH] anew every epoch "
        "(e.g. 0.85 1.15); default off",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--epochs", type=float, default=10.0)
    p.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    p.add_argument("--max-seconds", type=float, default=12.0, help="skip longer utterances")
    p.add_argument("--eval-steps", type=int, default=500)
    p.add_argument("--max-eval", type=int, default=200, help="dev utterances per evaluation")
    p.add_argument("--workers", type=int, default=2, help="data loader workers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --out")
