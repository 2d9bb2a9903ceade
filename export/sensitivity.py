"""Which layers a static int8 (QDQ) graph loses its accuracy in, from onnxruntime's QDQ debugging
helpers (onnxruntime.quantization.qdq_loss_debug): the float graph and its QDQ graph run on the
same feeds with every intermediate tensor saved, and each quantised activation is scored by
its signal-to-quantisation-noise ratio (SQNR, dB: higher is better):

- `qdq_sqnr_db`: the tensor before vs after its own QuantizeLinear/DequantizeLinear pair in
  the QDQ graph: the noise that this one quantisation adds (a range stretched by outliers
  shows here first);
- `float_sqnr_db`: the float graph's tensor vs the QDQ graph's dequantised one: the error
  accumulated up to this point.

Weights are scored the same way (float initialiser vs its dequantised int8). The report ranks
layers by their own activation noise, lowest SQNR first: the candidates to keep in float
(export.quantize.quantize_onnx_static's `exclude`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_activation_error,
    compute_weight_error,
    create_activation_matching,
    create_weight_matching,
    modify_model_output_intermediate_tensors,
)

from echo_edge.export.quantize import FeedReader


@dataclass(frozen=True)
class LayerError:
    """One quantised activation of a QDQ graph and the nodes of the float graph that read it."""

    tensor: str
    consumers: tuple[str, ...]  # float-graph nodes reading the tensor (the layers it feeds)
    modules: tuple[str, ...]  # their module paths (the exporter's "module" metadata), if any
    qdq_sqnr_db: float  # its own QDQ pair's noise
    float_sqnr_db: float | None  # against the float graph (None: not in the float graph)

    def to_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _finite(x: float) -> float:
    return round(float(x), 2) if math.isfinite(x) else 999.0  # identical tensors: no noise


def activation_sensitivity(
    float_model: str | Path, qdq_model: str | Path, feeds: Sequence[dict[str, np.ndarray]]
) -> list[LayerError]:
    """Every quantised activation of `qdq_model`, lowest own-QDQ SQNR first."""
    with tempfile.TemporaryDirectory(prefix="echo-sensitivity-") as tmp:
        acts = {}
        for name, path in (("float", float_model), ("qdq", qdq_model)):
            augmented = Path(tmp) / f"{name}.onnx"
            modify_model_output_intermediate_tensors(str(path), str(augmented))
            acts[name] = collect_activations(str(augmented), FeedReader(list(feeds)))
    matched = create_activation_matching(acts["qdq"], acts["float"])
    errors = compute_activation_error(matched)
    graph = onnx.load(str(float_model), load_external_data=False).graph
    readers: dict[str, list[str]] = {}
    module: dict[str, str] = {}
    for node in graph.node:
        module[node.name] = next((p.value for p in node.metadata_props if p.key == "module"), "")
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    out = [
        LayerError(
            tensor=name,
            consumers=tuple(readers.get(name, ())),
            modules=tuple(dict.fromkeys(m for n in readers.get(name, ()) if (m := module[n]))),
            qdq_sqnr_db=_finite(err["qdq_err"]),
            float_sqnr_db=_finite(err["xmodel_err"]) if "xmodel_err" in err else None,
        )
        for name, err in errors.items()
    ]
    return sorted(out, key=lambda e: e.qdq_sqnr_db)


def weight_sensitivity(float_model: str | Path, qdq_model: str | Path) -> dict[str, float]:
    """SQNR (dB) of every quantised weight against its float initialiser, lowest first."""
    errors = compute_weight_error(create_weight_matching(str(float_model), str(qdq_model)))
    return dict(sorted(((k, _finite(v)) for k, v in errors.items()), key=lambda kv: kv[1]))


def format_sensitivity(layers: Sequence[LayerError], top: int = 10) -> str:
    """The `top` least accurate activations as an aligned table."""
    lines = ["SQNR own dB  vs float dB  tensor -> layers (modules)"]
    for e in layers[:top]:
        vs = f"{e.float_sqnr_db:10.1f}" if e.float_sqnr_db is not None else f"{'-':>10s}"
        where = ", ".join(e.consumers) + (f" ({', '.join(e.modules)})" if e.modules else "")
        lines.append(f"{e.qdq_sqnr_db:11.1f}  {vs}  {e.tensor} -> {where}")
    return "\n".join(lines)


def modules_to_keep(
    layers: Sequence[LayerError], candidates: Collection[str], count: int
) -> list[str]:
    """The `candidates` modules (paths) whose input activations rank worst in `layers` (lowest
    own SQNR first), at least `count` of them: the modules reading one tensor join together,
    since each keeps its own copy of the tensor's quantisation."""
    out: list[str] = []
    for layer in layers:
        if len(out) >= count:
            break
        out += [m for m in layer.modules if m in candidates and m not in out]
    return out
