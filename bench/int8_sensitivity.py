"""Per-layer sensitivity of the shipped model's ONNX int8 static (QDQ) graphs.

    .venv/bin/python bench/int8_sensitivity.py --fp32 BUNDLE_FP32 --out bench/results/int8-sensitivity

Calibration and scoring audio both come from a dev set made by verify's recipe with other
seeds (never the verify set itself, so nothing is tuned on the gate's audio): clean and
noisy espeak-ng and flite voices held out of training. The encoder and decoder of an ONNX
fp32 bundle are quantised by export.quantize.quantize_onnx_static (per-channel weights,
MinMax activations, the fp32 modules kept as the exporter keeps them), then
export.sensitivity scores every quantised activation on the scoring utterances. Writes
sensitivity.json (every activation and weight) and report.md (the worst 15 of each graph).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import onnx

from echo_edge.checkpoint import load_checkpoint
from echo_edge.evalset import RECIPE, verify_set
from echo_edge.export.quantize import (
    Utterance,
    calibration_inputs,
    quantize_onnx_static,
    to_feeds,
    waveform_stem_nodes,
)
from echo_edge.export.sensitivity import (
    activation_sensitivity,
    format_sensitivity,
    weight_sensitivity,
)
from echo_edge.tokenizer import default_tokenizer

CALIBRATION_SEED = 16_000_002  # verify's recipe, another seed: not the gate's audio
SCORING_SEED = 16_000_003


def dev_utterances(seed: int, count: int) -> list[Utterance]:
    return [
        Utterance(u.audio, u.text) for u in verify_set(rec={**RECIPE, "seed": seed, "count": count})
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", required=True, help="ONNX fp32 bundle of the shipped model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calibration", type=int, default=16, help="calibration utterances")
    ap.add_argument("--scoring", type=int, default=6, help="scoring utterances")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, _ = load_checkpoint(None)
    tokenizer = default_tokenizer()
    start = time.perf_counter()
    calib = calibration_inputs(model, dev_utterances(CALIBRATION_SEED, args.calibration), tokenizer)
    scoring = calibration_inputs(model, dev_utterances(SCORING_SEED, args.scoring), tokenizer)
    result: dict[str, object] = {
        "calibration": {"seed": CALIBRATION_SEED, "utterances": args.calibration},
        "scoring": {"seed": SCORING_SEED, "utterances": args.scoring},
    }
    lines = [
        f"`{' '.join(['python bench/int8_sensitivity.py', '--fp32', args.fp32, '--out', args.out])}`",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="echo-sens-") as tmp:
        for graph in ("encoder", "decoder"):
            src = Path(args.fp32) / f"{graph}.onnx"
            dst = Path(tmp) / f"{graph}-static.onnx"
            kept = waveform_stem_nodes(onnx.load(str(src)))
            quantize_onnx_static(src, dst, to_feeds(graph, calib[graph]), kept)
            layers = activation_sensitivity(src, dst, to_feeds(graph, scoring[graph]))
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
    result["seconds"] = round(time.perf_counter() - start, 1)
    (out / "sensitivity.json").write_text(json.dumps(result, indent=1))
    (out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"{result['seconds']} s; wrote {out}/sensitivity.json and report.md")


if __name__ == "__main__":
    main()
