"""ExecuTorch bundles of a tiny random model: one .pte, three methods, XNNPACK.

Tolerances (measured on this tiny model in brackets):
- fp32: frontend and encoder within 1e-4 relative (~1e-6); decoder logits within 1e-4 max
  abs over a teacher-forced sequence run step by step with the cache (~2e-6); the greedy
  transcript equals Echo.generate's.
- int8 (PT2E, encoder + decoder, calibrated on two espeak-ng utterances): cross K/V and
  decoder logits within 0.06 relative on a held-out utterance; the frontend is the fp32
  graph in both programs.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from echo_edge import constants as C
from echo_edge.decoding import DecodingOptions, seconds_of, token_budget
from echo_edge.export.graphs import MAX_SAMPLES
from echo_edge.loopguard import trim
from echo_edge.model import Echo
from echo_edge.runtime.bundle import GRAPH_INPUTS, read_bundle
from tests.conftest import (
    CALIBRATION_SENTENCES,
    export_in_worker,
    growing_and_fixed_steps,
    harmonic,
    synthesize_calibration,
    tiny_config,
)

executorch_runtime = pytest.importorskip("executorch.runtime", reason="executorch is not installed")

FP32_REL, FP32_LOGITS = 1e-4, 1e-4
INT8_REL = 0.06


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


class Methods:
    """The methods of a bundle's model.pte, called with torch tensors."""

    def __init__(self, bundle: Path) -> None:
        self.manifest = read_bundle(bundle)
        runtime = executorch_runtime.Runtime.get()
        self.program = runtime.load_program(self.manifest.graph_file("encoder"))
        self.methods = {g: self.program.load_method(g) for g in GRAPH_INPUTS}

    def run(self, graph: str, *args: torch.Tensor) -> list[torch.Tensor]:
        # execute() returns clones of the planned outputs (as ExecuTorchBackend relies on)
        return list(self.methods[graph].execute(list(args)))

    def constant(self, name: str) -> object:
        return self.program.load_method(name).execute([])[0]


def audio(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(harmonic(seconds, f0=120 + 30 * seed, seed=seed))[None]  # (1, N)


@torch.no_grad()
def encoder_inputs(model: Echo, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    f = model.features(x)
    return f.mel, f.pitch, f.silence, f.wave, f.frame_mask


def eager_ids(model: Echo, x: torch.Tensor) -> list[int]:
    """Eager attention greedy (ctc_weight 0), the search `greedy_ids` runs on the methods."""
    ids = model.generate(x, options=DecodingOptions(ctc_weight=0.0))[0].tolist()
    return ids[: ids.index(C.EOS_ID) + 1] if C.EOS_ID in ids else ids


def greedy_ids(methods: Methods, model: Echo, x: torch.Tensor) -> list[int]:
    """Greedy decoding with the exported encoder and decoder step (cache carried over)."""
    cross = methods.run("encoder", *encoder_inputs(model, x))
    self_k, self_v = model.decoder.empty_cache(1)
    cap = int(
        token_budget(seconds_of(torch.tensor([x.shape[1]])), DecodingOptions(), model.decoder)
    )
    ids = [C.BOS_ID]
    for step in range(cap + 1):
        tokens = torch.tensor([[ids[-1]]])
        logits, self_k, self_v = methods.run(
            "decoder", tokens, torch.tensor(step), self_k, self_v, *cross
        )
        ids.append(C.EOS_ID if step >= cap else int(logits[0, -1].argmax()))
        if ids[-1] == C.EOS_ID:
            break
    # Echo.generate stops a looping hypothesis early; trim gives the same text (test_loopguard).
    return [C.BOS_ID, *trim(ids[1:-1]), C.EOS_ID]


@torch.no_grad()
def teacher_forced_errors(methods: Methods, model: Echo, x: torch.Tensor) -> tuple[float, float]:
    """(max abs, relative) logit error: exported decoder step by step vs eager full sequence."""
    tokens = torch.tensor([eager_ids(model, x)])  # (1, L)
    ref = model(x, decoder_input_ids=tokens)["logits"][0]  # (L, V)
    cross = methods.run("encoder", *encoder_inputs(model, x))
    self_k, self_v = model.decoder.empty_cache(1)
    steps = []
    for i in range(tokens.shape[1]):
        args = (tokens[:, i : i + 1], torch.tensor(i), self_k, self_v, *cross)
        logits, self_k, self_v = methods.run("decoder", *args)
        steps.append(logits[0, 0])
    got = torch.stack(steps)
    return float((got - ref).abs().max()), rel(got, ref)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return Echo(tiny_config()).eval().save_pretrained(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> Echo:
    return Echo.from_pretrained(checkpoint)


@pytest.fixture(scope="module")
def speech() -> list[torch.Tensor]:
    """Three espeak-ng utterances: two to calibrate on, one held out."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: no calibration speech")
    return [torch.from_numpy(u.audio)[None] for u in synthesize_calibration(3)]


@pytest.fixture(scope="module")
def bundles(
    checkpoint: Path, speech: list[torch.Tensor], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    rows = []
    for i, x in enumerate(speech[:2]):
        sf.write(root / f"u{i}.wav", x[0].numpy(), C.SAMPLE_RATE, subtype="PCM_16")
        rows.append(json.dumps({"audio": f"u{i}.wav", "text": CALIBRATION_SENTENCES[i]}))
    (root / "cal.jsonl").write_text("\n".join(rows) + "\n")
    jobs = {
        "fp32": {"precision": "fp32"},
        "int8": {"precision": "int8", "calibration": str(root / "cal.jsonl")},
    }
    for name, job in jobs.items():
        job.update(checkpoint=str(checkpoint), backend="executorch", out=str(root / name))
        job["verify"] = False  # tests/test_verify.py verifies ExecuTorch bundles
        job["log"] = str(root / f"{name}.log")
    with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(export_in_worker, jobs.values())))
    return {name: Path(out) for name, out in done.items()}


def test_program_describes_itself(bundles: dict[str, Path]) -> None:
    for precision, bundle in bundles.items():
        methods = Methods(bundle)
        m = methods.manifest
        assert list(m.files) == ["model.pte", "tokenizer.json"] and m.precision == precision
        assert {m.graphs[g]["method"] for g in GRAPH_INPUTS} == set(GRAPH_INPUTS)
        assert methods.constant("sample_rate") == C.SAMPLE_RATE
        assert methods.constant("eos_id") == C.EOS_ID
        assert methods.constant("max_samples") == MAX_SAMPLES == m.limits["max_samples"]
        assert json.loads(methods.constant("config_json")) == tiny_config().to_dict()
        for graph in GRAPH_INPUTS:
            delegated = m.graphs[graph]["xnnpack"]
            assert delegated["delegated_nodes"] > 0 and delegated["delegated_subgraphs"] > 0
            # What stayed portable, by operator, adds up to the portable count.
            assert sum(delegated["portable_ops"].values()) == delegated["portable_nodes"]
    log = (bundles["fp32"].parent / "fp32.log").read_text()
    assert "nodes delegated to XNNPACK" in log and "exported executorch fp32 bundle" in log


def test_fp32_methods_match_eager(bundles: dict[str, Path], model: Echo) -> None:
    methods = Methods(bundles["fp32"])
    for seed, seconds in enumerate((1.0, 0.7)):
        x = audio(seconds, seed)
        with torch.no_grad():
            ref_frontend = model.frontend(x)
            ref_cross = model.encode(*encoder_inputs(model, x))
        for got, want in zip(methods.run("frontend", x), ref_frontend):
            assert rel(got, want) < FP32_REL
        for got, want in zip(methods.run("encoder", *encoder_inputs(model, x)), ref_cross):
            assert rel(got, want) < FP32_REL
        max_abs, _ = teacher_forced_errors(methods, model, x)
        assert max_abs < FP32_LOGITS


def test_fp32_greedy_transcript_equals_eager(bundles: dict[str, Path], model: Echo) -> None:
    methods = Methods(bundles["fp32"])
    for seed, seconds in enumerate((1.0, 0.6)):
        x = audio(seconds, seed)
        ids = greedy_ids(methods, model, x)
        assert ids == eager_ids(model, x) and len(ids) > 2


def test_upper_bounds_hold_at_both_ends(bundles: dict[str, Path], model: Echo) -> None:
    """The smallest frontend call, a one-token step, 0.5 s and 30 s (+ contexts) of audio."""
    methods = Methods(bundles["fp32"])
    for samples in (2 * C.HOP, C.SAMPLE_RATE // 2, MAX_SAMPLES):
        x = audio(samples / C.SAMPLE_RATE + 0.01, seed=2)[:, :samples]
        mel, *_ = methods.run("frontend", x)
        assert mel.shape == (1, C.N_MELS, C.num_frames(samples))
        with torch.no_grad():
            assert rel(mel, model.frontend(x)[0]) < FP32_REL
    x = audio(30.0, seed=3)
    cross_k, _, cross_bias = methods.run("encoder", *encoder_inputs(model, x))
    with torch.no_grad():
        ref_k = model.encode(*encoder_inputs(model, x))[0]
    assert cross_k.shape == ref_k.shape and rel(cross_k, ref_k) < FP32_REL
    assert cross_bias.shape[1] == C.num_encoder_frames(x.shape[1])


def test_int8_stays_close(
    bundles: dict[str, Path], model: Echo, speech: list[torch.Tensor]
) -> None:
    methods = Methods(bundles["int8"])
    m = methods.manifest
    assert m.quantization["scheme"] == "static" and m.graphs["frontend"]["precision"] == "fp32"
    assert m.quantization["calibration_batches"]["encoder"] == 2
    tone = audio(1.0, seed=1)
    with torch.no_grad():
        ref_frontend = model.frontend(tone)
    for got, want in zip(methods.run("frontend", tone), ref_frontend):
        assert rel(got, want) < FP32_REL
    x = speech[2]  # held out from calibration
    with torch.no_grad():
        ref_cross = model.encode(*encoder_inputs(model, x))
    cross = methods.run("encoder", *encoder_inputs(model, x))
    for got, want in zip(cross[:2], ref_cross[:2]):
        assert rel(got, want) < INT8_REL
    assert torch.equal(cross[2], ref_cross[2])  # the key bias is exact
    _, logits_rel = teacher_forced_errors(methods, model, x)
    assert logits_rel < INT8_REL


def test_keep_float_modules_get_no_int8_weights(model: Echo) -> None:
    from echo_edge.export.executorch import quantize_graph
    from echo_edge.export.graphs import dynamic_shapes, example_inputs, graph_modules

    kept = "encoder.blocks.0.mlp.fc2"
    module = graph_modules(model)["encoder"]
    args, shapes = example_inputs(model)["encoder"], dynamic_shapes(model)["encoder"]
    converted = quantize_graph(module, args, shapes, [args], keep_float=[kept])
    # Each linear layer of the converted graph, by module path -> whether its weight
    # arrives through a dequantize (int8) or straight from a float parameter.
    int8 = {}
    for node in converted.graph.nodes:
        if node.target is not torch.ops.aten.linear.default:
            continue
        path = list(node.meta["nn_module_stack"].values())[-1][0]
        weight = node.args[1]
        int8[path] = weight.op == "call_function" and "dequantize" in str(weight.target)
    assert int8[kept] is False
    assert int8["encoder.blocks.0.mlp.fc1"] is True and int8["encoder.blocks.1.mlp.fc2"] is True


def test_the_runtime_loads_a_program_without_the_compiler(bundles: dict[str, Path]) -> None:
    """Loading a .pte imports the bindings, not executorch.exir's package (the compiler, with
    torch._dynamo: most of the import time); an export later in the process still works."""
    import subprocess
    import sys

    script = f"""
import sys
import numpy as np
from echo_edge.runtime.recognizer import Recognizer
with Recognizer.from_bundle({str(bundles["fp32"])!r}) as r:
    r.recognize(np.zeros(8000, np.float32))
print(sorted(m for m in ("executorch.exir", "torch._dynamo", "torchao") if m in sys.modules))
import executorch.exir
print(callable(executorch.exir.to_edge_transform_and_lower))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"], done.stdout


def test_the_runtime_falls_back_to_the_normal_import(bundles: dict[str, Path]) -> None:
    """Bindings that need more of executorch.exir than its submodules (here: a finder that
    refuses executorch.runtime while the bare stand-in is in sys.modules) get the normal
    import: the program still loads and runs, and the real compiler package is left loaded."""
    import subprocess
    import sys

    script = f"""
import importlib.abc, sys
import numpy as np

class NeedsTheCompiler(importlib.abc.MetaPathFinder):
    refused = 0
    def find_spec(self, name, path=None, target=None):
        exir = sys.modules.get("executorch.exir")
        if name == "executorch.runtime" and exir is not None and not getattr(exir, "__file__", None):
            NeedsTheCompiler.refused += 1
            raise ImportError("the bindings need executorch.exir's package")
        return None

sys.meta_path.insert(0, NeedsTheCompiler())
from echo_edge.runtime.recognizer import Recognizer
with Recognizer.from_bundle({str(bundles["fp32"])!r}) as r:
    r.recognize(np.zeros(8000, np.float32))
print(NeedsTheCompiler.refused, bool(getattr(sys.modules["executorch.exir"], "__file__", None)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True"], done.stdout


def test_norms_rewritten_for_xnnpack_keep_numerics_and_leave_no_mean(
    bundles: dict[str, Path], model: Echo
) -> None:
    from echo_edge.export.executorch import GemmRMSNorm, for_xnnpack
    from echo_edge.layers import RMSNorm

    rewritten = for_xnnpack(model).eval()
    norms = [m for m in rewritten.modules() if isinstance(m, GemmRMSNorm)]
    assert norms and not any(isinstance(m, RMSNorm) for m in rewritten.modules())
    assert any(isinstance(m, RMSNorm) for m in model.modules())  # the model is left as it was
    x = torch.randn(2, 7, model.config.d_model) * 3
    original = next(m for m in model.modules() if isinstance(m, RMSNorm))
    assert rel(GemmRMSNorm(original)(x), original(x)) < 1e-6
    # No norm leaves its mean to a portable kernel: the one mean left in the encoder is the
    # waveform stem's channel norm (a mean over channels), the decoder has none.
    for graph, most in (("encoder", 1), ("decoder", 0)):
        for precision in ("fp32", "int8"):
            ops = read_bundle(bundles[precision]).graphs[graph]["xnnpack"]["portable_ops"]
            assert ops.get("aten_mean_dim", 0) <= most, (graph, precision, ops)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"score": "blend", "pitch_bias": True, "features": ("spectrogram", "waveform", "pitch")}],
)
@pytest.mark.parametrize("batch", [1, 2])
def test_attention_rewritten_for_xnnpack_keeps_numerics(overrides: dict, batch: int) -> None:
    """BmmAttention (3-D bmm around a plain softmax) gives the model's logits within 1e-5 of
    F.scaled_dot_product_attention's, with a padded row, a pitch bias and a blended score."""
    from echo_edge.attention import Attention
    from echo_edge.export.executorch import BmmAttention, for_xnnpack

    torch.manual_seed(0)
    model = Echo(tiny_config(**overrides)).eval()
    rewritten = for_xnnpack(model).eval()
    attns = [m for m in rewritten.modules() if isinstance(m, Attention)]
    assert attns and all(type(m) is BmmAttention for m in attns)
    assert not any(type(m) is BmmAttention for m in model.modules())  # the model is untouched
    wave = torch.randn(batch, 16000) * 0.1
    mask = torch.ones(batch, 16000)
    mask[-1, 11000:] = 0.0  # the last row is padded: hard-masked keys
    ids = torch.randint(4, model.config.vocab_size, (batch, 9))
    with torch.no_grad():
        want = model(wave, mask, decoder_input_ids=ids)["logits"]
        got = rewritten(wave, mask, decoder_input_ids=ids)["logits"]
    assert (got - want).abs().max() < 1e-5 * max(1.0, float(want.abs().max()))


def test_attention_leaves_no_softmax_guard_to_portable_kernels(bundles: dict[str, Path]) -> None:
    """torch.export's decomposition of F.scaled_dot_product_attention guards all-masked rows
    with eq/any/logical_not/where and scales with mul.Scalar, none of which XNNPACK takes
    ((Tq x Tk)-sized portable ops in every attention). The BmmAttention export leaves none
    of them in the encoder or decoder, at either precision."""
    guard = {"aten_logical_not_default", "aten_any_dim", "aten_mul_scalar", "aten_eq_scalar"}
    for graph in ("encoder", "decoder"):
        for precision in ("fp32", "int8"):
            ops = read_bundle(bundles[precision]).graphs[graph]["xnnpack"]["portable_ops"]
            assert not guard & set(ops), (graph, precision, ops)


def test_inputs_are_the_callers_buffers_and_outputs_outlive_the_next_call(
    bundles: dict[str, Path],
) -> None:
    """Graph inputs are not memory-planned (the runtime reads the caller's arrays, no copy per
    call), and ExecuTorchBackend.run's outputs, which it no longer copies, are the bindings'
    clones: the next call leaves them as they were, and the inputs untouched."""
    from echo_edge.runtime.executorch_backend import ExecuTorchBackend

    methods = Methods(bundles["fp32"])
    for graph, inputs in GRAPH_INPUTS.items():
        meta = methods.methods[graph].metadata
        assert meta.num_inputs() == len(inputs)
        assert not any(meta.input_tensor_meta(i).is_memory_planned() for i in range(len(inputs)))
        assert all(
            meta.output_tensor_meta(i).is_memory_planned() for i in range(meta.num_outputs())
        )
    backend = ExecuTorchBackend(read_bundle(bundles["fp32"]), threads=1)
    rng = np.random.default_rng(0)
    cross = [rng.normal(size=(2, 1, 2, 20, 16)).astype(np.float32) for _ in range(2)]
    k, v = backend.empty_cache()
    feeds = {
        "tokens": np.array([[C.BOS_ID]], np.int64),
        "offset": np.asarray(0, np.int64),
        "self_k": k,
        "self_v": v,
        "cross_k": cross[0],
        "cross_v": cross[1],
        "cross_bias": np.zeros((1, 20), np.float32),
    }
    given = {name: a.copy() for name, a in feeds.items()}
    first = backend.run("decoder", feeds)
    kept = [o.copy() for o in first]
    second = backend.run("decoder", {**feeds, "tokens": np.array([[7]], np.int64)})
    assert all(np.array_equal(a, b) for a, b in zip(first, kept))
    assert not np.array_equal(first[0], second[0])  # another token: other logits
    assert all(np.array_equal(feeds[n], given[n]) for n in feeds)


def test_threads_size_the_xnnpack_threadpool(bundles: dict[str, Path]) -> None:
    """ExecuTorchBackend(threads=N) runs XNNPACK on N threads (the pool starts at one per
    core), and the program still runs after the pool is resized."""
    from executorch.extension.pybindings import portable_lib

    from echo_edge.runtime.executorch_backend import ExecuTorchBackend

    before = portable_lib._threadpool_get_thread_count()
    try:
        backend = ExecuTorchBackend(read_bundle(bundles["fp32"]), threads=1)
        assert portable_lib._threadpool_get_thread_count() == 1
        assert np.isfinite(backend.run("frontend", {"samples": audio(0.5).numpy()})[0]).all()
        ExecuTorchBackend(read_bundle(bundles["fp32"]), threads=2)
        assert portable_lib._threadpool_get_thread_count() == 2
    finally:
        portable_lib._unsafe_reset_threadpool(before)


def test_the_decoder_cache_grows_and_gives_the_full_caches_logits(
    bundles: dict[str, Path], model: Echo
) -> None:
    """The decoder method takes any cache size (MmDecoderBlock's cache write keeps XNNPACK's
    reshapes to one dynamic dim): the runtime starts at MIN_CACHE_SLOTS and doubles up to
    max_target_len (48 here), with the logits of the full-size cache, at both precisions."""
    from echo_edge.export.executorch import MmDecoderBlock, for_xnnpack
    from echo_edge.runtime.bundle import MIN_CACHE_SLOTS
    from echo_edge.runtime.executorch_backend import ExecuTorchBackend

    blocks = for_xnnpack(model).decoder.blocks
    assert all(type(b) is MmDecoderBlock for b in blocks)
    x = audio(1.0, seed=4)
    tokens = np.random.default_rng(0).integers(4, 32, size=(1, 40))
    tokens[0, 0] = C.BOS_ID
    mel, pitch, silence, wave, _ = (t.numpy() for t in encoder_inputs(model, x))
    for precision in ("fp32", "int8"):
        m = read_bundle(bundles[precision])
        assert m.growing_cache, precision
        runs = growing_and_fixed_steps(
            ExecuTorchBackend,
            m,
            lambda b: b.encode(mel, pitch, silence, wave, np.ones_like(silence)),
            tokens,
        )
        assert runs["growing"][1] == [MIN_CACHE_SLOTS, 32, 48] and runs["fixed"][1] == [48]
        assert np.abs(runs["growing"][0] - runs["fixed"][0]).max() < 1e-5, precision
