"""The `echo-edge` entry point: info works, bad input is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from echo_edge.cli import number
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


def test_usage_error_is_one_line_naming_the_flag() -> None:
    r = echo_edge("transcribe", "--threads", "100000", "a.wav")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("echo-edge transcribe: error: argument --threads:") and "100000" in line


@pytest.mark.parametrize(
    ("spec", "text", "ok"),
    [
        (dict(low=0.0, high=1.0), "0.5", True),
        (dict(low=0.0, high=1.0), "1", True),
        (dict(low=0.0, high=1.0), "nan", False),
        (dict(low=0.0, high=1.0), "inf", False),
        (dict(low=0.0, high=1.0), "1.01", False),
        (dict(low=0.0, high=1.0, below=True), "1", False),
        (dict(low=0.0, above=True), "0", False),
        (dict(low=0.0, above=True), "1e300", True),
        (dict(low=0, integer=True), "2.5", False),
        (dict(low=0, integer=True), "-1", False),
        (dict(low=0, integer=True), "7", True),
    ],
)
def test_number_type_refuses_what_it_should(spec: dict, text: str, ok: bool) -> None:
    parse = number(**spec)
    if ok:
        assert parse(text) == float(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError) as error:
            parse(text)
        assert text in str(error.value)
