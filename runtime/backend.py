"""One small interface over a bundle's three graphs, and its ONNX Runtime implementation.

A `Backend` turns numpy arrays into numpy arrays: `frontend` (samples -> frames), `encode`
(frames -> per-layer cross-attention K/V and key bias, plus the CTC head's log-probabilities
when the bundle has them) and `decode_step` (one step of the
decoder with its explicit self-attention cache: max_target_len slots, or, where the bundle's
decoder lets it grow, 16 slots doubled as the tokens need them). The recogniser and the stream
see only this interface; ExecuTorch and TensorRT live in their own modules and are imported
only when a bundle asks for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from echo_edge.runtime.bundle import (
    CTC_OUTPUT,
    GRAPH_INPUTS,
    GRAPHS,
    MANIFEST_NAME,
    Manifest,
    first_slots,
    grown_slots,
)

# Short names for ONNX Runtime execution providers (full names are accepted too).
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
# "auto" tries these in order and keeps the ones this onnxruntime build has.
AUTO_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
ORT_LOG_ERRORS_ONLY = 3  # onnxruntime severity: 0 verbose .. 4 fatal
DECODER_THREADS = 1  # intra-op threads of the decoder session (one token per call)
ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class BackendError(RuntimeError):
    """A graph that cannot be loaded or run: one line, printed as is by the CLI."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class FrontendFrames(NamedTuple):
    """The frontend graph's outputs for one buffer, T = 1 + N // HOP frames."""

    mel: np.ndarray  # (1, N_MELS, T)
    pitch: np.ndarray  # (1, 3, T) log-f0, voiced, periodicity
    energy: np.ndarray  # (1, T) dBFS
    silence: np.ndarray  # (1, T) 0/1


class CrossAttention(NamedTuple):
    """The encoder's outputs: what every decoder step attends to, and the CTC head's
    log-probabilities when the bundle exported them (for alignment and CTC decoding)."""

    k: np.ndarray  # (layers, 1, H, S, Dh)
    v: np.ndarray  # (layers, 1, H, S, Dh)
    bias: np.ndarray  # (1, S) additive key bias (padding hard, silence soft)
    ctc: np.ndarray | None = None  # (S, V) log-softmax per 50 Hz frame, blank = pad id


class Backend:
    """The three graphs of one bundle behind numpy in, numpy out."""

    name = "abstract"

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        cfg = manifest.config
        heads = int(cfg["n_heads"])
        # (layers, 1, H, C, Dh): the decoder graph's self-attention cache, C slots.
        self.cache_shape = (
            int(cfg["decoder_layers"]),
            1,
            heads,
            int(cfg["max_target_len"]),
            int(cfg["d_model"]) // heads,
        )
        # The first C of a search: MIN_CACHE_SLOTS where the graph lets caches grow.
        self.start_slots = self.cache_shape[3]
        if manifest.growing_cache:
            self.start_slots = first_slots(self.start_slots)

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one graph on named inputs -> its outputs in `outputs(graph)` order."""
        raise NotImplementedError

    def outputs(self, graph: str) -> tuple[str, ...]:
        """The graph's output names: GRAPH_OUTPUTS, then the optional ones the bundle has."""
        return self.manifest.graph_outputs(graph)

    @property
    def has_ctc(self) -> bool:
        """Whether the encoder returns CTC log-probabilities (CrossAttention.ctc)."""
        return CTC_OUTPUT in self.outputs("encoder")

    def close(self) -> None:
        """Release sessions and device memory (optional)."""

    def frontend(self, samples: np.ndarray) -> FrontendFrames:
        """samples (1, N) float32 -> the frames of that buffer (zero outside it)."""
        return FrontendFrames(*self.run("frontend", {"samples": samples}))

    def encode(
        self,
        mel: np.ndarray,
        pitch: np.ndarray,
        silence: np.ndarray,
        wave: np.ndarray,
        frame_mask: np.ndarray,
    ) -> CrossAttention:
        """Features of one utterance, batch 1 -> cross-attention K/V, key bias (and CTC)."""
        feeds = {"mel": mel, "pitch": pitch, "silence": silence, "wave": wave}
        feeds["frame_mask"] = frame_mask
        out = dict(zip(self.outputs("encoder"), self.run("encoder", feeds)))
        ctc = out.get(CTC_OUTPUT)
        return CrossAttention(
            out["cross_k"], out["cross_v"], out["cross_bias"], None if ctc is None else ctc[0]
        )

    def decode_step(
        self,
        tokens: np.ndarray,
        offset: int,
        self_k: np.ndarray,
        self_v: np.ndarray,
        cross: CrossAttention,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """tokens (1, L) at positions offset.. -> logits (1, L, V) and the updated caches."""
        self_k, self_v = self.fit_cache(self_k, self_v, offset + tokens.shape[1])
        feeds = {
            "tokens": tokens.astype(np.int64, copy=False),
            "offset": np.asarray(offset, dtype=np.int64),
            "self_k": self_k,
            "self_v": self_v,
            "cross_k": cross.k,
            "cross_v": cross.v,
            "cross_bias": cross.bias,
        }
        logits, k, v = self.run("decoder", feeds)
        return logits, k, v

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        """Zeroed self-attention caches (layers, 1, H, C, Dh) to start a search with."""
        shape = (*self.cache_shape[:3], self.start_slots, self.cache_shape[4])
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def fit_cache(
        self, self_k: np.ndarray, self_v: np.ndarray, slots: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The caches with at least `slots` slots: doubled (zeros appended) until they hold
        them, at most max_target_len; unchanged when they already do."""
        have = self_k.shape[3]
        size = grown_slots(have, slots, self.cache_shape[3])
        if size == have:
            return self_k, self_v
        pad = [(0, 0)] * 3 + [(0, size - have), (0, 0)]
        return np.pad(self_k, pad), np.pad(self_v, pad)


def resolve_providers(requested: Sequence[str] | str | None) -> list[str]:
    """Execution provider names for onnxruntime: aliases expanded, availability checked."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested is None:
        return list(DEFAULT_PROVIDERS)
    if isinstance(requested, str):
        requested = [p for p in requested.split(",") if p.strip()]
    if [p.strip().lower() for p in requested] == ["auto"]:
        return [p for p in AUTO_PROVIDERS if p in available]
    names = [PROVIDER_ALIASES.get(p.strip().lower(), p.strip()) for p in requested]
    missing = [p for p in names if p not in available]
    if missing:
        raise BackendError(
            f"execution provider {', '.join(missing)} is not available in this onnxruntime "
            f"build (available: {', '.join(available)})"
        )
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")  # the fallback for ops a GPU provider lacks
    return names


def provider_options(name: str, manifest: Manifest, cache_dir: Path | None) -> dict[str, str]:
    """Options for one provider: TensorRT gets an engine cache and the bundle's precision."""
    if name != "TensorrtExecutionProvider":
        return {}
    options = {"trt_fp16_enable": str(manifest.precision == "fp16")}
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        options["trt_engine_cache_enable"] = "True"
        options["trt_engine_cache_path"] = str(cache_dir)
        options["trt_timing_cache_enable"] = "True"
    return options


class OnnxBackend(Backend):
    """ONNX Runtime sessions for frontend.onnx, encoder.onnx and decoder.onnx."""

    name = "onnx"

    def __init__(
        self,
        manifest: Manifest,
        providers: Sequence[str] | str | None = None,
        threads: int = 0,
        trt_cache_dir: Path | None = None,
    ) -> None:
        super().__init__(manifest)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendError(
                "onnxruntime is not installed: pip install 'echo-edge[onnx-runtime]'"
            ) from e
        self.providers = resolve_providers(providers)
        chosen = [(p, provider_options(p, manifest, trt_cache_dir)) for p in self.providers]
        self.sessions = {}
        self._types: dict[str, dict[str, type]] = {}
        for graph in GRAPHS:
            path = manifest.graph_file(graph)
            check_external_data(manifest, path)
            options = ort.SessionOptions()
            options.log_severity_level = ORT_LOG_ERRORS_ONLY
            # One decoder step is too small to split across threads; spinning worker threads
            # would only steal the CPU that audio capture and the other graphs need.
            options.intra_op_num_threads = DECODER_THREADS if graph == "decoder" else threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                session = ort.InferenceSession(str(path), options, providers=chosen)
            except Exception as e:  # onnxruntime raises its own exception types
                raise BackendError(f"cannot load {path}: {first_line(e)}") from e
            names = {i.name: ORT_TYPES.get(i.type, np.float32) for i in session.get_inputs()}
            unknown = sorted(set(names) - set(GRAPH_INPUTS[graph]))
            if unknown:
                raise BackendError(f"{path}: unexpected graph inputs {unknown}")
            missing = sorted(set(self.outputs(graph)) - {o.name for o in session.get_outputs()})
            if missing:
                raise BackendError(f"{path}: the manifest lists outputs it lacks: {missing}")
            self.sessions[graph] = session
            self._types[graph] = names

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        types = self._types[graph]
        # Only the inputs the graph kept (an exporter may drop an unused stream).
        inputs = {
            k: np.asarray(v, dtype=types[k], order="C") for k, v in feeds.items() if k in types
        }
        try:
            outputs = self.sessions[graph].run(list(self.outputs(graph)), inputs)
        except Exception as e:  # e.g. InvalidArgument: a manifest config the graph was not made for
            path = self.manifest.graph_file(graph)
            raise BackendError(f"{graph} graph {path} failed: {first_line(e)}") from e
        return [o if o.dtype != np.float16 else o.astype(np.float32) for o in outputs]

    def close(self) -> None:
        self.sessions.clear()


def load_backend(
    manifest: Manifest,
    name: str | None = None,
    providers: Sequence[str] | str | None = None,
    threads: int = 0,
    trt_cache_dir: Path | None = None,
) -> Backend:
    """The backend a bundle was made for (`name` must agree with the manifest if given)."""
    kind = manifest.backend
    if name is not None and name != kind:
        raise BackendError(
            f"bundle {manifest.path} was exported for {kind}, not {name}: export it with "
            f"--backend {name}"
        )
    if kind == "onnx":
        return OnnxBackend(manifest, providers, threads, trt_cache_dir)
    if kind == "executorch":
        from echo_edge.runtime.executorch_backend import ExecuTorchBackend

        return ExecuTorchBackend(manifest, threads)
    if kind == "tensorrt":
        from echo_edge.runtime.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(manifest)
    raise BackendError(f"bundle {manifest.path}: unknown backend {kind!r}")


def check_external_data(manifest: Manifest, path: Path) -> None:
    """Refuse an ONNX graph that would make onnxruntime read a file the manifest does not list
    (external data is resolved next to the graph, outside the bundle's checksums otherwise)."""
    for location in onnx_external_data(path):
        if location not in manifest.files:
            raise BackendError(
                f"{path} reads external data {location!r}, which is not listed in "
                f"{manifest.path / MANIFEST_NAME}"
            )


# ---- external data of an ONNX graph, read without the onnx package (a device lacks it) -------
# The protobuf messages that can hold a TensorProto: message -> {field number: message}.
# (onnx.proto: ModelProto.graph 7, .training_info 20, .functions 25; GraphProto.node 1,
# .initializer 5, .sparse_initializer 15; NodeProto.attribute 5; AttributeProto.t 5, .g 6,
# .tensors 10, .graphs 11, .sparse_tensor 22, .sparse_tensors 23; TensorProto.external_data 13.)
ONNX_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
    "entry": {},
}


class _Malformed(Exception):
    """Bytes that are not a protobuf message (the graph's own loader reports it)."""


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Malformed
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of one message."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > end:
                raise _Malformed
            yield number, i, i + size
            i += size
        else:  # groups (3, 4) are not in onnx.proto; 6, 7 do not exist
            raise _Malformed
    if i != end:
        raise _Malformed


def _locations(buf: bytes, start: int, end: int, kind: str) -> Iterator[str]:
    if kind == "entry":
        parts = {n: buf[a:b] for n, a, b in _fields(buf, start, end)}
        if parts.get(1) == b"location":
            yield parts.get(2, b"").decode("utf-8", "replace")
        return
    children = ONNX_CHILDREN[kind]
    for number, a, b in _fields(buf, start, end):
        if number in children:
            yield from _locations(buf, a, b, children[number])


def onnx_external_data(path: Path) -> list[str]:
    """The external-data locations an ONNX file's tensors name ([] when it has none, or when
    it is not a protobuf at all: loading it then fails with the loader's own message)."""
    buf = path.read_bytes()
    try:
        return sorted(set(_locations(buf, 0, len(buf), "model")))
    except (_Malformed, RecursionError):
        return []
