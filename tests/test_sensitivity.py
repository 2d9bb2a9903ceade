"""export.sensitivity: the per-layer report of a static int8 graph names the layer made sensitive.

A tiny graph with two independent paths, y = (a W1) W2 + (b W3) W4, is quantised (QDQ,
per-channel, MinMax) on calibration feeds where b once carries a spike 1000x its usual size:
b's path is calibrated to a range its real inputs never use, so at evaluation its
activations keep only a few int8 steps. The report must rank b's path below a's path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from echo_edge.export.quantize import quantize_onnx_static
from echo_edge.export.sensitivity import (
    LayerError,
    activation_sensitivity,
    format_sensitivity,
    modules_to_keep,
    weight_sensitivity,
)

DIM = 16
MODULES = {"a_layer1": "a.fc1", "a_layer2": "a.fc2", "b_layer1": "b.fc1", "b_layer2": "b.fc2"}
CALIBRATION = 400  # batches: MinMax over fewer clips the Gaussian tails of the evaluation feeds


def two_path_graph(path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = {f"W{i}": rng.normal(0, 0.3, (DIM, DIM)).astype(np.float32) for i in range(1, 5)}
    nodes = [
        helper.make_node("MatMul", ["a", "W1"], ["a1"], name="a_layer1"),
        helper.make_node("MatMul", ["a1", "W2"], ["a2"], name="a_layer2"),
        helper.make_node("MatMul", ["b", "W3"], ["b1"], name="b_layer1"),
        helper.make_node("MatMul", ["b1", "W4"], ["b2"], name="b_layer2"),
        helper.make_node("Add", ["a2", "b2"], ["y"], name="sum"),
    ]
    graph = helper.make_graph(
        nodes,
        "two_paths",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, DIM]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, DIM])],
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def feeds(count: int, seed: int, spike: bool = False) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = [
        {n: rng.normal(0, 1, (1, DIM)).astype(np.float32) for n in ("a", "b")} for _ in range(count)
    ]
    if spike:
        out[0]["b"] = out[0]["b"] * 1000.0
    return out


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sensitivity")
    float_model, qdq_model = root / "float.onnx", root / "qdq.onnx"
    two_path_graph(float_model)
    quantize_onnx_static(float_model, qdq_model, feeds(CALIBRATION, seed=1, spike=True))
    return float_model, qdq_model


def test_report_ranks_the_path_made_sensitive_lowest(graphs: tuple[Path, Path]) -> None:
    float_model, qdq_model = graphs
    layers = activation_sensitivity(float_model, qdq_model, feeds(8, seed=2))
    by_tensor = {e.tensor: e for e in layers}
    assert {"a", "a1", "b", "b1"} <= set(by_tensor)  # the inputs of every quantised MatMul
    b_path = {"b", "b1", "b2"}
    assert {e.tensor for e in layers[:3]} == b_path  # b's three activations rank first
    assert layers[0].consumers and set(layers[0].consumers) <= {"b_layer1", "b_layer2", "sum"}
    worst_a = min(by_tensor[t].qdq_sqnr_db for t in ("a", "a1"))
    best_b = max(by_tensor[t].qdq_sqnr_db for t in ("b", "b1"))
    assert best_b < worst_a - 20.0, format_sensitivity(layers)  # b rounds to ~0: ~0 dB
    assert worst_a > 30.0  # a well-calibrated int8 activation (~7 bits of signal)
    # The error carried against the float graph is worst on the same path.
    assert by_tensor["b1"].float_sqnr_db < by_tensor["a1"].float_sqnr_db
    assert format_sensitivity(layers, top=1).splitlines()[1].split()[2] in b_path


def test_calibration_on_the_inputs_it_will_see_leaves_no_path_behind(tmp_path: Path) -> None:
    """The same graph calibrated without the spike: both paths keep their resolution."""
    float_model, qdq_model = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    two_path_graph(float_model)
    quantize_onnx_static(float_model, qdq_model, feeds(CALIBRATION, seed=1))
    layers = activation_sensitivity(float_model, qdq_model, feeds(8, seed=2))
    assert min(e.qdq_sqnr_db for e in layers) > 30.0, format_sensitivity(layers)


def test_weights_are_scored_per_initialiser(graphs: tuple[Path, Path]) -> None:
    float_model, qdq_model = graphs
    scores = weight_sensitivity(float_model, qdq_model)
    assert set(scores) == {"W1", "W2", "W3", "W4"}
    # per-channel symmetric int8 of Gaussian weights: ~35-45 dB, far from lossless or lost
    assert all(25.0 < s < 60.0 for s in scores.values()), scores
    assert list(scores.values()) == sorted(scores.values())


def test_layers_are_named_by_their_innermost_module() -> None:
    from echo_edge.export.onnx import innermost_module

    namespace = (
        ": echo_edge.export.graphs.EncoderGraph/encoder: echo_edge.level.LevelEncoder/"
        "encoder.blocks.1.mlp.fc2: torch.nn.modules.linear.Linear/linear_5: aten.linear.default"
    )
    assert innermost_module(namespace) == "encoder.blocks.1.mlp.fc2"
    assert innermost_module(": echo_edge.export.graphs.DecoderGraph/add_3: aten.add.Tensor") == ""


def test_fp32_modules_are_matched_by_whole_module_paths() -> None:
    from echo_edge.export.graphs import WAVEFORM_STEM
    from echo_edge.export.quantize import in_fp32_module

    def namespace(*paths: str) -> str:
        modules = "".join(f"{p}: torch.nn.Module/" for p in paths)
        return ": echo_edge.export.graphs.EncoderGraph/" + modules + "conv1d: aten.conv1d.default"

    assert in_fp32_module(namespace("encoder", WAVEFORM_STEM))
    assert in_fp32_module(namespace("encoder", WAVEFORM_STEM, WAVEFORM_STEM + ".0"))
    # names that only contain the stem's path as text are other modules
    assert not in_fp32_module(namespace("encoder", WAVEFORM_STEM + "2"))
    assert not in_fp32_module(namespace("encoder", "decoy." + WAVEFORM_STEM))
    assert not in_fp32_module(namespace("encoder", "encoder.blocks.1.mlp.fc2"))
    # the op segment is not a module
    assert not in_fp32_module(f": EncoderGraph/{WAVEFORM_STEM}: aten.conv1d.default")


def test_the_worst_ranked_candidate_modules_are_kept(graphs: tuple[Path, Path]) -> None:
    """On the two-path graph (module metadata added: a.fc1 ... b.fc2), b's path comes first;
    modules reading one tensor join together; non-candidates are passed over."""
    float_path, qdq_path = graphs
    layers = activation_sensitivity(float_path, qdq_path, feeds(4, seed=7))
    named = [
        LayerError(
            e.tensor,
            e.consumers,
            tuple(m for n in e.consumers if (m := MODULES.get(n))),
            e.qdq_sqnr_db,
            None,
        )
        for e in layers
    ]
    assert modules_to_keep(named, set(MODULES.values()), 1)[0].startswith("b.")
    assert set(modules_to_keep(named, set(MODULES.values()), 4)) == set(MODULES.values())
    assert modules_to_keep(named, {"a.fc1"}, 1) == ["a.fc1"]
    shared = [
        LayerError("t", ("x", "y"), ("q", "k"), 10.0, None),
        LayerError("u", ("z",), ("v",), 20.0, None),
    ]
    assert modules_to_keep(shared, {"q", "k", "v"}, 1) == ["q", "k"]
    assert modules_to_keep(shared, {"q", "k", "v"}, 3) == ["q", "k", "v"]
    assert modules_to_keep(shared, {"q", "k", "v"}, 0) == []


def test_a_histogram_calibrators_failure_names_the_option_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import echo_edge.export.quantize as Q

    def fails(*_: object, **__: object) -> None:
        raise ValueError("Too many bins for data range. Cannot create 2048 finite-sized bins.")

    two_path_graph(tmp_path / "float.onnx")
    monkeypatch.setattr(Q, "quantize_static", fails)
    with pytest.raises(
        ValueError,
        match=r"^percentile calibration failed in onnxruntime \(Too many bins.*--calibrator minmax",
    ):
        Q.quantize_onnx_static(
            tmp_path / "float.onnx", tmp_path / "q.onnx", [], calibrator="percentile"
        )
    with pytest.raises(ValueError, match="^Too many bins"):  # MinMax's own errors pass unchanged
        Q.quantize_onnx_static(tmp_path / "float.onnx", tmp_path / "q.onnx", [])
