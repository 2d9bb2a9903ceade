"""Arguments of `echo-edge verify` (torch-free: the CLI builds every parser without torch)."""

from __future__ import annotations

import argparse

from echo_edge.cli import add_lm_arguments, number
from echo_edge.evalset import DEFAULT_COUNT
from echo_edge.runtime.decoding import CTC_WEIGHT


def add_verify_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`echo-edge verify BUNDLE [--reference CKPT] [--data MANIFEST] [--limit N] ...`."""
    parser.add_argument("bundle", help="bundle directory to check (manifest.json + graphs)")
    parser.add_argument(
        "--reference",
        default=None,
        metavar="CKPT",
        help="reference checkpoint directory; default: the checkpoint the bundle was exported "
        "from if it is still there, else the shipped model",
    )
    parser.add_argument(
        "--force-reference",
        action="store_true",
        help="compare against --reference even when its sha256 is not the bundle's source",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="MANIFEST",
        help="JSONL manifest ({audio, text}) of eval speech (bad rows are skipped and named); "
        "default: utterances synthesised with espeak-ng voices held out of training",
    )
    parser.add_argument(
        "--limit",
        type=number(1, integer=True),
        default=None,
        metavar="N",
        help=f"utterances to use (default: all usable rows of --data, or {DEFAULT_COUNT} "
        "synthesised)",
    )
    parser.add_argument(
        "--expect-sha256",
        default=None,
        metavar="HEX",
        help="refuse the bundle unless its manifest.json has this sha256 (export and verify "
        "print it); the manifest lists every file's sha256, so this pins the whole bundle",
    )
    parser.add_argument(
        "--ctc-weight",
        type=number(0.0, 1.0, below=True),
        default=CTC_WEIGHT,
        help="weight of the CTC prefix score in joint CTC/attention greedy decoding, the same "
        "on the reference and the bundle side (as `echo-edge transcribe` decodes finals); "
        "0: attention greedy; a bundle without CTC log-probs is verified with 0",
    )
    add_lm_arguments(parser, "decode finals, on both sides,")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", default=None, metavar="REPORT.json", help="write the report here")
    parser.add_argument(
        "--store", action="store_true", help="store the report in the bundle's manifest.json"
    )
    return parser
