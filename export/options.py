"""What `echo-edge export` accepts: its arguments, the backend x precision x scheme table, and
the refusals of options an export would not use, all before any work (and without torch: a
refused export stays quick). export/pipeline.py runs the export.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from echo_edge.runtime.bundle import BACKENDS, PRECISIONS

if TYPE_CHECKING:
    from echo_edge.model import Echo

SUPPORTED: dict[str, tuple[str, ...]] = {
    "onnx": ("fp32", "fp16", "int8"),
    "executorch": ("fp32", "int8"),  # XNNPACK on our CPUs: no fp16 path worth shipping
    "tensorrt": ("fp32", "fp16", "int8"),
}
QUANT_MODES: dict[str, tuple[str, ...]] = {
    "onnx": ("dynamic", "static"),
    "executorch": ("static",),  # PT2E with calibration
    "tensorrt": ("static",),  # explicit Q/DQ graphs
}


# How ONNX int8 static sets activation ranges: export.quantize.CALIBRATORS' keys (not imported
# here: that module pulls in torch and onnxruntime, and a refused export must stay quick).
CALIBRATOR_NAMES = ("minmax", "percentile")


# int8 static activations: asymmetric (a zero point per tensor: ONNX Runtime's default) or
# symmetric (zero point 0: what TensorRT builds from; its exports are always symmetric)
ACTIVATIONS = ("asymmetric", "symmetric")


def resolve_quant(
    backend: str, precision: str, quant: str | None, calibration: str | Path | None
) -> str | None:
    """Check backend x precision x quant -> the int8 scheme (None for float precisions).
    A combination that does not exist is a UsageError (a ValueError: exit status 2)."""
    from echo_edge.cli import UsageError

    if backend not in SUPPORTED:
        raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision not in SUPPORTED[backend]:
        choices = " or ".join(SUPPORTED[backend])
        raise UsageError(f"{backend} does not support {precision}: use --precision {choices}")
    if precision != "int8":
        if quant is not None:
            raise UsageError(f"--quant applies to int8 only, not {precision}")
        return None
    if quant is None:
        return "dynamic" if backend == "onnx" and calibration is None else "static"
    if quant not in QUANT_MODES[backend]:
        raise UsageError(f"{backend} int8 is {' or '.join(QUANT_MODES[backend])}, not {quant}")
    return quant


def check_options(
    backend: str,
    precision: str,
    quant: str | None,
    calibrator: str,
    keep_float: Sequence[str] | None,
    onnx_from: str | Path | None,
    activations: str = "asymmetric",
) -> None:
    """A UsageError for an option the export would not use, before any work (`keep_float`
    None: --keep-float not given)."""
    from echo_edge.cli import UsageError

    label = label_of(backend, precision, quant)
    if calibrator not in CALIBRATOR_NAMES:
        raise UsageError(f"unknown calibrator {calibrator!r}: {' or '.join(CALIBRATOR_NAMES)}")
    if calibrator != "minmax" and not (backend == "onnx" and quant == "static"):
        raise UsageError(f"--calibrator applies to onnx int8 static exports, not {label}")
    if activations not in ACTIVATIONS:
        raise UsageError(f"unknown activations {activations!r}: {' or '.join(ACTIVATIONS)}")
    if activations != "asymmetric" and not (backend == "onnx" and quant == "static"):
        raise UsageError(
            f"--activations applies to onnx int8 static exports, not {label}"
            + (" (always symmetric)" if backend == "tensorrt" else "")
        )
    if keep_float is not None and precision != "int8":
        raise UsageError(f"--keep-float applies to int8 exports, not {precision}")
    if onnx_from is not None and backend == "executorch":
        raise UsageError("--from-onnx applies to onnx and tensorrt exports, not executorch")


def label_of(backend: str, precision: str, quant: str | None) -> str:
    """e.g. "onnx int8 (static)": how logs and errors name an export."""
    return f"{backend} {precision}" + (f" ({quant})" if quant else "")


def check_module_names(model: Echo, modules: Sequence[str]) -> None:
    """A UsageError naming each of `modules` the model has no module of that path."""
    from echo_edge.cli import UsageError

    known = {name for name, _ in model.named_modules()}
    unknown = [m for m in modules if m not in known]
    paths = [m for m in unknown if Path(m).exists()]
    if paths:  # `--keep-float ... CHECKPOINT`: the list took the positional argument
        raise UsageError(
            f"--keep-float took {paths[0]} as a module path: put the checkpoint before "
            "--keep-float (or end the list with --)"
        )
    if unknown:
        raise UsageError(
            f"--keep-float: the model has no module {', '.join(unknown)} "
            "(paths look like encoder.blocks.0.mlp.fc2; bench/int8_sensitivity.py ranks them)"
        )


def add_export_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of `echo-edge export` (the CLI owns the parser and its formatter)."""
    parser.add_argument(
        "checkpoint",
        nargs="?",
        default=None,
        help="checkpoint directory (config.json + model.safetensors); default: the shipped model",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="target runtime")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="numeric precision")
    parser.add_argument(
        "--out", default=None, help="bundle directory to write (default: bundles/BACKEND-PRECISION)"
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="DATA",
        help="JSONL manifest ({audio, text}) of calibration speech for int8 static; "
        "default: a cached calibration set of 8 utterances like verify's (espeak-ng and flite "
        "test voices, clean and noisy, none of verify's sentences)",
    )
    parser.add_argument(
        "--quant",
        choices=("dynamic", "static"),
        default=None,
        help="int8 scheme; default: static with --calibration or for executorch/tensorrt, "
        "else dynamic",
    )
    parser.add_argument(
        "--calibrator",
        choices=CALIBRATOR_NAMES,
        default="minmax",
        help="onnx int8 static: activation ranges span every calibration value (minmax) or "
        "the central 99.99 %% of them (percentile)",
    )
    parser.add_argument(
        "--activations",
        choices=ACTIVATIONS,
        default="asymmetric",
        help="onnx int8 static: int8 activations with a zero point (asymmetric) or without "
        "(symmetric: the graphs a tensorrt int8 export builds its engines from)",
    )
    parser.add_argument(
        "--keep-float",
        nargs="*",
        default=None,
        metavar="MODULE",
        help="int8: module paths to leave in fp32 besides the frontend and waveform stem, "
        "e.g. encoder.blocks.0.mlp.fc2 (recorded in the manifest); default for static int8: "
        "the checkpoint's int8.json list; --keep-float with no path: none",
    )
    parser.add_argument(
        "--timing-cache", default=None, help="TensorRT timing cache file (kept across builds)"
    )
    parser.add_argument(
        "--from-onnx",
        default=None,
        metavar="BUNDLE",
        help="onnx fp32 bundle of the same checkpoint to convert or build engines from, "
        "instead of tracing the model again (e.g. on a Jetson)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a non-empty --out that is not a bundle echo-edge wrote",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip checking the bundle against the checkpoint on synthesised speech",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (bundle, files and sizes, manifest sha256, verify verdict) "
        "on stdout; progress goes to stderr",
    )
