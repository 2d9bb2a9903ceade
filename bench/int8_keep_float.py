"""An ONNX int8 static bundle of the shipped model with chosen modules kept in float.

    .venv/bin/python bench/int8_keep_float.py --out /tmp/b_keep --calibration MANIFEST \\
        encoder.blocks.0.mlp.fc2 encoder.blocks.1.mlp.fc2 ...
    .venv/bin/echo-edge verify /tmp/b_keep

An experiment, not an export option: it widens export.graphs.FP32_MODULES (the modules every
exporter keeps in fp32: the waveform stem and the level normalisation) for this process, then
runs the normal `echo-edge export --backend onnx --precision int8 --quant static`, so the
bundle, its manifest and `echo-edge verify` are the real ones. Pick the modules from
bench/int8_sensitivity.py's report (the layers whose input activations int8 serves worst).
"""

from __future__ import annotations

import argparse

import echo_edge.export.graphs as graphs
import echo_edge.export.quantize as quantize
from echo_edge.export.pipeline import export_bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="+", help="module paths to keep in float")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calibration", help="JSONL manifest of calibration speech")
    args = ap.parse_args()
    kept = (*graphs.FP32_MODULES, *args.modules)
    for module in (graphs, quantize):  # quantize imported the tuple by name
        module.FP32_MODULES = kept  # type: ignore[attr-defined]
    export_bundle(
        None, "onnx", "int8", args.out, calibration=args.calibration, quant="static", verify=False
    )


if __name__ == "__main__":
    main()
