"""ONNX export: three graphs with dynamic time axes and self-describing metadata_props.

fp32 graphs come from the dynamo exporter (torch.export underneath) and pass onnx.checker.
Reduced precisions are derived from them and never touch the frontend or the waveform stem:
- fp16: encoder and decoder weights and activations in float16 (onnxruntime's converter,
  float32 inputs/outputs kept so callers and caches stay float32);
- int8 dynamic: per-channel int8 MatMul weights, activations quantised on the fly;
- int8 static: QDQ graphs with activation ranges calibrated on real speech.
A model with a CTC head gets a fourth encoder output, ctc_logprobs (1, S, V), in every
precision (its MatMul is quantised with the rest: on the shipped model int8 dynamic moves the
log-probs by 0.7 % relative and keeps 98.8 % of the frame argmaxes).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import onnx
import onnxscript
import torch

from echo_edge.export.graphs import (
    BackendExport,
    dynamic_shapes,
    example_inputs,
    graph_io,
    graph_modules,
    graph_spec,
    has_ctc,
    within,
)
from echo_edge.export.quantize import (
    in_fp32_module,
    quantize_onnx_dynamic,
    quantize_onnx_static,
    to_feeds,
    waveform_stem_nodes,
)
from echo_edge.model import Echo
from echo_edge.runtime.bundle import (
    CTC_OUTPUT,
    GRAPHS,
    GROWING_CACHE,
    frontend_constants,
    special_ids,
)

OPSET = 18  # TensorRT 8.6+ (JetPack 6) parses opset 18; ONNX Runtime runs it everywhere
Log = Callable[[str], None]


def metadata_props(model: Echo, graph: str, precision: str) -> dict[str, str]:
    """Key/value metadata stored in every graph (sherpa-onnx style: flat keys plus JSON)."""
    cfg = model.config
    props: dict[str, object] = {
        "model_type": "echo",
        "graph": graph,
        "precision": precision,
        "vocab_size": cfg.vocab_size,
        "d_model": cfg.d_model,
        "n_heads": cfg.n_heads,
        "head_dim": cfg.head_dim,
        "encoder_layers": cfg.encoder_layers,
        "decoder_layers": cfg.decoder_layers,
        "max_target_len": cfg.max_target_len,
        **{f"{k}_id": v for k, v in special_ids().items()},
        **frontend_constants(cfg.to_dict()),
        "config": json.dumps(cfg.to_dict(), sort_keys=True),
    }
    if has_ctc(model):  # the encoder also returns ctc_logprobs; its blank is the pad id
        props["ctc_blank_id"] = special_ids()["pad"]
    return {k: str(v) for k, v in props.items()}


def set_metadata(path: Path, props: dict[str, str]) -> None:
    """Replace a saved model's metadata_props with `props`, re-check and re-save it.

    Of the exporter's per-node metadata, every node keeps its innermost module path
    ("module", e.g. encoder.blocks.1.mlp.fc2: what export.sensitivity names layers by), and
    the nodes exported from FP32_MODULES keep the whole module stack ("namespace"): it picks
    the fp32 nodes when graphs are converted again (export.quantize.waveform_stem_nodes).
    Stack traces name this machine's files, and every node's whole stack was 0.23 MB of the
    shipped int8 bundle. The exporter's value_info (intermediate shapes) goes too: ONNX
    Runtime and the quantiser infer shapes themselves."""
    proto = onnx.load(str(path))
    del proto.graph.value_info[:]
    for node in proto.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        namespace = meta.get("namespace", "")
        # A graph converted again (an fp32 bundle's) already has its "module" keys.
        module = innermost_module(namespace) if namespace else meta.get("module", "")
        keep = [("module", module)] if module else []
        if in_fp32_module(namespace):
            keep.append(("namespace", namespace))
        del node.metadata_props[:]
        for key, value in keep:
            node.metadata_props.add(key=key, value=value)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def module_nodes(model_proto: onnx.ModelProto, modules: Sequence[str]) -> list[str]:
    """Names of the nodes exported from any of `modules` or a module inside one (by the
    "module" path every node keeps, or, in a graph fresh from the exporter, its namespace)."""
    names = []
    for node in model_proto.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        path = meta.get("module") or innermost_module(meta.get("namespace", ""))
        if within(path, modules):
            names.append(node.name)
    return names


def check_kept_modules(modules: Sequence[str], protos: Sequence[onnx.ModelProto]) -> None:
    """A ValueError naming each of `modules` that no node of the graphs came from (a module
    the encoder and decoder do not run, or one an older bundle's graphs do not name)."""
    missing = [m for m in modules if not any(module_nodes(p, [m]) for p in protos)]
    if missing:
        raise ValueError(
            f"--keep-float: no node of the encoder or decoder graph comes from {', '.join(missing)}"
        )


def innermost_module(namespace: str) -> str:
    """The exporter's namespace ("path: class/" per module, then "op: aten op") -> the module
    path of the innermost module ("" at the graph's top level)."""
    paths = [segment.split(":")[0] for segment in namespace.split("/")[:-1]]
    # torch.export names a node outside any module "_empty_nn_module_stack_from_metadata_hook"
    return next((p for p in reversed(paths) if p and not p.startswith("_")), "")


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's per-call warnings (e.g. torchvision ops not registered)."""
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        registry_log.setLevel(level)


def export_graph(
    module: torch.nn.Module, args: tuple, shapes: dict, graph: str, path: Path, ctc: bool = False
) -> Path:
    """One fp32 graph -> a checked, single-file .onnx with named, dynamic inputs.

    `ctc`: the module is an encoder with a CTC head, which returns ctc_logprobs too."""
    inputs, outputs = graph_io(graph, ctc)
    with _quiet_exporter():
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            dynamic_shapes=shapes,
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=OPSET,
            external_data=False,
            optimize=False,
            verbose=False,
        )
    # Constant folding only: onnxscript's default rewrite rules drop `x + c` for |c| < 1e-8
    # as a no-op, which turns the frontend's log(power + 1e-10) into log(0) = -inf.
    onnxscript.optimizer.fold_constants(program.model)
    onnxscript.optimizer.remove_unused_nodes(program.model)
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return path


def export_fp32(model: Echo, out_dir: Path, log: Log = print) -> dict[str, Path]:
    """The three fp32 graphs -> {graph: path} in out_dir."""
    modules, args, shapes = (
        graph_modules(model),
        example_inputs(model),
        dynamic_shapes(model, False),
    )
    paths = {}
    for graph in GRAPHS:
        start = time.perf_counter()
        paths[graph] = export_graph(
            modules[graph],
            args[graph],
            shapes[graph],
            graph,
            out_dir / f"{graph}.onnx",
            has_ctc(model),
        )
        log(f"  {graph}.onnx: traced and checked in {time.perf_counter() - start:.1f} s")
    return paths


def convert_fp16(src: Path, dst: Path, keep_fp32: list[str]) -> None:
    """float16 weights and compute; float32 inputs/outputs and `keep_fp32` nodes."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(src))
    half = convert_float_to_float16(proto, keep_io_types=True, node_block_list=keep_fp32)
    drop_round_trips(half)
    sort_nodes(half.graph)  # the converter appends its input casts at the end
    onnx.save(half, str(dst))


def drop_round_trips(model: onnx.ModelProto) -> None:
    """Feed the consumers of a float32 -> float16 -> float32 cast pair the float32 tensor
    itself, in place, and remove the casts left unused.

    The converter routes float32 tensors through float16 on their way to the nodes it keeps
    fp32: every graph input at the boundary, and the outputs of kept nodes that also feed a
    float16 node. So the waveform stem and the level normalisation read the waveform, the
    log-mel and their own intermediate powers rounded to float16, which moved the utterance
    level and flipped silence flags (stage 6: encoder key bias 6.91, cross K/V 0.046)."""
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    elem_type = {
        v.name: v.type.tensor_type.elem_type
        for v in [*inferred.input, *inferred.value_info, *inferred.output]
    }
    elem_type.update({t.name: t.data_type for t in graph.initializer})
    producer = {out: n for n in graph.node for out in n.output}

    def cast_to(node: onnx.NodeProto | None) -> int | None:
        if node is None or node.op_type != "Cast":
            return None
        return next((a.i for a in node.attribute if a.name == "to"), None)

    bypass = {}
    for node in graph.node:
        first = producer.get(node.input[0]) if node.input else None
        if cast_to(node) == onnx.TensorProto.FLOAT and cast_to(first) == onnx.TensorProto.FLOAT16:
            source = first.input[0]  # type: ignore[union-attr]
            if elem_type.get(source) == onnx.TensorProto.FLOAT:
                bypass[node.output[0]] = source
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in bypass:
                node.input[i] = bypass[name]
    while True:
        used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)


def sort_nodes(graph: onnx.GraphProto) -> None:
    """Put a graph's nodes in topological order (Kahn), in place; stable otherwise."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"graph {graph.name} has a cycle or a dangling input")
        pending = rest
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(nodes)


def export_onnx(
    model: Echo,
    out_dir: Path,
    precision: str,
    quant: str | None = None,
    calibration: dict[str, list[tuple[torch.Tensor, ...]]] | None = None,
    log: Log = print,
    fp32_graphs: dict[str, Path] | None = None,
    symmetric: bool = False,
    keep_float: Sequence[str] = (),
    calibrator: str = "minmax",
) -> BackendExport:
    """Write frontend.onnx, encoder.onnx, decoder.onnx of the given precision into out_dir.

    quant ("dynamic" | "static") applies to int8; static needs `calibration` graph inputs
    (export.quantize.calibration_inputs). `fp32_graphs` (graph -> .onnx of this model, e.g.
    from an fp32 bundle) are converted instead of tracing the model again; `symmetric`
    int8 activations are for TensorRT. `keep_float`: module paths (e.g.
    encoder.blocks.0.mlp.fc2) whose nodes int8 leaves in fp32, like FP32_MODULES.
    `calibrator`: how static int8 sets activation ranges (export.quantize.CALIBRATORS)."""
    if precision == "int8" and quant == "static" and calibration is None:
        raise ValueError("int8 static quantisation needs calibration inputs")
    if keep_float and precision != "int8":
        raise ValueError(f"keep_float applies to int8, not {precision}")
    out_dir = Path(out_dir)
    files = [f"{g}.onnx" for g in GRAPHS]
    quantization: dict = {}
    with tempfile.TemporaryDirectory(prefix="echo-onnx-") as tmp:
        fp32 = fp32_graphs or export_fp32(model, Path(tmp), log)
        stem_nodes = {g: waveform_stem_nodes(onnx.load(str(p))) for g, p in fp32.items()}
        if keep_float:
            protos = {g: onnx.load(str(fp32[g])) for g in ("encoder", "decoder")}
            check_kept_modules(keep_float, list(protos.values()))
            for graph, proto in protos.items():
                stem_nodes[graph] += module_nodes(proto, keep_float)
        shutil.copyfile(fp32["frontend"], out_dir / "frontend.onnx")  # always fp32
        for graph in ("encoder", "decoder"):
            src, dst = fp32[graph], out_dir / f"{graph}.onnx"
            start = time.perf_counter()
            if precision == "fp32":
                shutil.copyfile(src, dst)
                continue
            if precision == "fp16":
                convert_fp16(src, dst, stem_nodes[graph])
            elif quant == "static":
                feeds = to_feeds(graph, calibration[graph])  # type: ignore[index]
                quantization[graph] = quantize_onnx_static(
                    src, dst, feeds, stem_nodes[graph], symmetric, calibrator
                )
            else:
                quantization[graph] = quantize_onnx_dynamic(src, dst, stem_nodes[graph])
            log(f"  {graph}.onnx: {precision} in {time.perf_counter() - start:.1f} s")
    graphs = {}
    for graph, name in zip(GRAPHS, files):
        graph_precision = "fp32" if graph == "frontend" else precision
        set_metadata(out_dir / name, metadata_props(model, graph, graph_precision))
        kept = len(stem_nodes.get(graph, [])) if precision != "fp32" else 0
        # What the written graph has (fp32_graphs of an older bundle may lack the CTC output
        # or the growing cache).
        written = onnx.load(str(out_dir / name), load_external_data=False).graph
        ctc = CTC_OUTPUT in output_names(written)
        extra = {GROWING_CACHE: growing_cache(written)} if graph == "decoder" else {}
        graphs[graph] = graph_spec(
            graph, name, ctc, precision=graph_precision, opset=OPSET, fp32_nodes=kept, **extra
        )
    if quantization:
        quantization = {
            "scheme": quant,
            "graphs": quantization,
            "kept_fp32": ", ".join(["frontend", "waveform stem", *keep_float]),
        }
        if keep_float:
            quantization["keep_float"] = list(keep_float)
    return BackendExport(files, graphs, exporter_versions(), quantization)


def growing_cache(graph: onnx.GraphProto) -> bool:
    """Whether a decoder graph's self_k slot axis is symbolic (fp32_graphs of a bundle from
    before the growing cache have it fixed at max_target_len)."""
    (self_k,) = [i for i in graph.input if i.name == "self_k"]
    return bool(self_k.type.tensor_type.shape.dim[3].dim_param)


def output_names(graph: onnx.GraphProto) -> list[str]:
    """The output names of an ONNX graph, in order."""
    return [o.name for o in graph.output]


def exporter_versions() -> dict[str, str]:
    import onnxruntime
    import onnxscript

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
