"""Arguments of `echo-edge train` (torch-free, so the CLI builds its parser without torch)."""

from __future__ import annotations

import argparse

from echo_edge.cli import number, workers_arg
from echo_edge.config import FEATURES, SCORES

POSITIVE_INT = number(1, integer=True)


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
    p.add_argument(
        "--preset",
        default="tiny",
        choices=["tiny", "small", "seed"],
        help="model size (echo_edge.config presets); the flags below override its features",
    )
    p.add_argument("--init", help="start from this checkpoint instead of a fresh preset")
    p.add_argument(
        "--features",
        nargs="+",
        default=["spectrogram", "waveform"],
        choices=FEATURES,
        help="encoder input streams, blended by learned weights",
    )
    p.add_argument(
        "--score", default="dot", choices=SCORES, help="attention score: dot, cosine or a blend"
    )
    p.add_argument(
        "--silence-scale",
        type=number(0.0, 1.0),
        default=1e-3,
        help="ε for silent keys; 1 = off, 0 = hard mask",
    )
    p.add_argument(
        "--pad-mask",
        default="hard",
        choices=["hard", "soft"],
        help="padding keys: masked out (hard) or scaled by --silence-scale (soft)",
    )
    p.add_argument("--pitch-theta", action="store_true", help="pitch-modulated rotary phase")
    p.add_argument("--pitch-radius", action="store_true", help="pitch rotary radius")
    p.add_argument("--pitch-bias", action="store_true", help="pitch-similarity attention bias")
    p.add_argument("--betweenness", action="store_true", help="bRoPE betweenness offsets")
    p.add_argument("--learned-freq", action="store_true", help="learn rotary frequencies")
    p.add_argument("--no-cross-gate", action="store_true", help="no gate on cross-attention")
    p.add_argument(
        "--ctc-weight",
        type=number(0.0, 1.0, below=True),
        default=0.3,
        help="auxiliary encoder CTC loss",
    )
    p.add_argument(
        "--pad-to-seconds",
        type=number(0.0, 600.0, above=True),
        help="pad/truncate every batch (seeds: 30)",
    )
    p.add_argument(
        "--speed-perturb",
        type=number(0.1, 10.0),
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="play each training item at a speed drawn from [LOW, HIGH] anew every epoch "
        "(e.g. 0.85 1.15); default off",
    )
    # --- online waveform augmentation (echo_edge/corpus/online.py, bench/results/augment) ---
    # The choices are echo_edge.corpus.online.PRESETS (a test keeps them equal).
    p.add_argument(
        "--augment",
        default="none",
        choices=("none", "light", "full"),
        help="waveform augmentation drawn anew on every read of a training item, seeded by "
        "--seed: speed, simulated rooms, babble, noise, telephone and lossy codecs, gain "
        "(none: off; light; full)",
    )
    p.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="utterances per device step")
    p.add_argument(
        "--lr",
        type=number(0.0, 10.0, above=True),
        default=2e-3,
        help="peak learning rate (AdamW, cosine decay)",
    )
    p.add_argument(
        "--warmup-steps",
        type=number(0, integer=True),
        default=300,
        help="optimizer steps of linear warm-up to --lr",
    )
    p.add_argument(
        "--epochs",
        type=number(0.0, 1e6, above=True),
        default=10.0,
        help="passes over the training rows (fractions allowed)",
    )
    p.add_argument(
        "--max-steps", type=number(-1, integer=True), default=-1, help="overrides --epochs when > 0"
    )
    p.add_argument(
        "--max-seconds",
        type=number(0.0, 3600.0, above=True),
        default=12.0,
        help="skip longer utterances",
    )
    p.add_argument(
        "--eval-steps",
        type=POSITIVE_INT,
        default=500,
        help="evaluate on --dev and save a checkpoint every this many steps",
    )
    p.add_argument(
        "--max-eval", type=POSITIVE_INT, default=200, help="dev utterances per evaluation"
    )
    p.add_argument("--workers", type=workers_arg, default=2, help="data loader workers")
    # --- throughput and feature-space augmentation (bench/results/train-throughput) ---
    p.add_argument(
        "--threads",
        type=number(0, 1024, integer=True),
        default=0,
        help="torch intra-op threads of the training process (0: torch's default)",
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast on CPU too (CUDA uses bf16 where supported regardless); the "
        "frontend stays fp32",
    )
    p.add_argument(
        "--feature-cache",
        metavar="DIR",
        help="compute log-mel, pitch, energy and silence once per utterance and keep them in "
        "DIR (keyed by the audio file and the frontend config); training then reads them "
        "instead of running the frontend. Not with waveform-domain augmentation "
        "(--augment, --speed-perturb), which changes the features every epoch",
    )
    p.add_argument(
        "--join-prob",
        type=number(0.0, 1.0),
        default=0.0,
        metavar="P",
        help="chance that a training item is followed by another row after 0.1-0.6 s of "
        "silence, texts joined (within --max-seconds): the model learns to read more than "
        "one sentence per segment, as a stream's segments hold; default 0",
    )
    p.add_argument(
        "--cut-prob",
        type=number(0.0, 1.0),
        default=0.0,
        metavar="P",
        help="chance that a training item is the words before or after a cut between two of "
        "its words (rows with word times only: `echo-edge data align`): the model learns "
        "to read halves of sentences, as a stream's endpointer cuts them; default 0",
    )
    p.add_argument(
        "--spec-augment",
        action="store_true",
        help="SpecAugment on the log-mel in training: time and frequency masks "
        "(echo_edge/specaugment.py defaults); eval and export are untouched",
    )
    p.add_argument(
        "--vtlp",
        type=number(0.5, 2.0),
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="vocal-tract-length perturbation in training: warp the mel axis by a factor "
        "drawn per utterance from [LOW, HIGH] (e.g. 0.9 1.1); default off",
    )
    p.add_argument(
        "--seed",
        type=number(0, 2**32 - 1, integer=True),
        default=0,
        help="seed of the initial weights and the data order",
    )
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --out")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the final metrics and output paths as one JSON object on stdout "
        "(training logs go to stderr)",
    )
