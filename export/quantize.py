"""Quantisation as its own step: calibration audio, graph inputs from it, ONNX int8 helpers.

Calibration data is real speech: the rows of a JSONL manifest ({audio, text}) given with
--calibration, or, without one, the calibration set (calibration_set: speech like verify's,
none of its sentences). The reference model
turns that audio into the inputs each graph sees at run time (frontend samples, encoder
features, teacher-forced decoder steps with their cache), which feed ONNX Runtime's
static quantiser here and ExecuTorch's PT2E observers in export/executorch.py.
"""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from tqdm import tqdm

from echo_edge import constants as C
from echo_edge.evalset import CALIBRATION_COUNT
from echo_edge.export.graphs import FP32_MODULES, within
from echo_edge.model import Echo
from echo_edge.runtime.bundle import GRAPH_INPUTS
from echo_edge.tokenizer import EchoTokenizer

CALIBRATION_UTTERANCES = CALIBRATION_COUNT  # rows read from a manifest (or the calibration set)
MAX_DECODER_STEPS = 64  # teacher-forced steps recorded per utterance
MAX_CALIBRATION_SECONDS = 30.0  # longer calibration audio is cut
# How int8 static sets each activation's range from the calibration tensors: MinMax spans
# every value seen; Percentile clips to the central CALIB_PERCENTILE % of them, meant for a
# long one-sided tail (a GELU output). On stage 8 it changed no one-pass word (bench/results/
# verify, "static int8 three ways"): keeping the worst layers float is what helped.
CALIBRATORS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
CALIB_PERCENTILE = 99.99


@dataclass(frozen=True)
class Utterance:
    audio: np.ndarray  # (N,) float32 at SAMPLE_RATE
    text: str  # transcript ("" when unknown)


def _read_audio(path: str | Path) -> np.ndarray:
    """Any soundfile-readable file -> mono float32 at SAMPLE_RATE."""
    import soundfile as sf
    import soxr

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != C.SAMPLE_RATE:
        audio = soxr.resample(audio, sr, C.SAMPLE_RATE)
    return np.asarray(audio[: int(MAX_CALIBRATION_SECONDS * C.SAMPLE_RATE)], dtype=np.float32)


def calibration_set(
    count: int, seed: int | None = None, log: Callable[[str], None] | None = None
) -> list[Utterance]:
    """The first `count` utterances of evalset.calibration_recipe(seed): verify's test voices
    and conditions (clean and noisy; espeak-ng and, where installed, flite) reading none of
    verify's sentences, synthesised into the cache on first use."""
    from echo_edge.evalset import CALIBRATION_SEED, calibration_recipe, verify_set

    rec = calibration_recipe(CALIBRATION_SEED if seed is None else seed)
    if not rec["flite_every"] and log is not None:
        log("  flite is not installed: the calibration set is espeak-ng's voices only")
    try:
        made = verify_set(count, rec=rec, log=log)
    except RuntimeError:
        if shutil.which("espeak-ng") is not None:
            raise
        raise ValueError(  # not made yet, and no espeak-ng to make it
            "no calibration data: install espeak-ng (apt-get install espeak-ng) to make the "
            "calibration set, or pass --calibration MANIFEST.jsonl"
        ) from None
    return [Utterance(u.audio, u.text) for u in made]


def load_calibration(
    source: str | Path | None,
    count: int = CALIBRATION_UTTERANCES,
    log: Callable[[str], None] | None = None,
) -> list[Utterance]:
    """Calibration speech: the first `count` rows of a JSONL manifest, or (None) of the
    calibration set (calibration_set)."""
    if source is None:
        return calibration_set(count, log=log)
    from echo_edge.data import read_manifest

    path = Path(source)
    if not path.is_file():
        raise ValueError(f"calibration manifest not found: {path}")
    rows = read_manifest(path)[:count]
    if not rows:
        raise ValueError(f"calibration manifest {path} has no rows")
    out = []
    for row in rows:
        try:
            audio = _read_audio(row["audio"])
        except Exception as e:  # soundfile raises its own error types
            raise ValueError(f"calibration audio {row['audio']} is unreadable ({e})") from e
        if audio.size < 2 * C.HOP:
            raise ValueError(f"calibration audio {row['audio']} is empty")
        out.append(Utterance(audio, str(row["text"])))
    return out


@torch.no_grad()
def calibration_inputs(
    model: Echo,
    utterances: Sequence[Utterance],
    tokenizer: EchoTokenizer,
    max_steps: int = MAX_DECODER_STEPS,
) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Inputs of each graph, as the runtime will feed them, for every calibration utterance.

    The decoder is teacher-forced one token at a time on the transcript (the model's own
    greedy output when there is none), so its cache inputs are realistic."""
    model = model.eval()
    inputs: dict[str, list[tuple[torch.Tensor, ...]]] = {g: [] for g in GRAPH_INPUTS}
    limit = min(max_steps, model.config.max_target_len)
    for utt in tqdm(utterances, desc="calibration", unit="utt", leave=False, disable=None):
        samples = torch.from_numpy(utt.audio)[None]  # (1, N)
        f = model.features(samples)
        enc = (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        cross_k, cross_v, cross_bias = model.encode(*enc)
        if utt.text:
            ids = [C.BOS_ID, *tokenizer.encode(utt.text), C.EOS_ID]
        else:
            ids = model.generate(samples)[0].tolist()
        self_k, self_v = model.decoder.empty_cache(1)
        for step, token in enumerate(ids[:limit]):
            args = (torch.tensor([[token]]), torch.tensor(step), self_k, self_v)
            args += (cross_k, cross_v, cross_bias)
            inputs["decoder"].append(args)
            _, self_k, self_v = model.decode_step(*args)
        inputs["frontend"].append((samples,))
        inputs["encoder"].append(enc)
    return inputs


def to_feeds(graph: str, inputs: Sequence[tuple[torch.Tensor, ...]]) -> list[dict[str, np.ndarray]]:
    """Torch argument tuples -> ONNX Runtime feed dicts for one graph."""
    names = GRAPH_INPUTS[graph]
    return [{n: t.numpy() for n, t in zip(names, args)} for args in inputs]


def waveform_stem_nodes(model_proto: object) -> list[str]:
    """Names of the ONNX nodes exported from FP32_MODULES (the waveform stem, the level
    normalisation): kept fp32 everywhere, with the nodes enclosed by them (`enclosed`)."""
    graph = model_proto.graph  # type: ignore[attr-defined]
    names = set()
    for node in graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        if in_fp32_module(meta.get("namespace", "")):
            names.add(node.name)
    names |= enclosed(graph, names)
    return [node.name for node in graph.node if node.name in names]


def enclosed(graph: object, kept: set[str]) -> set[str]:
    """Nodes with no module path of their own that lie inside the `kept` region: every input
    from a kept node, a graph input, an initialiser or nothing, and every consumer kept.

    The exporter's optimiser makes such nodes (a Split fused from the level normalisation's
    slices of its spectrum) without the namespace metadata; left out, they ran in float16 in
    the fp16 bundle and moved the utterance level, so the recomputed silence flags flipped
    (verify: encoder key bias 6.91, K/V 0.046 on the stage-6 model)."""
    nodes = list(graph.node)  # type: ignore[attr-defined]
    producer = {out: n.name for n in nodes for out in n.output}
    consumers: dict[str, list[str]] = {}
    for n in nodes:
        for name in n.input:
            consumers.setdefault(name, []).append(n.name)
    region, added = set(kept), set()
    grew = True
    while grew:
        grew = False
        for n in nodes:
            if n.name in region or any(p.key == "namespace" for p in n.metadata_props):
                continue
            inside = all(name not in producer or producer[name] in region for name in n.input)
            users = [c for out in n.output for c in consumers.get(out, [])]
            if inside and users and all(c in region for c in users):
                region.add(n.name)
                added.add(n.name)
                grew = True
    return added


def in_fp32_module(namespace: str) -> bool:
    """Whether an exporter namespace ("path: class/" per module, then "op: aten op") lies
    inside one of FP32_MODULES, by whole module paths: a module whose name merely ends like
    one of them (foo.encoder.blend.stems.waveform, ...waveform2) is not inside it."""
    paths = [segment.split(":")[0].strip() for segment in namespace.split("/")[:-1]]
    return any(within(path, FP32_MODULES) for path in paths)


class FeedReader(CalibrationDataReader):
    """A CalibrationDataReader over a list of feed dicts."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._iter: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._feeds[start_index:end_index])


@contextmanager
def _no_preprocess_hint() -> Iterator[None]:
    """Drop the quantiser's 'consider pre-processing' warning (logged on every call)."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def quantize_onnx_dynamic(src: Path, dst: Path, exclude: Sequence[str] = ()) -> dict:
    """int8 dynamic quantisation: per-channel MatMul weights, activations quantised on the fly."""
    with _no_preprocess_hint():
        quantize_dynamic(
            src,
            dst,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
        )
    return {"mode": "dynamic", "ops": ["MatMul"], "per_channel": True, "fp32_nodes": len(exclude)}


def weight_matmuls(model_proto: object) -> list[str]:
    """MatMul and Conv nodes with a constant weight (the linear layers and stems)."""
    graph = model_proto.graph  # type: ignore[attr-defined]
    constants = {t.name for t in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return [
        n.name
        for n in graph.node
        if n.op_type in ("MatMul", "Conv") and len(n.input) > 1 and n.input[1] in constants
    ]


@contextmanager
def _calibrator_errors(calibrator: str) -> Iterator[None]:
    """A histogram calibrator's numpy error as a line that says which option to change.
    [stage 8, --calibrator percentile --activations symmetric: "Too many bins for data range.
    Cannot create 2048 finite-sized bins." (onnxruntime 1.32)]"""
    try:
        yield
    except ValueError as e:
        if calibrator == "minmax":
            raise
        raise ValueError(
            f"{calibrator} calibration failed in onnxruntime ({e}); --calibrator minmax "
            "calibrates these graphs"
        ) from e


def quantize_onnx_static(
    src: Path,
    dst: Path,
    feeds: list[dict[str, np.ndarray]],
    exclude: Sequence[str] = (),
    symmetric: bool = False,
    calibrator: str = "minmax",
) -> dict:
    """int8 static QDQ: per-channel weights, activation ranges calibrated on `feeds` by
    `calibrator` (a CALIBRATORS key).

    Only layers with weights are quantised (linear layers, the mel/pitch stems): attention's
    activation-by-activation products and the masks' -1e4 biases stay in float. `symmetric`
    activations (zero point 0) are what TensorRT's explicit quantisation accepts."""
    skip = set(exclude)
    nodes = [n for n in weight_matmuls(onnx.load(str(src))) if n not in skip]
    # The histogram calibrators print their progress; --json needs stdout for its object.
    with _no_preprocess_hint(), redirect_stdout(io.StringIO()), _calibrator_errors(calibrator):
        quantize_static(
            src,
            dst,
            FeedReader(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes,
            nodes_to_exclude=list(exclude),
            calibrate_method=CALIBRATORS[calibrator],
            extra_options={
                "ActivationSymmetric": symmetric,
                "WeightSymmetric": True,
                # Percentile's own default range is symmetric; MinMax's options stay as
                # they were. Its histograms stack a tensor's values over batches with
                # np.asarray, which fails on utterances of different lengths: one at a time.
                **(
                    {
                        "CalibTensorRangeSymmetric": symmetric,
                        "CalibPercentile": CALIB_PERCENTILE,
                        "CalibStridedMinMax": 1,
                    }
                    if calibrator != "minmax"
                    else {}
                ),
            },
        )
    return {
        "mode": "static",
        "format": "QDQ",
        "per_channel": True,
        "calibration": "MinMax" if calibrator == "minmax" else f"Percentile {CALIB_PERCENTILE}",
        "activations": "symmetric" if symmetric else "asymmetric",
        "quantized_nodes": len(nodes),
        "fp32_nodes": len(exclude),
        "calibration_batches": len(feeds),
    }
