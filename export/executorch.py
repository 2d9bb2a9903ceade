"""ExecuTorch export: one model.pte with methods frontend / encoder / decoder on XNNPACK.

A model with a CTC head gives the encoder method a fourth output, ctc_logprobs (1, S, V).

Each graph is captured with torch.export under bounded dynamic dims (up to 30 s of audio
plus the frontend's contexts, up to max_target_len decoder tokens), lowered together with
`to_edge_transform_and_lower(..., partitioner=[XnnpackPartitioner()])` and serialised with
constant methods that describe the model (sample rate, special ids, the config as JSON).

int8 uses PT2E: XNNPACKQuantizer with symmetric per-channel weights on the encoder's and
decoder's Linear and Conv1d layers (the waveform stem and the frontend stay fp32),
observers calibrated on real speech, then convert_pt2e and the same lowering.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from echo_edge.attention import Attention
from echo_edge.decoder import DecoderBlock
from echo_edge.export.graphs import (
    WAVEFORM_STEM,
    BackendExport,
    dynamic_shapes,
    example_inputs,
    graph_modules,
    graph_spec,
    has_ctc,
    limits,
    within,
)
from echo_edge.layers import RMSNorm
from echo_edge.model import Echo
from echo_edge.runtime.bundle import (
    FORMAT_VERSION,
    GRAPHS,
    GROWING_CACHE,
    frontend_constants,
    special_ids,
)

PROGRAM_NAME = "model.pte"
Log = Callable[[str], None]
Calibration = dict[str, list[tuple[torch.Tensor, ...]]]


class GemmRMSNorm(nn.Module):
    """RMSNorm with its mean of squares as a product with a constant 1/D row.

    XNNPACK takes a linear layer but not a mean over the last dim of a 3-D tensor (its
    mean.dim is 4-D over the two innermost dims only), so each norm left that mean to a
    portable kernel and split the delegated graph around it. Same weights and eps; the sum
    is rounded in another order (~1e-7 relative). Not an nn.Linear: int8 leaves it in fp32."""

    def __init__(self, norm: RMSNorm) -> None:
        super().__init__()
        self.weight, self.eps = norm.weight, norm.eps
        dim = norm.weight.shape[0]
        self.register_buffer("row", torch.full((1, dim), 1.0 / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(F.linear(x.pow(2), self.row) + self.eps) * self.weight


class BmmAttention(Attention):
    """Attention as XNNPACK takes it: 3-D batched matmuls around a plain softmax, and views
    whose one dynamic dimension is inferred (-1).

    torch.export decomposes F.scaled_dot_product_attention into a "safe" softmax that zeroes
    rows whose keys are all -inf (eq, any, logical_not, where, full_like) and a scale by
    mul.Scalar: XNNPACK has no config for those, so each attention left five (Tq x Tk)-sized
    ops to portable kernels. Our masks are finite (MASK_VALUE), so no row is all -inf and the
    plain softmax is the same function. XNNPACK's reshape takes no symbolic size, only one -1,
    and a 4-D @ exports with expand_copy ops it leaves portable too: hence the 3-D bmm."""

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """Same contract as Attention.attend (inference only: no dropout)."""
        q2, k2 = self.score(q, k)
        b, h, _, d = q2.shape
        logits = torch.bmm(
            q2.reshape(b * h, -1, d), k2.reshape(b * h, -1, d).transpose(1, 2)
        )  # (B*H, Tq, Tk)
        if bias is not None:
            logits = logits + heads_into_batch(bias, b, h)
        weights = logits.softmax(dim=-1)
        out = torch.bmm(weights, v.reshape(b * h, -1, v.shape[-1]))  # (B*H, Tq, Dh)
        out = out.view(b, h, -1, v.shape[-1]).transpose(1, 2)  # (B, Tq, H, Dh)
        return self.out_proj(out.reshape(b, -1, h * v.shape[-1]))


class MmDecoderBlock(DecoderBlock):
    """A decoder block whose cache write is one batched matmul between views with one dynamic
    dimension each, so the decoder's cache can grow (dynamic slots C) under XNNPACK.

    The einsum "lc,bhld->bhcd" exports as views of (1, C, L)-sized operands, and XNNPACK's
    reshape takes one dynamic dimension only ("XNNPACK reshape only supports 1 dynamic
    dimension": tokens L and slots C). Same function: write is one-hot, so each output is one
    product, exactly the einsum's."""

    @staticmethod
    def written(write: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        b, h, _, d = k.shape
        rows = k.permute(2, 0, 1, 3).reshape(1, -1, b * h * d)  # (1, L, B*H*Dh)
        slots = torch.bmm(write.transpose(0, 1).unsqueeze(0), rows)  # (1, C, B*H*Dh)
        return slots.reshape(-1, b, h, d).permute(1, 2, 0, 3)  # (B, H, C, Dh)


def heads_into_batch(bias: torch.Tensor, b: int, h: int) -> torch.Tensor:
    """A bias broadcastable to (B, H, Tq, Tk) -> one broadcastable to (B*H, Tq, Tk).

    A 2-D (Tq, Tk) bias broadcasts as it is; a 4-D one (B, 1 or H, 1 or Tq, Tk) drops its
    batch dim when B is 1 (the exported graphs) and is expanded over the heads otherwise."""
    if bias.dim() == 2:
        return bias
    if b == 1:
        return bias.reshape(bias.shape[1], bias.shape[2], -1)
    return bias.expand(b, h, -1, -1).reshape(b * h, bias.shape[2], -1)


def for_xnnpack(model: Echo) -> Echo:
    """A copy of the model with the ops XNNPACK cannot take rewritten (GemmRMSNorm,
    BmmAttention, MmDecoderBlock); module paths are unchanged, so --keep-float and the waveform stem still
    name the same layers."""
    model = copy.deepcopy(model)
    norms = [name for name, m in model.named_modules() if isinstance(m, RMSNorm)]
    for name in norms:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, GemmRMSNorm(getattr(owner, child)))
    for module in model.modules():
        if type(module) is Attention:
            module.__class__ = BmmAttention  # same parameters and state, another attend
        elif type(module) is DecoderBlock:
            module.__class__ = MmDecoderBlock  # same parameters, another cache write
    return model


def constant_methods(model: Echo, precision: str) -> dict[str, object]:
    """Methods of the .pte that return constants, so the program describes itself."""
    cfg = model.config
    consts: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "precision": precision,
        "config_json": json.dumps(cfg.to_dict(), sort_keys=True),
        "vocab_size": cfg.vocab_size,
        "max_target_len": cfg.max_target_len,
        "decoder_layers": cfg.decoder_layers,
        "n_heads": cfg.n_heads,
        "head_dim": cfg.head_dim,
        "max_samples": limits(model)["max_samples"],
        **{f"{k}_id": v for k, v in special_ids().items()},
    }
    for key, value in frontend_constants(cfg.to_dict()).items():
        consts[key] = value
    return consts


def _in_modules(node: torch.fx.Node, modules: Sequence[str]) -> bool:
    """Whether a captured node was traced inside one of `modules` (paths like
    encoder.blocks.0.mlp.fc2, or a module inside one)."""
    stack = node.meta.get("nn_module_stack", {})
    paths = [str(path) for path, _ in stack.values()]
    return any(within(p, modules) for p in paths)


def quantize_graph(
    module: nn.Module,
    args: tuple,
    shapes: dict,
    batches: list[tuple[torch.Tensor, ...]],
    keep_float: Sequence[str] = (),
) -> nn.Module:
    """PT2E static int8 of one graph: Linear/Conv1d weights per channel, activations
    per tensor from observers run on `batches`; the waveform stem and the `keep_float`
    modules are left in fp32."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer()
    for layer in (nn.Linear, nn.Conv1d):
        quantizer.set_module_type(layer, config)
    kept = (WAVEFORM_STEM, *keep_float)
    quantizer.set_filter_function(lambda node: not _in_modules(node, kept))
    captured = torch.export.export(module, args, dynamic_shapes=shapes).module()
    prepared = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for batch in batches:
            prepared(*batch)
    return convert_pt2e(prepared)


def _declared_ranges(programs: dict[str, torch.export.ExportedProgram]) -> dict:
    """(graph, input, dim) -> the value range torch.export gave that dynamic dim."""
    ranges = {}
    for graph, program in programs.items():
        for node in program.graph.nodes:
            if node.op != "placeholder" or "val" not in node.meta:
                continue
            for dim, size in enumerate(getattr(node.meta["val"], "shape", ())):
                if isinstance(size, torch.SymInt) and size.node.expr in program.range_constraints:
                    ranges[(graph, node.name, dim)] = program.range_constraints[size.node.expr]
    return ranges


def _restore_ranges(edge: object, ranges: dict) -> None:
    """Put back the declared upper bounds before memory planning.

    Lowering re-traces the graphs with the example sizes as hints; guards that torch
    ignores there (convolution backend choice, size-1 broadcasting) still narrow the
    shared ShapeEnv ranges, e.g. frontend samples <= 19412 and decoder tokens >= 2.
    ExecuTorch plans memory from those ranges, so it would reject 30 s of audio and
    one-token steps; the graphs are valid for the declared ranges (tests run both ends).
    """
    for (graph, name, dim), declared in ranges.items():
        program = edge.exported_program(graph)  # type: ignore[attr-defined]
        for node in program.graph.nodes:
            if node.op == "placeholder" and node.name == name:
                size = node.meta["val"].shape[dim]
                if isinstance(size, torch.SymInt):
                    size.node.shape_env.var_to_range[size.node.expr] = declared


@contextmanager
def partition_reasons() -> Iterator[Counter]:
    """Collect the reasons XNNPACK's partitioner gives (logged at debug level) for the nodes
    it does not take, as "operator: reason" -> times given (a node is asked once per config
    that matches it). Its other log records at WARNING and above pass on as before."""
    reasons: Counter = Counter()
    log = logging.getLogger("executorch.backends.xnnpack")

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            node, reason = getattr(record.msg, "node", None), getattr(record.msg, "reason", "")
            if node is not None and reason:
                reasons[f"{operator_name(node)}: {reason}"] += 1
            elif record.levelno >= logging.WARNING:
                logging.getLogger("executorch").handle(record)

    handler = Collect(logging.DEBUG)
    level, propagate = log.level, log.propagate
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    try:
        yield reasons
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def operator_name(node: torch.fx.Node) -> str:
    """An edge node's operator as executorch.devtools names it (aten.mean.dim -> aten_mean_dim)."""
    target = getattr(node.target, "__name__", str(node.target))
    return target.replace(".", "_")


def delegation_summary(edge: object) -> dict[str, dict]:
    """Per method: XNNPACK subgraphs, nodes delegated, nodes left to portable kernels, and
    those portable nodes by operator (`portable_ops`, most first): what XNNPACK did not take."""
    from executorch.devtools.backend_debug import get_delegation_info

    out = {}
    for graph in GRAPHS:
        info = get_delegation_info(edge.exported_program(graph).graph_module)  # type: ignore[attr-defined]
        out[graph] = {
            "delegated_subgraphs": info.num_delegated_subgraphs,
            "delegated_nodes": info.num_delegated_nodes,
            "portable_nodes": info.num_non_delegated_nodes,
            "portable_ops": dict(
                sorted(
                    (
                        (op, b.non_delegated)
                        for op, b in info.delegation_by_operator.items()
                        if b.non_delegated
                    ),
                    key=lambda kv: (-kv[1], kv[0]),
                )
            ),
        }
    return out


def capture(
    model: Echo,
    precision: str,
    calibration: Calibration | None,
    log: Log = print,
    keep_float: Sequence[str] = (),
) -> dict[str, torch.export.ExportedProgram]:
    """torch.export of the three graphs with bounded dynamic dims (int8: after PT2E)."""
    shapes = dynamic_shapes(model)  # the decoder's cache grows (MmDecoderBlock)
    modules, args = graph_modules(model), example_inputs(model)
    programs = {}
    for graph in GRAPHS:
        start = time.perf_counter()
        module = modules[graph]
        if precision == "int8" and graph != "frontend":
            batches = calibration[graph]  # type: ignore[index]
            module = quantize_graph(module, args[graph], shapes[graph], batches, keep_float)
        programs[graph] = torch.export.export(module, args[graph], dynamic_shapes=shapes[graph])
        what = "quantised and captured" if module is not modules[graph] else "captured"
        log(f"  {graph}: {what} in {time.perf_counter() - start:.1f} s")
    return programs


def lower(
    programs: dict[str, torch.export.ExportedProgram], constants: dict[str, object], log: Log
) -> tuple[bytes, dict[str, dict[str, int]]]:
    """One program with a method per graph, XNNPACK-delegated -> (.pte bytes, delegation)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass

    ranges = _declared_ranges(programs)
    with partition_reasons() as reasons:
        edge = to_edge_transform_and_lower(
            programs, partitioner=[XnnpackPartitioner()], constant_methods=constants
        )
    _restore_ranges(edge, ranges)
    summary = delegation_summary(edge)
    # Why XNNPACK left each of a method's portable operators (program-wide counts of the reason).
    for s in summary.values():
        s["why_portable"] = {
            key: count
            for key, count in reasons.most_common()
            if key.partition(":")[0] in s["portable_ops"]
        }
    for graph, s in summary.items():
        total = s["delegated_nodes"] + s["portable_nodes"]
        log(
            f"  {graph}: {s['delegated_nodes']} of {total} nodes delegated to XNNPACK "
            f"in {s['delegated_subgraphs']} subgraphs"
        )
    # Graph inputs are not memory-planned: the runtime then points each input at the caller's
    # buffer instead of copying it into the arena on every call, which the decoder's cross K/V
    # (7 MB per step at 30 s) and full self-attention caches made the cost of a token.
    # [stage 8, bench/results/stage8-et-inputs/decoder_steps.md (XNNPACK on 2 threads): ET
    # fp32 ms/step, best of 30 rounds side by side, 0.729 -> 0.668 at 3 s and 1.858 -> 1.484
    # at 30 s; ONNX fp32 0.773 and 1.783 in the same run]
    config = ExecutorchBackendConfig(
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False)
    )
    return edge.to_executorch(config).buffer, summary


def export_executorch(
    model: Echo,
    out_dir: Path,
    precision: str,
    calibration: Calibration | None = None,
    log: Log = print,
    keep_float: Sequence[str] = (),
) -> BackendExport:
    """Write model.pte (methods frontend, encoder, decoder) of precision fp32 or int8;
    int8 leaves the waveform stem and the `keep_float` module paths in fp32."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"executorch {precision} is not supported: use --precision fp32 or int8")
    if precision == "int8" and calibration is None:
        raise ValueError("executorch int8 needs calibration inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pytree deprecations, per node
        programs = capture(for_xnnpack(model), precision, calibration, log, keep_float)
        start = time.perf_counter()
        buffer, summary = lower(programs, constant_methods(model, precision), log)
    (Path(out_dir) / PROGRAM_NAME).write_bytes(buffer)
    log(f"  {PROGRAM_NAME}: lowered and serialised in {time.perf_counter() - start:.1f} s")
    graphs = {
        g: graph_spec(
            g,
            PROGRAM_NAME,
            has_ctc(model),
            method=g,
            precision="fp32" if g == "frontend" else precision,
            xnnpack=summary[g],
            **({GROWING_CACHE: True} if g == "decoder" else {}),
        )
        for g in GRAPHS
    }
    quantization = {}
    if precision == "int8":
        quantization = {
            "scheme": "static",
            "method": "PT2E XNNPACKQuantizer, symmetric per-channel weights",
            "layers": "Linear, Conv1d of encoder and decoder",
            "kept_fp32": ", ".join(["frontend", "waveform stem", *keep_float]),
            **({"keep_float": list(keep_float)} if keep_float else {}),
            "calibration_batches": {g: len(calibration[g]) for g in ("encoder", "decoder")},  # type: ignore[index]
        }
    return BackendExport([PROGRAM_NAME], graphs, exporter_versions(), quantization)


def exporter_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"torch": torch.__version__, "executorch": version("executorch")}
