"""Per-layer sensitivity of a checkpoint's ONNX int8 static (QDQ) graphs, and the layers its
static int8 exports keep fp32 by default.

    .venv/bin/python bench/int8_sensitivity.py --fp32 BUNDLE_FP32 --out bench/results/int8-sensitivity
        [--checkpoint DIR] [--write-int8 COUNT]

Calibration is the export's default (export.quantize.load_calibration: the first 8 of the
calibration set, verify's recipe at another seed and none of its sentences); scoring is 6
utterances of the same kind at evalset.SCORING_SEED. Neither is verify's audio or text, so
nothing is tuned on the gate. The encoder and decoder of an ONNX fp32 bundle of the
checkpoint are quantised by export.quantize.quantize_onnx_static (per-channel weights,
MinMax activations, the fp32 modules kept as the exporter keeps them), then
export.sensitivity scores every quantised activation on the scoring utterances. Writes
sensitivity.json (every activation and weight) and report.md (the worst 15 of each graph).
--write-int8 COUNT also writes the checkpoint's int8.json: the encoder's Linear and Conv1d
layers whose inputs rank worst, at least COUNT (export.sensitivity.modules_to_keep): what
`echo-edge export` keeps fp32 in static int8 unless --keep-float says otherwise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import onnx
import torch

from echo_edge.checkpoint import (
    INT8_NAME,
    checkpoint_sha256,
    int8_key,
    load_checkpoint,
    write_int8_keep_float,
)
from echo_edge.evalset import SCORING_SEED, calibration_recipe, recipe_key
from echo_edge.export.options import ACTIVATIONS
from echo_edge.export.pipeline import load_tokenizer
from echo_edge.export.quantize import (
    calibration_inputs,
    calibration_set,
    load_calibration,
    quantize_onnx_static,
    to_feeds,
    waveform_stem_nodes,
)
from echo_edge.export.sensitivity import (
    LayerError,
    activation_sensitivity,
    format_sensitivity,
    modules_to_keep,
    weight_sensitivity,
)
from echo_edge.runtime.bundle import read_bundle

KEPT_LAYERS = (torch.nn.Linear, torch.nn.Conv1d)  # what --write-int8 may keep fp32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", required=True, help="ONNX fp32 bundle of the checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory (default: shipped)")
    ap.add_argument("--scoring", type=int, default=6, help="scoring utterances")
    ap.add_argument(
        "--activations",
        choices=ACTIVATIONS,
        default="asymmetric",
        help="int8 activations as --activations of echo-edge export (symmetric: tensorrt's)",
    )
    ap.add_argument(
        "--write-int8",
        type=int,
        default=None,
        metavar="COUNT",
        help=f"write the checkpoint's {INT8_NAME}",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sha = checkpoint_sha256(args.checkpoint)
    if read_bundle(args.fp32).checkpoint_sha256 != sha:
        raise SystemExit(
            f"{args.fp32} was exported from another checkpoint than {args.checkpoint or 'the shipped one'}"
        )
    model, _ = load_checkpoint(args.checkpoint)
    tokenizer = load_tokenizer(args.checkpoint, model.config.vocab_size)
    start = time.perf_counter()
    calibration = load_calibration(None, log=print)
    scoring_set = calibration_set(args.scoring, SCORING_SEED, log=print)
    calib = calibration_inputs(model, calibration, tokenizer)
    scoring = calibration_inputs(model, scoring_set, tokenizer)
    result: dict[str, object] = {
        "checkpoint_sha256": sha,
        "activations": args.activations,
        "calibration": {
            "recipe_key": recipe_key(calibration_recipe()),
            "utterances": len(calibration),
        },
        "scoring": {
            "recipe_key": recipe_key(calibration_recipe(SCORING_SEED)),
            "utterances": len(scoring_set),
        },
    }
    command = ["python bench/int8_sensitivity.py", "--fp32", args.fp32, "--out", args.out]
    command += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    command += ["--write-int8", str(args.write_int8)] if args.write_int8 is not None else []
    command += ["--activations", args.activations] if args.activations != "asymmetric" else []
    lines = [f"`{' '.join(command)}`", ""]
    ranked: dict[str, list[LayerError]] = {}
    with tempfile.TemporaryDirectory(prefix="echo-sens-") as tmp:
        for graph in ("encoder", "decoder"):
            src = Path(args.fp32) / f"{graph}.onnx"
            dst = Path(tmp) / f"{graph}-static.onnx"
            kept = waveform_stem_nodes(onnx.load(str(src)))
            feeds = to_feeds(graph, calib[graph])
            quantize_onnx_static(src, dst, feeds, kept, args.activations == "symmetric")
            layers = activation_sensitivity(src, dst, to_feeds(graph, scoring[graph]))
            ranked[graph] = layers
            weights = weight_sensitivity(src, dst)
            result[graph] = {
                "fp32_nodes": len(kept),
                "activations": [e.to_dict() for e in layers],
                "weights": weights,
            }
            lines += [
                f"## {graph} ({len(layers)} quantised activations, {len(kept)} nodes kept fp32)",
                "",
            ]
            lines += ["```", format_sensitivity(layers, top=15), "```", ""]
            worst = list(weights.items())[:5]
            lines += ["weights, lowest SQNR dB: " + ", ".join(f"{k} {v:.1f}" for k, v in worst), ""]
    if args.write_int8 is not None:
        candidates = [
            name
            for name, m in model.named_modules()
            if name.startswith("encoder.") and isinstance(m, KEPT_LAYERS)
        ]
        keep = modules_to_keep(ranked["encoder"], candidates, args.write_int8)
        symmetric = args.activations == "symmetric"
        file = write_int8_keep_float(args.checkpoint, symmetric, keep, " ".join(command))
        key = int8_key(symmetric)
        lines += [f"{file}: {key} " + " ".join(keep), ""]
    result["seconds"] = round(time.perf_counter() - start, 1)
    (out / "sensitivity.json").write_text(json.dumps(result, indent=1))
    (out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"{result['seconds']} s; wrote {out}/sensitivity.json and report.md")


if __name__ == "__main__":
    main()
