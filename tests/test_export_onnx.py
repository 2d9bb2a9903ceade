"""ONNX bundles of a tiny random model: every precision exports, and each stays near eager.

Tolerances (measured on this tiny model in brackets):
- fp32: frontend and encoder outputs within 1e-4 relative (~1e-6); decoder logits within
  1e-4 max abs over a teacher-forced sequence run step by step with the cache (~2e-6);
  the exported greedy transcript equals Echo.generate's.
The model has a CTC head, so the encoder graph also returns ctc_logprobs (1, S, V), held to
the same tolerances as cross K/V (relative error of the log-probabilities).
- fp16 (encoder + decoder): 5e-3 relative (~6e-4).
- int8 dynamic / static: encoder cross K/V and decoder logits within 0.06 relative
  (dynamic ~0.01, static ~0.015 / 0.027) on held-out speech, i.e. espeak-ng utterances the
  static graphs were not calibrated on; the frontend is untouched (fp32 in every bundle).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from echo_edge import constants as C
from echo_edge.checkpoint import (
    INT8_NAME,
    CheckpointError,
    checkpoint_sha256,
    int8_keep_float,
    write_int8_keep_float,
)
from echo_edge.decoding import DecodingOptions, seconds_of, token_budget
from echo_edge.export.graphs import WAVEFORM_STEM
from echo_edge.export.pipeline import export_bundle
from echo_edge.export.quantize import weight_matmuls
from echo_edge.loopguard import trim
from echo_edge.model import Echo
from echo_edge.runtime.bundle import (
    CTC_OUTPUT,
    GRAPH_INPUTS,
    BundleError,
    Manifest,
    read_bundle,
    sha256_file,
)
from tests.conftest import (
    export_in_worker,
    growing_and_fixed_steps,
    harmonic,
    synthesize_calibration,
    tiny_config,
    write_calibration_manifest,
)

CTC_WEIGHT = 0.3  # gives the tiny model a CTC head, exported as the encoder's ctc_logprobs
FP32_REL, FP32_LOGITS = 1e-4, 1e-4
FP16_REL = 5e-3
INT8_REL = 0.06


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-12))


class Graphs:
    """ONNX Runtime sessions of a bundle's three graphs, run with positional numpy inputs."""

    def __init__(self, bundle: Path) -> None:
        self.manifest: Manifest = read_bundle(bundle)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sessions = {
            g: ort.InferenceSession(str(self.manifest.graph_file(g)), opts) for g in GRAPH_INPUTS
        }

    def run(self, graph: str, *args: object) -> list[np.ndarray]:
        feeds = {n: np.asarray(a) for n, a in zip(GRAPH_INPUTS[graph], args)}
        return self.sessions[graph].run(None, feeds)


def audio(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(harmonic(seconds, f0=120 + 30 * seed, seed=seed))[None]  # (1, N)


@torch.no_grad()
def encoder_inputs(model: Echo, x: torch.Tensor) -> list[np.ndarray]:
    f = model.features(x)
    return [t.numpy() for t in (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)]


@torch.no_grad()
def eager_encoder(model: Echo, x: torch.Tensor) -> list[np.ndarray]:
    """What the encoder graph returns, from eager PyTorch: Echo.encode's cross K, V, bias,
    then the CTC head's log-softmax over the same encoder states."""
    inputs = [torch.from_numpy(a) for a in encoder_inputs(model, x)]
    states, _ = model.encoder(*inputs)  # (1, S, D)
    ctc = model.ctc_head(states).float().log_softmax(-1)  # (1, S, V)
    return [t.numpy() for t in (*model.encode(*inputs), ctc)]


def greedy_ids(graphs: Graphs, model: Echo, x: torch.Tensor) -> list[int]:
    """Greedy decoding with the exported encoder and decoder step (cache carried over)."""
    cross_k, cross_v, cross_bias = graphs.run("encoder", *encoder_inputs(model, x))[:3]
    self_k, self_v = (t.numpy() for t in model.decoder.empty_cache(1))
    cap = int(
        token_budget(seconds_of(torch.tensor([x.shape[1]])), DecodingOptions(), model.decoder)
    )
    ids = [C.BOS_ID]
    for step in range(cap + 1):
        args = (np.array([[ids[-1]]]), np.array(step), self_k, self_v, cross_k, cross_v, cross_bias)
        logits, self_k, self_v = graphs.run("decoder", *args)
        ids.append(C.EOS_ID if step >= cap else int(logits[0, -1].argmax()))
        if ids[-1] == C.EOS_ID:
            break
    # Echo.generate stops a looping hypothesis early; trim gives the same text (test_loopguard).
    return [C.BOS_ID, *trim(ids[1:-1]), C.EOS_ID]


def eager_ids(model: Echo, x: torch.Tensor) -> list[int]:
    """Eager attention greedy (ctc_weight 0), the search `greedy_ids` runs on the graphs."""
    ids = model.generate(x, options=DecodingOptions(ctc_weight=0.0))[0].tolist()
    return ids[: ids.index(C.EOS_ID) + 1] if C.EOS_ID in ids else ids


@torch.no_grad()
def teacher_forced_errors(graphs: Graphs, model: Echo, x: torch.Tensor) -> tuple[float, float]:
    """(max abs, relative) logit error: exported decoder step by step vs eager full sequence."""
    tokens = torch.tensor([eager_ids(model, x)])  # (1, L)
    ref = model(x, decoder_input_ids=tokens)["logits"][0].numpy()  # (L, V)
    cross = graphs.run("encoder", *encoder_inputs(model, x))[:3]  # without ctc_logprobs
    self_k, self_v = (t.numpy() for t in model.decoder.empty_cache(1))
    steps = []
    for i in range(tokens.shape[1]):
        args = (tokens[:, i : i + 1].numpy(), np.array(i), self_k, self_v, *cross)
        logits, self_k, self_v = graphs.run("decoder", *args)
        steps.append(logits[0, 0])
    got = np.stack(steps)
    return float(np.abs(got - ref).max()), rel(got, ref)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = Echo(tiny_config(ctc_weight=CTC_WEIGHT)).eval()
    return model.save_pretrained(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> Echo:
    return Echo.from_pretrained(checkpoint)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-row JSONL manifest of espeak-ng speech (the --calibration path)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: no calibration speech")
    return write_calibration_manifest(tmp_path_factory.mktemp("calibration"))


@pytest.fixture(scope="module")
def held_out_speech(calibration: Path) -> torch.Tensor:
    """An espeak-ng utterance that is not in the calibration manifest, (1, N)."""
    return torch.from_numpy(synthesize_calibration(3)[2].audio)[None]


@pytest.fixture(scope="module")
def traced(
    checkpoint: Path, calibration: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The two bundles that trace the model (fp32, int8 static), exported side by side."""
    root = tmp_path_factory.mktemp("bundles")
    jobs = {
        "fp32": {"precision": "fp32"},
        "int8-static": {"precision": "int8", "quant": "static", "calibration": str(calibration)},
    }
    for name, job in jobs.items():
        job.update(checkpoint=str(checkpoint), backend="onnx", out=str(root / name), verify=False)
        job["log"] = str(root / f"{name}.log")
    with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(export_in_worker, jobs.values())))
    return {name: Path(out) for name, out in done.items()}


@pytest.fixture(scope="module")
def fp32(traced: dict[str, Path]) -> tuple[Path, list[str]]:
    bundle = traced["fp32"]
    return bundle, (bundle.parent / "fp32.log").read_text().splitlines()


@pytest.fixture(scope="module")
def variants(
    traced: dict[str, Path], checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """fp16 and int8 dynamic converted from the fp32 bundle's graphs (--from-onnx)."""
    root = tmp_path_factory.mktemp("variants")
    out = {"int8-static": traced["int8-static"]}
    for name, precision, quant in (("fp16", "fp16", None), ("int8-dynamic", "int8", "dynamic")):
        out[name] = export_bundle(
            checkpoint,
            "onnx",
            precision,
            root / name,
            quant=quant,
            onnx_from=traced["fp32"],
            log=lambda _: None,
            verify=False,
        )
    return out


def test_fp32_bundle_is_complete_and_says_what_it_did(fp32: tuple[Path, list[str]]) -> None:
    bundle, lines = fp32
    m = read_bundle(bundle)
    assert sorted(m.files) == ["decoder.onnx", "encoder.onnx", "frontend.onnx", "tokenizer.json"]
    assert (m.backend, m.precision, m.checkpoint_sha256 != "untrained") == ("onnx", "fp32", True)
    assert m.exporter["torch"] == torch.__version__ and m.limits["max_target_len"] == 48
    assert lines[0].startswith("[1/4]") and lines[-2].startswith("exported onnx fp32 bundle")
    assert lines[-1] == f"manifest sha256 {sha256_file(bundle / 'manifest.json')}"
    assert m.manifest_sha256 == sha256_file(bundle / "manifest.json")
    assert m.exporter["echo-edge"] and m.files["tokenizer.json"]["sha256"]
    assert any("traced and checked" in line for line in lines)
    assert any(line.strip().startswith("encoder.onnx") and "KB" in line for line in lines)
    for graph in GRAPH_INPUTS:
        proto = onnx.load(str(m.graph_file(graph)))
        onnx.checker.check_model(proto)
        props = {p.key: p.value for p in proto.metadata_props}
        assert props["graph"] == graph and props["sample_rate"] == str(C.SAMPLE_RATE)
        assert props["bos_id"] == str(C.BOS_ID) and props["eos_id"] == str(C.EOS_ID)
        assert json.loads(props["config"]) == tiny_config(ctc_weight=CTC_WEIGHT).to_dict()
        assert [i.name for i in proto.graph.input] == list(GRAPH_INPUTS[graph])
        assert [o.name for o in proto.graph.output] == m.graphs[graph]["outputs"]
        assert props["ctc_blank_id"] == str(C.PAD_ID)
    assert m.graphs["encoder"]["outputs"] == ["cross_k", "cross_v", "cross_bias", CTC_OUTPUT]


def test_fp32_graphs_match_eager(fp32: tuple[Path, list[str]], model: Echo) -> None:
    graphs = Graphs(fp32[0])
    for seed, seconds in enumerate((1.0, 0.7)):
        x = audio(seconds, seed)
        with torch.no_grad():
            ref = model.frontend(x)
        for got, want in zip(graphs.run("frontend", x.numpy()), ref):
            assert rel(got, want.numpy()) < FP32_REL
        encoded, ref_encoded = (
            graphs.run("encoder", *encoder_inputs(model, x)),
            eager_encoder(model, x),
        )
        assert len(encoded) == len(ref_encoded) == 4
        for got, want in zip(encoded, ref_encoded):
            assert got.shape == want.shape and rel(got, want) < FP32_REL
        max_abs, _ = teacher_forced_errors(graphs, model, x)
        assert max_abs < FP32_LOGITS


def test_fp32_greedy_transcript_equals_eager(fp32: tuple[Path, list[str]], model: Echo) -> None:
    graphs = Graphs(fp32[0])
    for seed, seconds in enumerate((1.0, 0.6, 1.5)):
        x = audio(seconds, seed)
        ids = greedy_ids(graphs, model, x)
        assert ids == eager_ids(model, x) and len(ids) > 2


def test_dynamic_axes_half_second_and_thirty_seconds(
    fp32: tuple[Path, list[str]], model: Echo
) -> None:
    graphs = Graphs(fp32[0])
    for seconds in (0.5, 30.0):
        x = audio(seconds, seed=2)
        mel, pitch, energy, silence = graphs.run("frontend", x.numpy())
        assert mel.shape == (1, C.N_MELS, C.num_frames(x.shape[1]))
        with torch.no_grad():
            assert rel(mel, model.frontend(x)[0].numpy()) < FP32_REL
        cross_k, _, cross_bias, ctc = graphs.run("encoder", *encoder_inputs(model, x))
        assert cross_k.shape[3] == cross_bias.shape[1] == C.num_encoder_frames(x.shape[1])
        assert ctc.shape == (1, cross_bias.shape[1], model.config.vocab_size)
        assert np.allclose(np.exp(ctc).sum(-1), 1.0, atol=1e-4)  # log-softmax per frame


def test_altered_bundle_is_rejected(fp32: tuple[Path, list[str]], tmp_path: Path) -> None:
    copy = Path(shutil.copytree(fp32[0], tmp_path / "copy"))
    read_bundle(copy)
    original = (copy / "decoder.onnx").read_bytes()
    altered = bytearray(original)
    altered[100] ^= 1
    (copy / "decoder.onnx").write_bytes(bytes(altered))
    with pytest.raises(BundleError, match="checksum mismatch for decoder.onnx"):
        read_bundle(copy)
    (copy / "decoder.onnx").write_bytes(original)
    (copy / "encoder.onnx").unlink()
    with pytest.raises(BundleError, match="file encoder.onnx is missing"):
        read_bundle(copy)


def test_reduced_precisions_keep_frontend_and_waveform_stem_fp32(
    variants: dict[str, Path], fp32: tuple[Path, list[str]]
) -> None:
    reference = (fp32[0] / "frontend.onnx").read_bytes()
    for name, bundle in variants.items():
        m = read_bundle(bundle)
        assert m.graphs["frontend"]["precision"] == "fp32"
        frontend = onnx.load(str(bundle / "frontend.onnx"))
        assert frontend.graph.node == onnx.load_from_string(reference).graph.node, name
        encoder = onnx.load(str(bundle / "encoder.onnx"))
        stem = [t for t in encoder.graph.initializer if t.name.startswith(WAVEFORM_STEM)]
        assert len(stem) == 5 and all(t.data_type == onnx.TensorProto.FLOAT for t in stem), name
        ops = {n.op_type for n in encoder.graph.node}
        if name == "fp16":
            assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in encoder.graph.initializer)
        elif name == "int8-dynamic":
            assert "DynamicQuantizeLinear" in ops and m.quantization["scheme"] == "dynamic"
        else:
            assert "QuantizeLinear" in ops and m.quantization["scheme"] == "static"
            assert m.quantization["graphs"]["decoder"]["calibration_batches"] > 10


@pytest.mark.parametrize(
    "name, tol", [("fp16", FP16_REL), ("int8-dynamic", INT8_REL), ("int8-static", INT8_REL)]
)
def test_reduced_precisions_stay_close(
    variants: dict[str, Path], model: Echo, held_out_speech: torch.Tensor, name: str, tol: float
) -> None:
    graphs = Graphs(variants[name])
    tone = audio(1.0, seed=1)
    with torch.no_grad():
        ref_frontend = model.frontend(tone)
    for got, want in zip(graphs.run("frontend", tone.numpy()), ref_frontend):
        assert rel(got, want.numpy()) < FP32_REL
    x = held_out_speech
    ref_cross = eager_encoder(model, x)
    cross = graphs.run("encoder", *encoder_inputs(model, x))
    for got, want in zip(cross[:2], ref_cross[:2]):
        assert rel(got, want) < tol
    # The key bias (0 or log(silence_scale)) is exact, up to fp16 rounding in fp16 graphs.
    assert np.allclose(cross[2], ref_cross[2], rtol=0, atol=1e-2 if name == "fp16" else 0)
    assert rel(cross[3], ref_cross[3]) < tol  # CTC log-probs
    _, logits_rel = teacher_forced_errors(graphs, model, x)
    assert logits_rel < tol


@pytest.mark.parametrize("quant", ["dynamic", "static"])
def test_keep_float_leaves_the_named_layers_in_fp32_and_says_so(
    traced: dict[str, Path], checkpoint: Path, calibration: Path, tmp_path: Path, quant: str
) -> None:
    kept = ["encoder.blocks.0.mlp.fc2", "decoder.blocks.1.cross_attn"]
    bundle = export_bundle(
        checkpoint,
        "onnx",
        "int8",
        tmp_path / quant,
        quant=quant,
        calibration=str(calibration) if quant == "static" else None,
        onnx_from=traced["fp32"],
        log=lambda _: None,
        verify=False,
        keep_float=kept,
    )
    m = read_bundle(bundle)
    assert m.quantization["keep_float"] == kept
    assert kept[0] in m.quantization["kept_fp32"]
    float_layers, int8_layers = set(), set()
    for graph in ("encoder", "decoder"):
        # The fp32 graph's weight products, by node name -> module path ...
        reference = onnx.load(str(traced["fp32"] / f"{graph}.onnx"))
        layers = {
            n.name: {p.key: p.value for p in n.metadata_props}.get("module", "")
            for n in reference.graph.node
            if n.name in weight_matmuls(reference) and n.op_type == "MatMul"
        }
        # ... are float here when the same node still multiplies the float initializer.
        proto = onnx.load(str(bundle / f"{graph}.onnx"))
        weights = {t.name for t in proto.graph.initializer}
        nodes = {n.name: n for n in proto.graph.node}
        for name, module in layers.items():
            node = nodes.get(name)
            is_float = node is not None and node.op_type == "MatMul" and node.input[1] in weights
            (float_layers if is_float else int8_layers).add(module)
    inside = lambda path: any(path == k or path.startswith(k + ".") for k in kept)  # noqa: E731
    # Every kept layer's weight product stays float; every other linear layer is int8.
    assert {"encoder.blocks.0.mlp.fc2", "decoder.blocks.1.cross_attn.k_proj"} <= float_layers
    assert all(inside(p) for p in float_layers), float_layers
    assert not any(inside(p) for p in int8_layers), int8_layers
    assert {"encoder.blocks.1.mlp.fc2", "encoder.blocks.0.mlp.fc1"} <= int8_layers
    with pytest.raises(ValueError, match="no module encoder.blocks.9"):
        export_bundle(checkpoint, "onnx", "int8", tmp_path / "x", keep_float=["encoder.blocks.9"])


def test_from_onnx_needs_an_fp32_onnx_bundle_of_the_same_checkpoint(
    traced: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="is onnx int8, not onnx fp32"):
        export_bundle(None, "onnx", "fp16", tmp_path / "a", onnx_from=traced["int8-static"])
    with pytest.raises(ValueError, match="was exported from another checkpoint"):
        export_bundle(None, "onnx", "fp16", tmp_path / "b", onnx_from=traced["fp32"])
    with pytest.raises(ValueError, match="applies to onnx and tensorrt exports"):
        export_bundle(None, "executorch", "fp32", tmp_path / "c", onnx_from=traced["fp32"])


def test_the_runtime_reads_the_ctc_output_and_times_words(
    fp32: tuple[Path, list[str]], model: Echo
) -> None:
    from echo_edge.runtime.recognizer import Recognizer

    x = audio(1.2, seed=3)
    with Recognizer.from_bundle(fp32[0]) as r:
        assert r.backend.has_ctc
        mel, pitch, silence, wave, _ = encoder_inputs(model, x)
        ctc = r.encode(mel, pitch, silence, wave).ctc
        assert rel(ctc, eager_encoder(model, x)[3][0]) < FP32_REL  # (S, V)
        result = r.recognize(x[0].numpy())
    # A random model's alignment may be impossible (no words); any words it gives are timed.
    if result.words:
        assert [w.text for w in result.words] == result.text.split()
        times = [t for w in result.words for t in (w.start, w.end)]
        assert times == sorted(times) and 0.0 <= times[0] and times[-1] <= result.end


def activation_scales(path: Path) -> dict[str, float]:
    """Scale of each QuantizeLinear on an activation (not a weight), by its input tensor."""
    proto = onnx.load(str(path))
    constants = {t.name: t for t in proto.graph.initializer}
    return {
        n.input[0]: float(onnx.numpy_helper.to_array(constants[n.input[1]]))
        for n in proto.graph.node
        if n.op_type == "QuantizeLinear" and n.input[0] not in constants
    }


def test_percentile_calibration_narrows_activation_ranges_and_stays_close(
    traced: dict[str, Path],
    checkpoint: Path,
    calibration: Path,
    model: Echo,
    held_out_speech: torch.Tensor,
    tmp_path: Path,
) -> None:
    bundles = {}
    for calibrator in ("minmax", "percentile"):
        bundles[calibrator] = export_bundle(
            checkpoint,
            "onnx",
            "int8",
            tmp_path / calibrator,
            quant="static",
            calibration=str(calibration),
            onnx_from=traced["fp32"],
            log=lambda _: None,
            verify=False,
            calibrator=calibrator,
        )
    m = read_bundle(bundles["percentile"])
    assert m.quantization["graphs"]["encoder"]["calibration"] == "Percentile 99.99"
    assert read_bundle(bundles["minmax"]).quantization["graphs"]["encoder"]["calibration"] == (
        "MinMax"
    )
    for graph in ("encoder", "decoder"):
        wide = activation_scales(bundles["minmax"] / f"{graph}.onnx")
        narrow = activation_scales(bundles["percentile"] / f"{graph}.onnx")
        assert wide.keys() == narrow.keys() and len(wide) > 10
        # Clipping 0.01 % of the tails never widens a range (within float rounding of the
        # histogram's edges). It narrows the encoder's ranges with outliers (6 of the tiny
        # model's 30); the tiny decoder's tensors are too few values per step to lose any.
        assert all(narrow[k] <= wide[k] * (1 + 1e-3) for k in wide), graph
        if graph == "encoder":
            assert any(narrow[k] < 0.99 * wide[k] for k in wide)
    graphs = Graphs(bundles["percentile"])
    x = held_out_speech
    cross = graphs.run("encoder", *encoder_inputs(model, x))
    for got, want in zip(cross[:2], eager_encoder(model, x)[:2]):
        assert rel(got, want) < INT8_REL
    assert teacher_forced_errors(graphs, model, x)[1] < INT8_REL


def test_static_int8_keeps_the_checkpoints_int8_json_layers_by_default(
    traced: dict[str, Path], checkpoint: Path, calibration: Path, tmp_path: Path
) -> None:
    """int8.json beside the weights sets what static int8 keeps fp32 unless --keep-float is
    given (an empty --keep-float: none); dynamic int8 never reads it."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    kept = ["encoder.blocks.1.mlp.fc2", "encoder.blocks.0.attn.out_proj"]
    sha = checkpoint_sha256(ckpt)
    (ckpt / INT8_NAME).write_text(json.dumps({"keep_float": kept, "checkpoint_sha256": sha}))
    common = dict(onnx_from=traced["fp32"], log=lambda _: None, verify=False)
    static = dict(quant="static", calibration=str(calibration), **common)
    default = read_bundle(export_bundle(ckpt, "onnx", "int8", tmp_path / "default", **static))
    assert default.quantization["keep_float"] == kept
    assert default.quantization["keep_float_from"] == f"{INT8_NAME} keep_float"
    assert default.quantization["calibration_data"] == str(calibration)
    assert "encoder.blocks.1.mlp.fc2" in default.quantization["kept_fp32"]
    none = read_bundle(
        export_bundle(ckpt, "onnx", "int8", tmp_path / "none", keep_float=[], **static)
    )
    assert none.quantization["keep_float"] == [] and none.quantization["keep_float_from"] == (
        "--keep-float"
    )
    # Symmetric activations read their own list, never the asymmetric one.
    symmetric = dict(static, activations="symmetric")
    sym = read_bundle(export_bundle(ckpt, "onnx", "int8", tmp_path / "sym", **symmetric))
    assert sym.quantization["keep_float"] == []
    assert sym.quantization["keep_float_from"].startswith("none: ")
    assert "has no keep_float_symmetric" in sym.quantization["keep_float_from"]
    both = {"keep_float": kept, "keep_float_symmetric": kept[:1], "checkpoint_sha256": sha}
    (ckpt / INT8_NAME).write_text(json.dumps(both))
    sym = read_bundle(export_bundle(ckpt, "onnx", "int8", tmp_path / "sym2", **symmetric))
    assert sym.quantization["keep_float"] == kept[:1]
    assert sym.quantization["keep_float_from"] == f"{INT8_NAME} keep_float_symmetric"
    dynamic = read_bundle(
        export_bundle(ckpt, "onnx", "int8", tmp_path / "dyn", quant="dynamic", **common)
    )
    assert "keep_float" not in dynamic.quantization


def test_int8_json_of_other_weights_is_ignored_and_a_bad_one_refused(
    checkpoint: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    assert int8_keep_float(ckpt) == ([], f"no {ckpt / INT8_NAME}")
    (ckpt / INT8_NAME).write_text(
        json.dumps({"keep_float": ["encoder.blocks.0.mlp.fc2"], "checkpoint_sha256": "0" * 64})
    )
    keep, why = int8_keep_float(ckpt)
    assert keep == [] and "ranked on other weights" in why
    sha = checkpoint_sha256(ckpt)
    (ckpt / INT8_NAME).write_text(
        json.dumps({"keep_float": ["encoder.blocks.0.mlp.fc2"], "checkpoint_sha256": sha})
    )
    assert int8_keep_float(ckpt)[0] == ["encoder.blocks.0.mlp.fc2"]
    assert int8_keep_float(ckpt / "model.safetensors")[0] == ["encoder.blocks.0.mlp.fc2"]
    assert int8_keep_float(ckpt, symmetric=True)[0] == []  # never the other scheme's list
    both = {"keep_float": ["a.b"], "keep_float_symmetric": ["c.d", "e"], "checkpoint_sha256": sha}
    (ckpt / INT8_NAME).write_text(json.dumps(both))
    assert int8_keep_float(ckpt) == (["a.b"], f"keep_float of {ckpt / INT8_NAME}")
    assert int8_keep_float(ckpt, symmetric=True)[0] == ["c.d", "e"]
    for bad in (
        '{"keep_float": "encoder"}',
        "[1, 2]",
        "{not json",
        '{"keep_float_symmetric": [""]}',
    ):
        (ckpt / INT8_NAME).write_text(bad)
        with pytest.raises(CheckpointError, match=INT8_NAME):
            int8_keep_float(ckpt)


def test_symmetric_activations_have_zero_points_of_zero(
    traced: dict[str, Path], checkpoint: Path, calibration: Path, tmp_path: Path
) -> None:
    """--activations symmetric: every activation's QuantizeLinear has zero point 0 (the graphs
    a tensorrt int8 export builds from); the default keeps ONNX Runtime's per-tensor zero points."""
    bundle = export_bundle(
        checkpoint,
        "onnx",
        "int8",
        tmp_path / "sym",
        quant="static",
        calibration=str(calibration),
        onnx_from=traced["fp32"],
        log=lambda _: None,
        verify=False,
        activations="symmetric",
    )
    m = read_bundle(bundle)

    def zero_points(path: Path) -> list[int]:
        proto = onnx.load(str(path))
        constants = {t.name: t for t in proto.graph.initializer}
        return [
            int(onnx.numpy_helper.to_array(constants[n.input[2]]))
            for n in proto.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in constants
        ]

    for graph in ("encoder", "decoder"):
        assert m.quantization["graphs"][graph]["activations"] == "symmetric"
        symmetric = zero_points(bundle / f"{graph}.onnx")
        assert len(symmetric) > 10 and set(symmetric) == {0}
        assert set(zero_points(traced["int8-static"] / f"{graph}.onnx")) != {0}


def test_write_int8_keeps_the_other_schemes_list_of_the_same_weights(
    checkpoint: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    write_int8_keep_float(ckpt, True, ["a.b"], "cmd sym")
    write_int8_keep_float(ckpt, False, ["c.d"], "cmd asym")
    assert int8_keep_float(ckpt, symmetric=True)[0] == ["a.b"]
    assert int8_keep_float(ckpt)[0] == ["c.d"]
    data = json.loads((ckpt / INT8_NAME).read_text())
    assert data["ranked_by"] == {"keep_float_symmetric": "cmd sym", "keep_float": "cmd asym"}
    data["checkpoint_sha256"] = "0" * 64  # ranked on other weights: a new file
    (ckpt / INT8_NAME).write_text(json.dumps(data))
    write_int8_keep_float(ckpt, False, ["e"], "cmd")
    assert json.loads((ckpt / INT8_NAME).read_text())["ranked_by"] == {"keep_float": "cmd"}
    assert int8_keep_float(ckpt, symmetric=True)[0] == []


def test_the_decoder_cache_grows_and_gives_the_full_caches_logits(
    fp32: tuple[Path, list[str]], variants: dict[str, Path], model: Echo
) -> None:
    """The exported decoder takes any cache size: the runtime starts at MIN_CACHE_SLOTS and
    doubles up to max_target_len (48 here), with the logits of the full-size cache; a bundle
    whose manifest lacks the flag keeps the full cache from the first step."""
    from echo_edge.runtime.backend import OnnxBackend
    from echo_edge.runtime.bundle import MIN_CACHE_SLOTS

    m = read_bundle(fp32[0])
    assert m.growing_cache and read_bundle(variants["int8-dynamic"]).growing_cache
    proto = onnx.load(str(m.graph_file("decoder")))
    (self_k,) = [i for i in proto.graph.input if i.name == "self_k"]
    assert self_k.type.tensor_type.shape.dim[3].dim_param  # symbolic slot axis
    x = audio(1.0, seed=4)
    mel, pitch, silence, wave, _ = encoder_inputs(model, x)
    tokens = np.random.default_rng(0).integers(4, 32, size=(1, 40))
    tokens[0, 0] = C.BOS_ID
    runs = growing_and_fixed_steps(
        OnnxBackend, m, lambda b: b.encode(mel, pitch, silence, wave, np.ones_like(silence)), tokens
    )
    for name, (steps, _, backend, cross) in runs.items():
        # One call over a 20-token prefix fits the cache to it at once.
        logits, k, _ = backend.decode_step(tokens[:, :20], 0, *backend.empty_cache(), cross)
        assert np.abs(logits[0] - steps[:20]).max() < 1e-5
        assert k.shape[3] == (32 if name == "growing" else 48)
    assert runs["growing"][1] == [MIN_CACHE_SLOTS, 32, 48] and runs["fixed"][1] == [48]
    assert np.abs(runs["growing"][0] - runs["fixed"][0]).max() < 1e-5
