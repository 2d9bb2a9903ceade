"""What XNNPACK takes of each ExecuTorch method, and why it leaves the rest to portable kernels.

    .venv/bin/python bench/et_delegation.py [CHECKPOINT] [--tiny] [--no-rewrite] --out FILE.json

Captures and lowers the three graphs as `echo-edge export --backend executorch --precision
fp32` does (without writing a bundle) and prints, per method, delegated / all nodes, XNNPACK
subgraphs and the portable operators with the partitioner's reasons. CHECKPOINT defaults to
the shipped model; --tiny takes the random tiny test model instead; --no-rewrite skips
export.executorch.for_xnnpack (the model as trained, to compare).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch

from echo_edge.checkpoint import load_checkpoint
from echo_edge.export.executorch import capture, constant_methods, for_xnnpack, lower
from echo_edge.model import Echo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", default=None)
    ap.add_argument("--tiny", action="store_true", help="the tiny random test model")
    ap.add_argument("--no-rewrite", action="store_true", help="skip for_xnnpack")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.conftest import tiny_config

        torch.manual_seed(0)
        model = Echo(tiny_config()).eval()
    else:
        model = load_checkpoint(args.checkpoint)[0].eval()
    exported = model if args.no_rewrite else for_xnnpack(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        programs = capture(exported, "fp32", None)
        _, summary = lower(programs, constant_methods(model, "fp32"), print)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    for graph, s in summary.items():
        print(f"{graph}: portable {dict(list(s['portable_ops'].items())[:12])}")
        for reason, count in s["why_portable"].items():
            print(f"    {count:4d}  {reason}")


if __name__ == "__main__":
    main()
