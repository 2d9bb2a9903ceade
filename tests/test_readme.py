"""The README's quick start and Python example run as written, so the guide cannot rot.

The ```sh block (quick start) runs line by line in a fresh directory with this venv's
`echo-edge` first on PATH; the ```python block then runs in the same directory, on the
speech.wav the quick start wrote. Blocks fenced without a language (install lines, --mic,
export) are not run: they need a device, a network or minutes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_runtime import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    from tests.speech import require_espeak

    require_espeak()
    (script,) = blocks("sh")
    cwd = tmp_path_factory.mktemp("readme")
    outputs = []
    for line in filter(None, (raw.strip() for raw in script.splitlines())):
        proc = subprocess.run(
            shlex.split(line), cwd=cwd, env=env(), capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"{line}: {proc.stderr}"
        assert "Traceback" not in proc.stderr
        outputs.append(proc.stdout)
    return cwd, outputs


def test_readme_quick_start_transcribes(quick_start: tuple[Path, list[str]]) -> None:
    _, outputs = quick_start
    assert "what time does the last train" in outputs[1]
    assert '"text": "what time does the last train' in outputs[2]


def test_readme_python_example_runs(quick_start: tuple[Path, list[str]]) -> None:
    cwd, _ = quick_start
    (example,) = blocks("python")
    proc = subprocess.run(
        [sys.executable, "-c", example], cwd=cwd, env=env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("what time does the last train")
    finals = [line for line in lines if line.startswith("final:")]
    assert finals and "what time does the last train" in finals[-1]
    assert any(line.startswith("partial:") for line in lines)
