"""The options of `echo-edge bench` (and `python bench/run.py`).

Torch-free and cheap to import: the CLI builds every subcommand's parser on each start.
"""

from __future__ import annotations

import argparse

from echo_edge.cli import UsageError, number

DEFAULT_LENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)  # seconds of audio in the encoder sweep
DEFAULT_REPEATS = 10  # timed runs per measurement (the median is reported)
DEFAULT_WARMUP = 2  # untimed runs before each measurement


def add_bench_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the bench options on `parser` (a subcommand parser or a standalone one)."""
    parser.add_argument(
        "bundles", nargs="*", metavar="BUNDLE", help="bundle directories to measure"
    )
    parser.add_argument(
        "--reference",
        metavar="CKPT",
        help="reference checkpoint directory; default: the shipped model",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the PyTorch eager reference"
    )
    parser.add_argument(
        "--data",
        metavar="MANIFEST",
        help="JSONL eval manifest; default: synthesised with held-out espeak-ng voices",
    )
    parser.add_argument(
        "--limit",
        type=number(1, integer=True),
        help="first N eval utterances; default: all (8 synthesised)",
    )
    parser.add_argument(
        "--threads",
        type=number(0, integer=True),
        default=0,
        help="inference threads, pinned to the first N usable CPUs (0: all usable CPUs)",
    )
    parser.add_argument(
        "--repeats",
        type=number(1, integer=True),
        default=DEFAULT_REPEATS,
        help="timed runs per measurement",
    )
    parser.add_argument(
        "--warmup",
        type=number(0, integer=True),
        default=DEFAULT_WARMUP,
        help="untimed runs before each measurement",
    )
    parser.add_argument(
        "--lengths",
        type=number(0.0, 3600.0, above=True),
        nargs="+",
        default=list(DEFAULT_LENGTHS),
        metavar="S",
        help="utterance lengths (seconds) of the encoder sweep",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output directory (default: ./bench-results/<machine slug>)"
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="also time `echo-edge transcribe --bundle B FILE` from process start to first line",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the paths written and the targets as one JSON object on stdout",
    )
    return parser


def check_bench_args(args: argparse.Namespace) -> None:
    """Reject nonsensical numbers with one line (UsageError, a ValueError: exit status 2);
    the CLI's parser refuses them first, this guards callers that build `args` themselves."""
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, not {args.limit}")
    if args.threads < 0:
        raise UsageError(f"--threads must be >= 0, not {args.threads}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, not {args.repeats}")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, not {args.warmup}")
    bad = [s for s in args.lengths if not s > 0]
    if bad:
        raise UsageError(f"--lengths must be positive seconds, not {bad}")
    if args.no_reference and not args.bundles:
        raise UsageError("nothing to measure: give bundles or drop --no-reference")
