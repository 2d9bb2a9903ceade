"""TensorRT export: engines built from the bundle's own ONNX graphs, on the target device.

Engines are specific to a GPU and a TensorRT version, so they are built where they run
(the Jetson), with the same `echo-edge export --backend tensorrt` command. Precision lives in
the ONNX graphs themselves (export/onnx.py): fp16 graphs with the frontend and waveform stem
in fp32, int8 as explicit Q/DQ graphs calibrated on speech (symmetric activations: TensorRT
takes zero points of 0 only). Networks are built strongly
typed where TensorRT supports it (10.x; the only mode in 11.x, which removed the FP16/INT8
builder flags); older TensorRT gets the FP16/INT8 flags instead. One optimisation profile per
graph covers the shortest to the longest input the other backends accept (`profile_shapes`),
and a timing cache shared across builds makes rebuilds fast. A model with a CTC head has a
fourth encoder output, ctc_logprobs (1, S, V): the engine takes it from the ONNX graph and its
shape follows the encoder frames, so profiles (inputs only) are unchanged; the graph spec
inherits the ONNX graph's output list, which the runtime reads.

Nothing here has run on a GPU in this repository's CI: TensorRT is not installable there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.export.graphs import MAX_FRAMES, MAX_SAMPLES, MIN_FRAMES, BackendExport
from echo_edge.model import Echo
from echo_edge.runtime.bundle import GRAPHS, GROWING_CACHE

TRT_MISSING = (
    "TensorRT is not installed: build the engines on the target Jetson with the same command"
)
WORKSPACE_BYTES = 1 << 30  # builder scratch memory
DEFAULT_TIMING_CACHE = Path.home() / ".cache" / "echo-edge" / "tensorrt" / "timing.cache"
OPT_UTTERANCE_SECONDS = 5.0  # the encoder's tuning point: a typical utterance
# The streaming runtime calls the frontend on short blocks (<= 48 new frames + contexts).
OPT_FRONTEND_SAMPLES = 48 * C.HOP + C.FRONTEND_LEFT_CONTEXT + C.FRONTEND_LOOKAHEAD
Log = Callable[[str], None]
Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]  # input name -> (min, opt, max)


class TensorRTUnavailableError(ValueError):
    """`import tensorrt` failed: engines must be built on the device."""


def require_tensorrt():  # -> the tensorrt module
    """Import TensorRT or raise TensorRTUnavailableError with a one-line instruction."""
    try:
        import tensorrt
    except ImportError as e:
        raise TensorRTUnavailableError(TRT_MISSING) from e
    return tensorrt


def profile_shapes(
    config: EchoConfig, opt_seconds: float = OPT_UTTERANCE_SECONDS
) -> dict[str, Profile]:
    """(min, opt, max) shapes of every dynamic input, per graph.

    Frontend: a 2-hop buffer .. 30 s plus both contexts (opt: a streaming block). Encoder:
    MIN_FRAMES (20 ms) .. 30 s, opt `opt_seconds`; wave is always HOP * frames. Decoder:
    1 .. max_target_len tokens (opt 1: greedy steps) against the encoder frames of those
    lengths; the self-attention cache keeps max_target_len slots (GROWING_CACHE false)."""
    layers, heads, dh = config.decoder_layers, config.n_heads, config.head_dim
    cache = (layers, 1, heads, config.max_target_len, dh)
    frames = (MIN_FRAMES, C.num_frames(int(opt_seconds * C.SAMPLE_RATE)), MAX_FRAMES)
    enc = tuple((t - 1) // C.ENCODER_STRIDE + 1 for t in frames)
    tokens = (1, 1, config.max_target_len)
    samples = (2 * C.HOP, OPT_FRONTEND_SAMPLES, MAX_SAMPLES)

    def each(make: Callable[[int], Shape], sizes: tuple[int, ...]) -> tuple[Shape, Shape, Shape]:
        lo, opt, hi = (make(n) for n in sizes)
        return lo, opt, hi

    return {
        "frontend": {"samples": each(lambda n: (1, n), samples)},
        "encoder": {
            "mel": each(lambda t: (1, C.N_MELS, t), frames),
            "pitch": each(lambda t: (1, 3, t), frames),
            "silence": each(lambda t: (1, t), frames),
            "wave": each(lambda t: (1, C.HOP * t), frames),
            "frame_mask": each(lambda t: (1, t), frames),
        },
        "decoder": {
            "tokens": each(lambda n: (1, n), tokens),
            "offset": ((), (), ()),
            "self_k": (cache, cache, cache),
            "self_v": (cache, cache, cache),
            "cross_k": each(lambda s: (layers, 1, heads, s, dh), enc),
            "cross_v": each(lambda s: (layers, 1, heads, s, dh), enc),
            "cross_bias": each(lambda s: (1, s), enc),
        },
    }


def _dims(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "1"


def trtexec_command(
    onnx_path: str | Path, engine_path: str | Path, profile: Profile, timing_cache: str | Path
) -> list[str]:
    """The equivalent trtexec call (TensorRT >= 10), to rebuild an engine by hand."""
    dynamic = {n: s for n, s in profile.items() if s[0] != s[2]}
    cmd = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}", "--stronglyTyped"]
    for flag, i in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        if dynamic:
            cmd.append(flag + "=" + ",".join(f"{n}:{_dims(s[i])}" for n, s in dynamic.items()))
    cmd += [
        f"--timingCacheFile={timing_cache}",
        f"--memPoolSize=workspace:{WORKSPACE_BYTES >> 20}M",
    ]
    return cmd


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    profile: Profile,
    precision: str,
    timing_cache: Path = DEFAULT_TIMING_CACHE,
) -> Path:
    """Parse an ONNX graph, build a serialised engine with one optimisation profile."""
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = trt.NetworkDefinitionCreationFlag
    strongly_typed = hasattr(flags, "STRONGLY_TYPED")
    if strongly_typed:
        network = builder.create_network(1 << int(flags.STRONGLY_TYPED))
    else:  # TensorRT 8.x: explicit batch, precision from builder flags
        network = builder.create_network(1 << int(flags.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if not strongly_typed and precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # explicit Q/DQ graph: no calibrator
    shapes = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile.items():
        if lo != hi:
            shapes.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(shapes)
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path.name}")
    engine_path.write_bytes(bytes(serialized))
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return engine_path


def export_tensorrt(
    model: Echo,
    out_dir: Path,
    precision: str,
    calibration: dict[str, list[tuple[torch.Tensor, ...]]] | None = None,
    timing_cache: Path = DEFAULT_TIMING_CACHE,
    log: Log = print,
    fp32_graphs: dict[str, Path] | None = None,
    keep_float: Sequence[str] = (),
) -> BackendExport:
    """ONNX graphs of `precision` (int8: static Q/DQ), then one engine per graph.

    `fp32_graphs` (from an onnx fp32 bundle) skip tracing the model on the device;
    `keep_float` module paths get no Q/DQ (export.onnx.export_onnx)."""
    from echo_edge.export.onnx import export_onnx

    trt = require_tensorrt()
    out_dir = Path(out_dir)
    quant = "static" if precision == "int8" else None
    onnx_part = export_onnx(
        model,
        out_dir,
        precision,
        quant,
        calibration,
        log,
        fp32_graphs,
        symmetric=True,
        keep_float=keep_float,
    )
    profiles = profile_shapes(model.config)
    graphs = {}
    for graph in GRAPHS:
        onnx_name, engine_name = f"{graph}.onnx", f"{graph}.engine"
        start = time.perf_counter()
        graph_precision = onnx_part.graphs[graph]["precision"]
        build_engine(
            out_dir / onnx_name,
            out_dir / engine_name,
            profiles[graph],
            graph_precision,
            timing_cache,
        )
        log(f"  {engine_name}: built in {time.perf_counter() - start:.1f} s")
        rebuild = trtexec_command(onnx_name, engine_name, profiles[graph], timing_cache.name)
        graphs[graph] = {
            **onnx_part.graphs[graph],
            "file": engine_name,
            "onnx": onnx_name,
            "profile": {n: [list(s) for s in shapes] for n, shapes in profiles[graph].items()},
            "trtexec": " ".join(rebuild),
        }
    # The decoder's profile holds the cache at max_target_len slots (one shape, one tactic set).
    graphs["decoder"][GROWING_CACHE] = False
    files = onnx_part.files + [f"{g}.engine" for g in GRAPHS]
    exporter = {**onnx_part.exporter, "tensorrt": trt.__version__}
    return BackendExport(files, graphs, exporter, onnx_part.quantization)
