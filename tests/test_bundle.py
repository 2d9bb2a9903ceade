"""The bundle format (runtime/bundle.py) and the export command's argument checks: torch-free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from echo_edge import constants as C
from echo_edge.export.options import resolve_quant
from echo_edge.export.pipeline import check_out, human_size
from echo_edge.runtime.bundle import (
    FORMAT_VERSION,
    GRAPH_INPUTS,
    GRAPH_OUTPUTS,
    MANIFEST_NAME,
    BundleError,
    is_bundle,
    read_bundle,
    set_verify_report,
    sha256_file,
    write_manifest,
)
from tests.conftest import tiny_config

FILES = ("frontend.onnx", "encoder.onnx", "decoder.onnx", "tokenizer.json")


def make_bundle(directory: Path) -> Path:
    """A bundle of placeholder files with a real manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(FILES):
        (directory / name).write_bytes(bytes([i]) * (100 + i))
    graphs = {g: {"file": f"{g}.onnx"} for g in GRAPH_INPUTS}
    write_manifest(
        directory,
        config=tiny_config().to_dict(),
        backend="onnx",
        precision="fp32",
        files=list(FILES),
        graphs=graphs,
        exporter={"torch": "test"},
        checkpoint_sha256="untrained",
        limits={"max_samples": 1234},
    )
    return directory


def test_manifest_round_trip(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    m = read_bundle(bundle)
    assert m.format_version == FORMAT_VERSION and m.backend == "onnx" and m.precision == "fp32"
    assert m.config == tiny_config().to_dict()
    assert m.special_ids == {"pad": C.PAD_ID, "bos": C.BOS_ID, "eos": C.EOS_ID, "unk": C.UNK_ID}
    assert m.frontend["sample_rate"] == C.SAMPLE_RATE and m.frontend["hop"] == C.HOP
    assert (m.frontend["left_context"], m.frontend["lookahead"]) == C.frontend_context()
    assert set(m.files) == set(FILES)
    for name, entry in m.files.items():
        assert entry["sha256"] == sha256_file(bundle / name)
        assert entry["bytes"] == (bundle / name).stat().st_size
    assert m.graph_file("encoder") == bundle / "encoder.onnx"
    assert m.limits == {"max_samples": 1234} and m.verify is None
    assert m.created.endswith("Z") and is_bundle(bundle)
    assert MANIFEST_NAME not in m.files  # the manifest does not checksum itself
    assert m.manifest_sha256 == sha256_file(bundle / MANIFEST_NAME)
    assert set(m.exporter) == {"echo-edge", "torch"} and m.exporter["echo-edge"]


def test_altered_file_is_a_checksum_mismatch(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    data = bytearray((bundle / "encoder.onnx").read_bytes())
    data[10] ^= 0xFF
    (bundle / "encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"checksum mismatch for encoder\.onnx") as err:
        read_bundle(bundle)
    assert "\n" not in str(err.value)
    read_bundle(bundle, check_files=False)  # the manifest itself is still readable


def test_missing_file(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    (bundle / "decoder.onnx").unlink()
    with pytest.raises(BundleError, match=r"file decoder\.onnx is missing"):
        read_bundle(bundle)


def test_version_1_bundles_still_read(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["format_version"] = 1  # three encoder outputs, no CTC head: the old layout
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    assert read_bundle(bundle).format_version == 1


def test_other_format_version(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["format_version"] = FORMAT_VERSION + 1
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    expected = f"format version {FORMAT_VERSION + 1}, this runtime reads 1 and {FORMAT_VERSION}"
    with pytest.raises(BundleError, match=expected):
        read_bundle(bundle)


@pytest.mark.parametrize("damage", ["no manifest", "not json", "not a dict", "no dir"])
def test_broken_manifest(tmp_path: Path, damage: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    if damage == "no manifest":
        (bundle / MANIFEST_NAME).unlink()
    elif damage == "not json":
        (bundle / MANIFEST_NAME).write_text("{oops")
    elif damage == "not a dict":
        (bundle / MANIFEST_NAME).write_text("[1, 2]")
    with pytest.raises(BundleError, match=r"^bundle .*"):
        read_bundle(bundle if damage != "no dir" else tmp_path / "nowhere")


def test_verify_report_is_stored_without_breaking_checksums(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    set_verify_report(bundle, {"pass": True, "encoder_rel": 1e-7})
    assert read_bundle(bundle).verify == {"pass": True, "encoder_rel": 1e-7}


def test_graph_io_names_are_distinct() -> None:
    for graph in GRAPH_INPUTS:
        assert not set(GRAPH_INPUTS[graph]) & set(GRAPH_OUTPUTS[graph]), graph


def test_bundle_module_is_torch_free() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import echo_edge.runtime.bundle, echo_edge.export.pipeline, echo_edge.export.options\n"
        "assert 'torch' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@pytest.mark.parametrize(
    "backend, precision, quant, calibration, expected",
    [
        ("onnx", "fp32", None, None, None),
        ("onnx", "int8", None, None, "dynamic"),
        ("onnx", "int8", None, "cal.jsonl", "static"),
        ("onnx", "int8", "dynamic", "cal.jsonl", "dynamic"),
        ("executorch", "int8", None, None, "static"),
        ("tensorrt", "int8", None, None, "static"),
        ("tensorrt", "fp16", None, None, None),
    ],
)
def test_resolve_quant(
    backend: str, precision: str, quant: str | None, calibration: str | None, expected: str | None
) -> None:
    assert resolve_quant(backend, precision, quant, calibration) == expected


@pytest.mark.parametrize(
    "backend, precision, quant, message",
    [
        (
            "executorch",
            "fp16",
            None,
            "executorch does not support fp16: use --precision fp32 or int8",
        ),
        ("executorch", "int8", "dynamic", "executorch int8 is static, not dynamic"),
        ("tensorrt", "int8", "dynamic", "tensorrt int8 is static, not dynamic"),
        ("onnx", "fp16", "static", "--quant applies to int8 only, not fp16"),
        ("coreml", "fp32", None, "unknown backend 'coreml'"),
        ("onnx", "int4", None, "unknown precision 'int4'"),
    ],
)
def test_unsupported_combinations_fail_with_one_line(
    backend: str, precision: str, quant: str | None, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        resolve_quant(backend, precision, quant, None)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_out_is_never_clobbered(tmp_path: Path) -> None:
    check_out(tmp_path / "new", force=False)  # absent: fine
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", force=False)
    check_out(make_bundle(tmp_path / "old"), force=False)  # a bundle is replaced
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    with pytest.raises(
        ValueError,
        match=r"busy is not a bundle echo-edge wrote \(it has no manifest.json\): pass --force",
    ):
        check_out(busy, force=False)
    check_out(busy, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_out(tmp_path / "file", force=True)


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KB"
    assert human_size(3 * 1024**2) == "3.0 MB"


@pytest.mark.parametrize(
    "backend, precision, quant, calibrator, message",
    [
        ("onnx", "int8", "dynamic", "percentile", "--calibrator applies to onnx int8 static"),
        ("onnx", "fp32", None, "percentile", "--calibrator applies to onnx int8 static"),
        ("onnx", "fp16", None, "percentile", "--calibrator applies to onnx int8 static"),
        ("executorch", "int8", "static", "percentile", "--calibrator applies to onnx int8 static"),
        ("tensorrt", "int8", "static", "percentile", "--calibrator applies to onnx int8 static"),
        ("onnx", "int8", "static", "entropy", "unknown calibrator 'entropy': minmax or percentile"),
    ],
)
def test_the_calibrator_choice_is_refused_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    precision: str,
    quant: str | None,
    calibrator: str,
    message: str,
) -> None:
    import echo_edge.checkpoint
    from echo_edge.cli import UsageError
    from echo_edge.export.options import CALIBRATOR_NAMES
    from echo_edge.export.pipeline import export_bundle
    from echo_edge.export.quantize import CALIBRATORS

    assert set(CALIBRATOR_NAMES) == set(CALIBRATORS)

    def no_loading(*_: object) -> None:
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(echo_edge.checkpoint, "load_checkpoint", no_loading)
    with pytest.raises(UsageError, match="^" + message):
        export_bundle(None, backend, precision, tmp_path / "b", quant=quant, calibrator=calibrator)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "backend, precision, keep, onnx_from, message",
    [
        ("onnx", "fp16", ["encoder.blocks.0.mlp.fc2"], None, "--keep-float applies to int8"),
        ("onnx", "fp32", [], None, "--keep-float applies to int8"),  # given, with no path
        ("executorch", "fp32", None, "bundles/onnx-fp32", "--from-onnx applies to onnx and"),
    ],
)
def test_options_the_export_would_not_use_are_refused(
    backend: str, precision: str, keep: list[str] | None, onnx_from: str | None, message: str
) -> None:
    from echo_edge.cli import UsageError
    from echo_edge.export.options import check_options

    with pytest.raises(UsageError, match="^" + message):
        check_options(backend, precision, None, "minmax", keep, onnx_from)
    check_options("onnx", "int8", "static", "percentile", keep, None)  # all used: no error


def test_an_unknown_activation_scheme_is_refused() -> None:
    from echo_edge.cli import UsageError
    from echo_edge.export.options import check_options

    with pytest.raises(UsageError, match="^unknown activations 'signed': asymmetric or symmetric"):
        check_options("onnx", "int8", "static", "minmax", None, None, "signed")
    check_options("onnx", "int8", "static", "minmax", None, None, "symmetric")  # used: no error


@pytest.mark.parametrize(
    "backend, precision, quant, message",
    [
        ("onnx", "int8", "dynamic", "--activations applies to onnx int8 static exports, not"),
        ("onnx", "fp16", None, "--activations applies to onnx int8 static exports, not"),
        ("executorch", "int8", "static", "--activations applies to onnx int8 static"),
        ("tensorrt", "int8", "static", r".* \(always symmetric\)$"),
    ],
)
def test_symmetric_activations_are_onnx_static_only(
    backend: str, precision: str, quant: str | None, message: str
) -> None:
    from echo_edge.cli import UsageError
    from echo_edge.export.options import check_options

    with pytest.raises(UsageError, match="^" + message):
        check_options(backend, precision, quant, "minmax", None, None, "symmetric")
