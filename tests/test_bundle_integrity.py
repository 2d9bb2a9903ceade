"""What a bundle may make the runtime read, and what export may replace (issue 13).

Placeholder bundles (tests/test_bundle.py's make_bundle) check the manifest's shape and its
file list torch-free; the tiny random model's ONNX bundle (tests/test_runtime.py, cached)
checks what only real graphs show: a config that breaks onnxruntime at run time, external
data, replacing a real bundle, and SIGTERM in the middle of an export.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.export.pipeline import check_out, export_bundle, sigterm_raises
from echo_edge.runtime.backend import BackendError, check_external_data, onnx_external_data
from echo_edge.runtime.bundle import (
    MANIFEST_NAME,
    TOKENIZER_NAME,
    BundleError,
    foreign_content,
    read_bundle,
    sha256_file,
)
from tests.conftest import harmonic
from tests.test_bundle import make_bundle
from tests.test_runtime import ROOT, assert_one_line_error, tiny_bundle_root

DELETE = object()  # edit_manifest: remove the field


def edit_manifest(bundle: Path, **changes: object) -> None:
    """Set (or, given DELETE, remove) top-level fields of a bundle's manifest.json."""
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    for key, value in changes.items():
        if value is DELETE:
            data.pop(key, None)
        else:
            data[key] = value
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))


def forge_tokenizer(bundle: Path) -> None:
    """Swap the ids of "e" and "t" in a bundle's tokenizer.json and edit its sha256 to match:
    a forgery, which checksums cannot catch."""
    path = bundle / TOKENIZER_NAME
    data = json.loads(path.read_text())
    vocab = data["model"]["vocab"]
    vocab["e"], vocab["t"] = vocab["t"], vocab["e"]
    path.write_text(json.dumps(data))
    files = manifest_data(bundle)["files"]
    files[TOKENIZER_NAME] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    edit_manifest(bundle, files=files)


def manifest_data(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST_NAME).read_text())


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def echo_edge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`echo-edge ARGS` in a subprocess, as a user runs it."""
    cmd = [sys.executable, "-m", "echo_edge.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def tiny() -> Path:
    """root/checkpoint and root/bundle: the tiny random model and its ONNX fp32 bundle."""
    return tiny_bundle_root()


@pytest.fixture
def copy(tiny: Path, tmp_path: Path) -> Path:
    """A copy of the tiny ONNX bundle that a test may damage."""
    return Path(shutil.copytree(tiny / "bundle", tmp_path / "bundle"))


# ---- 1. export replaces only a bundle it wrote ------------------------------------------
def test_export_keeps_a_user_directory_with_a_manifest(tmp_path: Path) -> None:
    """The issue's case: a directory of the user's that happens to hold a manifest.json."""
    user = tmp_path / "d"
    user.mkdir()
    (user / MANIFEST_NAME).write_text('{"name":"my app"}\n')
    (user / "notes.txt").write_text("precious\n")
    before = snapshot(user)
    source = make_bundle(tmp_path / "fp32")
    argv = ("export", "--no-verify", "--precision", "fp16", "--from-onnx", str(source))
    proc = echo_edge(*argv, "--out", str(user))
    assert_one_line_error(proc, str(user), "--force")
    assert snapshot(user) == before  # byte for byte
    assert not list(tmp_path.glob(".d.*"))  # no staging or old directory left either


def test_only_a_bundle_with_nothing_unlisted_is_replaced(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    assert foreign_content(bundle) is None
    check_out(bundle, force=False)
    (bundle / "notes.txt").write_text("mine")
    assert "notes.txt" in foreign_content(bundle)
    with pytest.raises(ValueError, match=r"holds notes\.txt, which its manifest\.json does not"):
        check_out(bundle, force=False)
    check_out(bundle, force=True)
    (bundle / "notes.txt").unlink()
    (bundle / "sub").mkdir()  # a directory is never a bundle file
    with pytest.raises(ValueError, match="holds sub"):
        check_out(bundle, force=False)
    (bundle / "sub").rmdir()
    edit_manifest(bundle, format_version=99)  # another format: not one this tool can vouch for
    with pytest.raises(ValueError, match="format version 99.*pass --force"):
        check_out(bundle, force=False)


def test_a_symlinked_out_needs_force(tmp_path: Path) -> None:
    target = make_bundle(tmp_path / "target")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link: pass --force"):
        check_out(tmp_path / "link", force=False)


def test_a_real_bundle_is_replaced_and_force_replaces_a_user_directory(
    tiny: Path, tmp_path: Path
) -> None:
    def fp16(out: Path, force: bool = False) -> Path:
        args = (tiny / "checkpoint", "onnx", "fp16", out)
        return export_bundle(
            *args, onnx_from=tiny / "bundle", force=force, log=lambda _: None, verify=False
        )

    out = fp16(tmp_path / "b")
    first = out.stat().st_ino
    fp16(out)  # our own bundle: replaced (a new directory moved in) without --force
    assert out.stat().st_ino != first and read_bundle(out).precision == "fp16"
    user = tmp_path / "u"
    user.mkdir()
    (user / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="pass --force"):
        fp16(user)
    assert (user / "notes.txt").read_text() == "precious"
    fp16(user, force=True)
    assert sorted(p.name for p in user.iterdir()) == sorted(
        [*read_bundle(user).files, MANIFEST_NAME]
    )
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- 2. every file the runtime reads is listed, inside the bundle --------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        ({"files": ["encoder.onnx"]}, "files is a list, not an object"),
        ({"config": None}, "config is null, not an object"),
        ({"format_version": "1"}, "format_version is the string '1', not the number 1"),
        ({"graphs": DELETE}, "no graphs"),
        ({"graphs": {}}, "graph frontend is missing from graphs"),
        ({"backend": "coreml"}, "unknown backend 'coreml'"),
        ({"checkpoint_sha256": 7}, "checkpoint_sha256 is a number, not a string"),
        ({"extra": 1}, "unknown field 'extra'"),
    ],
)
def test_malformed_manifest_is_one_line(tmp_path: Path, change: dict, message: str) -> None:
    bundle = make_bundle(tmp_path / "b")
    edit_manifest(bundle, **change)
    with pytest.raises(BundleError) as err:
        read_bundle(bundle, check_files=False)
    assert str(err.value).startswith(f"bundle {bundle}: ") and "\n" not in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("n_heads", None, "config has no n_heads"),
        ("n_heads", 0, "config n_heads is 0, not a positive integer"),
        ("d_model", -32, "config d_model is -32, not a positive integer"),
        ("max_target_len", True, "config max_target_len is True, not a positive integer"),
        ("n_heads", 3, "d_model 32 is not a multiple of n_heads 3"),
    ],
)
def test_config_dimensions_are_checked(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    bundle = make_bundle(tmp_path / "b")
    config = manifest_data(bundle)["config"]
    if value is None:
        del config[key]
    else:
        config[key] = value
    edit_manifest(bundle, config=config)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle)


def test_every_file_needs_a_sha256_and_the_tokenizer_is_listed(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    files = manifest_data(bundle)["files"]
    edit_manifest(bundle, files={**files, "encoder.onnx": {"bytes": 101}})
    with pytest.raises(BundleError, match="file encoder.onnx has no sha256"):
        read_bundle(bundle)
    unlisted = {k: v for k, v in files.items() if k != TOKENIZER_NAME}
    edit_manifest(bundle, files=unlisted)
    with pytest.raises(BundleError, match="tokenizer.json is not listed in files with a sha256"):
        read_bundle(bundle)
    edit_manifest(bundle, files={k: v for k, v in files.items() if k != "decoder.onnx"})
    with pytest.raises(
        BundleError, match="graph decoder reads 'decoder.onnx', which is not listed"
    ):
        read_bundle(bundle)
    edit_manifest(bundle, files=files)
    assert read_bundle(bundle).file(TOKENIZER_NAME) == bundle / TOKENIZER_NAME
    with pytest.raises(BundleError, match="notes.txt is not listed"):
        read_bundle(bundle).file("notes.txt")  # no unlisted file is opened through a manifest


@pytest.mark.parametrize("name", ["../../x.onnx", "/tmp/x.onnx", "sub/x.onnx", "..", ".hidden"])
def test_no_listed_path_leaves_the_bundle(tmp_path: Path, name: str) -> None:
    bundle = make_bundle(tmp_path / "a" / "b")
    data = manifest_data(bundle)
    outside = tmp_path / "x.onnx"
    outside.write_bytes(b"graph from elsewhere")
    data["files"][name] = {"sha256": sha256_file(outside), "bytes": outside.stat().st_size}
    data["graphs"]["encoder"]["file"] = name
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="is not a plain name inside the bundle"):
        read_bundle(bundle)


def test_a_symlink_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    outside = tmp_path / "encoder.onnx"
    shutil.move(bundle / "encoder.onnx", outside)  # same bytes: the checksum would agree
    (bundle / "encoder.onnx").symlink_to(outside)
    with pytest.raises(BundleError, match="encoder.onnx is a link out of the bundle"):
        read_bundle(bundle)


def test_onnx_external_data_must_be_listed(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph)
    path = tmp_path / "encoder.onnx"
    onnx.save_model(
        model, path, save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    assert onnx_external_data(path) == ["weights.bin"]
    bundle = make_bundle(tmp_path / "b")
    shutil.copy(path, bundle / "encoder.onnx")
    manifest = read_bundle(bundle, check_files=False)
    with pytest.raises(
        BackendError, match="reads external data 'weights.bin', which is not listed"
    ):
        check_external_data(manifest, bundle / "encoder.onnx")
    manifest.files["weights.bin"] = {"sha256": "0" * 64}
    check_external_data(manifest, bundle / "encoder.onnx")  # listed: checksummed with the rest


def test_exported_graphs_have_no_external_data(tiny: Path) -> None:
    manifest = read_bundle(tiny / "bundle")
    for graph in manifest.graphs:
        assert onnx_external_data(manifest.graph_file(graph)) == []
    assert onnx_external_data(Path(__file__)) == []  # not protobuf: left to the loader


def test_a_config_that_breaks_onnxruntime_is_one_line(copy: Path, tmp_path: Path) -> None:
    """Valid graphs, valid checksums, a config the graphs were not made for (n_heads 4, not 2):
    onnxruntime's InvalidArgument at run time becomes a BackendError naming the graph."""
    from echo_edge.runtime.recognizer import Recognizer

    config = manifest_data(copy)["config"]
    edit_manifest(copy, config={**config, "n_heads": 4})
    recognizer = Recognizer.from_bundle(copy)
    with pytest.raises(BackendError) as err:
        recognizer.recognize(harmonic(1.0))
    assert "decoder graph" in str(err.value) and "\n" not in str(err.value)
    wav = tmp_path / "tone.wav"
    sf.write(wav, harmonic(1.5), 16000)
    proc = subprocess.run(
        [sys.executable, "-m", "echo_edge.runtime.transcribe", "--bundle", str(copy), str(wav)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert_one_line_error(proc, "decoder graph")


# ---- 3. checksums catch corruption, not forgery: the manifest's sha256 pins a bundle ------
def test_a_forged_bundle_loads_but_a_pinned_sha256_refuses_it(copy: Path) -> None:
    pin = read_bundle(copy).manifest_sha256
    assert pin == sha256_file(copy / MANIFEST_NAME)
    assert read_bundle(copy, expected_sha256=pin.upper()).manifest_sha256 == pin
    forge_tokenizer(copy)  # a file and its sha256 edited together
    read_bundle(copy)  # expected: a checksum is not a signature
    with pytest.raises(BundleError, match=f"has sha256 [0-9a-f]{{64}}, not the expected {pin}"):
        read_bundle(copy, expected_sha256=pin)


def test_manifest_names_the_tool_that_wrote_it(tiny: Path) -> None:
    from importlib.metadata import version

    assert read_bundle(tiny / "bundle").exporter["echo-edge"] == version("echo-edge")


# ---- 7. SIGTERM during export leaves nothing behind -----------------------------------------
SLOW_EXPORT = """
import sys, time
import echo_edge.export.pipeline as pipeline
from echo_edge.cli import main

def slow(model, staging, *args):
    (staging / "encoder.onnx").write_bytes(b"half a graph")
    print("exporting", flush=True)
    time.sleep(120)

pipeline._run_exporter = slow
sys.exit(main(["export", sys.argv[1], "--no-verify", "--out", sys.argv[2]]))
"""


def test_sigterm_mid_export_removes_the_staging_directory(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles" / "b"
    script = textwrap.dedent(SLOW_EXPORT)
    cmd = [sys.executable, "-c", script, str(tiny / "checkpoint"), str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.strip() == "exporting":
                break
        assert list(out.parent.glob(".b.partial-*")), "the export did not start staging"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "SIGTERM" in stderr
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no partial, no bundle


TOOLCHAIN_FAILS = """
import sys
import echo_edge.export.pipeline as pipeline
from echo_edge.cli import main

def fails(model, staging, *args):
    (staging / "model.pte").write_bytes(b"half a program")
    raise AssertionError("Invalid partition, found dependency cycles\\n  node: choose_qparams")

pipeline._run_exporter = fails
sys.exit(main(["export", sys.argv[1], "--backend", "executorch", "--no-verify", "--out", sys.argv[2]]))
"""


def test_a_toolchain_failure_is_one_line_and_leaves_nothing(tiny: Path, tmp_path: Path) -> None:
    """XNNPACK's partitioner raising (session 11: dynamic int8 lowering) reaches the user as
    one line naming the backend and the cause, exit 1, with no staging directory left."""
    out = tmp_path / "bundles" / "b"
    cmd = [sys.executable, "-c", TOOLCHAIN_FAILS, str(tiny / "checkpoint"), str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ECHO_EDGE_DEBUG", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(proc, "executorch fp32", "AssertionError", "dependency cycles")
    assert proc.returncode == 1
    assert "choose_qparams" not in proc.stderr  # the first line of the cause only
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no partial, no bundle


def test_our_own_errors_pass_the_toolchain_wrapper_unchanged(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import echo_edge.export.pipeline as pipeline

    def refuses(*args: object) -> None:
        raise ValueError("executorch fp16 is not supported")

    monkeypatch.setattr(pipeline, "_run_exporter", refuses)
    with pytest.raises(ValueError, match="^executorch fp16 is not supported$"):
        export_bundle(tiny / "checkpoint", "onnx", "fp32", tmp_path / "b", verify=False)


def test_the_sigterm_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_:
        with sigterm_raises():
            assert signal.getsignal(signal.SIGTERM) is not before
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises long before this ends
    assert exit_.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
