"""The `echo-edge` entry point: info works, bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

from echo_edge.model import Echo
from tests.conftest import tiny_config


def echo_edge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "echo_edge.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_info_on_a_checkpoint(tmp_path) -> None:  # noqa: ANN001
    Echo(tiny_config(score="blend", pitch_theta=True)).save_pretrained(tmp_path)
    r = echo_edge("info", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["parameters"] == Echo(tiny_config(score="blend", pitch_theta=True)).num_parameters()
    assert info["seed_features"]["score"] == "blend"
    assert info["seed_features"]["pitch_theta"] is True
    assert info["learned"]["pitch"] == {"gamma": 0.0}


def test_info_default_model_prints_human_summary() -> None:
    r = echo_edge("info")
    assert r.returncode == 0, r.stderr
    assert "parameters" in r.stdout and "seed features" in r.stdout


def test_missing_checkpoint_is_one_line(tmp_path) -> None:  # noqa: ANN001
    r = echo_edge("info", str(tmp_path / "nope"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "nope" in r.stderr
