"""A device install: `pip install .[onnx-runtime,lm]` into a fresh venv, then transcribe.

This is what a user with a plain `pip install` and no torch sees. The test copies the tree
(as git tracks it), installs it with only the runtime extras (onnxruntime and the word LM) into a new virtual environment,
and checks that:
- torch, tokenizers and jiwer are not installed (the runtime needs none of them);
- `echo-edge transcribe a.wav` transcribes an espeak-ng sentence with the shipped bundle,
  with no export, no torch and no cache directory;
- every command that needs torch (or the bench extras) says in one line what to install.

It needs the package registry (pip) and takes about a minute; set ECHO_EDGE_SKIP_VENV_TEST=1
to skip it on a machine without network access.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.test_cli import NEEDS_EXTRA
from tests.test_runtime import ROOT

SENTENCE = "what time does the last train leave tonight"  # the model reads it near-perfectly
EXPECTED = "what time does the last train"
NEEDS_TORCH = NEEDS_EXTRA  # command line -> the extra its one-line message names


def tracked_copy(dest: Path) -> Path:
    """The files git tracks (plus uncommitted edits to them), copied to `dest`."""
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def device_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("ECHO_EDGE_SKIP_VENV_TEST"):
        pytest.skip("ECHO_EDGE_SKIP_VENV_TEST is set")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files to install")
    root = tmp_path_factory.mktemp("device")
    tree = tracked_copy(root / "tree")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{tree}[onnx-runtime,lm]"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return env_dir


def run_in(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ECHO_EDGE_CACHE"] = str(cwd / "no-cache-here")  # must stay unused
    return subprocess.run(
        [str(env_dir / "bin" / "echo-edge"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def test_device_install_has_no_torch(device_venv: Path) -> None:
    python = device_venv / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('torch', 'tokenizers', 'jiwer') if u.find_spec(m)])"
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_device_install_transcribes_with_the_shipped_bundle(
    device_venv: Path, tmp_path: Path
) -> None:
    from tests.speech import require_espeak

    require_espeak()
    wav = tmp_path / "a.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), SENTENCE], check=True)
    proc = run_in(device_venv, "transcribe", str(wav), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert EXPECTED in proc.stdout
    # With the word LM (the lm extra): it loads, so no fallback warning.
    proc = run_in(device_venv, "transcribe", "--lm", str(wav), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr and "Traceback" not in proc.stderr
    assert EXPECTED in proc.stdout
    assert not (tmp_path / "no-cache-here").exists()  # nothing was built or cached


@pytest.mark.parametrize("command", list(NEEDS_TORCH), ids=lambda c: c[0])
def test_commands_that_need_torch_say_what_to_install(
    device_venv: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    proc = run_in(device_venv, *command, cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"pip install '{NEEDS_TORCH[command]}'" in lines[0]
