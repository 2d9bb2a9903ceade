"""The `echo-edge` entry point: info works, bad input is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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


def subparsers(parser: argparse.ArgumentParser, name: str = "echo-edge"):  # noqa: ANN201
    """(name, parser) of `parser` and of every subcommand below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from subparsers(sub, f"{name} {sub_name}")


def test_every_option_has_help_and_names_its_default_once() -> None:
    from echo_edge.cli import build_parser

    seen = 0
    for name, parser in subparsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{label}: no help"
            text = formatter._expand_help(action)
            assert text.lower().count("default") <= 1, f"{label}: {text!r}"
            d = action.default
            if action.option_strings and not (
                d is None or d is False or d in ([], argparse.SUPPRESS)
            ):
                assert "default" in text.lower(), f"{label} hides its default {d!r}: {text!r}"
            seen += 1
    assert seen > 60  # every subcommand was walked


def test_version_and_exit_codes_in_help() -> None:
    r = echo_edge("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"echo-edge \d+\.\d+\.\d+\S*", r.stdout.strip()), r.stdout
    r = echo_edge("--help")
    assert r.returncode == 0
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"^\s+{code}\s+\S", r.stdout, re.MULTILINE), r.stdout


# A fresh interpreter where what a device install lacks cannot be imported, then
# `python -m echo_edge.cli ARGS`.
BLOCKED = ("torch", "transformers", "safetensors", "jiwer", "matplotlib")
RUN_BLOCKED = f"""
import runpy, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Block())
sys.argv = ["echo-edge", *sys.argv[1:]]
runpy.run_module("echo_edge.cli", run_name="__main__", alter_sys=True)
"""
NEEDS_EXTRA = {  # the command lines of tests/test_device_install.py -> the extra named
    ("info",): "echo-edge[train,export]",
    ("demo",): "echo-edge[train,export]",
    ("eval", "--data", "x.jsonl"): "echo-edge[train,export]",
    ("train", "--train", "x.jsonl", "--dev", "x.jsonl"): "echo-edge[train,export]",
    ("export", "--out", "b"): "echo-edge[train,export]",
    ("verify", "b"): "echo-edge[train,export]",
    ("bench",): "echo-edge[bench]",
}


def run_blocked(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN_BLOCKED, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize("command", list(NEEDS_EXTRA), ids=lambda c: c[0])
def test_without_torch_each_command_says_what_to_install(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    r = run_blocked(*command, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.splitlines()  # one line, no traceback
    assert line.startswith(f"echo-edge: error: echo-edge {command[0]} needs "), line
    assert f"pip install '{NEEDS_EXTRA[command]}'" in line
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_without_torch_transcribe_still_starts(tmp_path: Path) -> None:
    r = run_blocked("transcribe", "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "--bundle" in r.stdout and r.stderr == ""


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_transcribe_shows_progress_of_long_files_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import numpy as np
    import soundfile as sf

    from echo_edge.runtime import transcribe as T
    from echo_edge.runtime.recognizer import Recognizer
    from tests.test_runtime import tiny_bundle_root

    t = np.arange(int(3.0 * 16000)) / 16000
    voiced = sum(0.2 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 6))
    sf.write(tmp_path / "long.wav", voiced.astype(np.float32), 16000, subtype="PCM_16")
    sf.write(tmp_path / "short.wav", voiced[:16000].astype(np.float32), 16000, subtype="PCM_16")
    monkeypatch.setattr(T, "PROGRESS_MIN_SECONDS", 2.0)  # "long" is 3 s, "short" 1 s
    parser = T.add_transcribe_args(argparse.ArgumentParser())
    args = parser.parse_args(["--json", str(tmp_path / "long.wav"), str(tmp_path / "short.wav")])
    recognizer = Recognizer.from_bundle(tiny_bundle_root() / "bundle")
    try:
        for stderr in (Terminal(), io.StringIO()):
            monkeypatch.setattr(sys, "stderr", stderr)
            T.run_files(recognizer, args)
            files = json.loads(capsys.readouterr().out)["files"]  # stdout: the JSON only
            assert [f["file"] for f in files] == [args.files[0], args.files[1]]
            bars = [x for x in re.split(r"[\r\n]", stderr.getvalue()) if "s of audio" in x]
            if isinstance(stderr, Terminal):
                assert any(x.startswith("long.wav: ") and "/3 s of audio" in x for x in bars)
                assert not [x for x in bars if "short.wav" in x]  # under PROGRESS_MIN_SECONDS
            else:
                assert bars == []  # not a terminal: no bar
    finally:
        recognizer.close()


def test_export_json_names_the_final_files_after_verify(tmp_path: Path) -> None:
    from echo_edge.runtime.bundle import sha256_file

    Echo(tiny_config()).save_pretrained(tmp_path / "ckpt")
    bundle = tmp_path / "bundle"
    r = echo_edge("export", str(tmp_path / "ckpt"), "--out", str(bundle), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # stdout is the JSON object only; progress is on stderr
    assert summary["bundle"] == str(bundle)
    on_disk = {p.name: p.stat().st_size for p in bundle.iterdir() if p.is_file()}
    assert {f["name"]: f["bytes"] for f in summary["files"]} == on_disk  # verify wrote first
    assert summary["total_bytes"] == sum(on_disk.values())
    assert summary["manifest_sha256"] == sha256_file(bundle / "manifest.json")
    assert summary["verify"]["pass"] in (True, False, None)
    log = r.stderr.splitlines()
    verified = [i for i, line in enumerate(log) if line.startswith("verify: ")]
    sized = [i for i, line in enumerate(log) if line.split()[:1] == ["manifest.json"]]
    assert verified and sized and verified[0] < sized[0], r.stderr  # sizes after the report


def test_export_json_stays_one_object_with_the_percentile_calibrator(tmp_path: Path) -> None:
    """onnxruntime's histogram calibrators print their progress; stdout keeps the JSON only."""
    from tests.speech import require_espeak

    require_espeak()  # the default calibration speech
    Echo(tiny_config()).save_pretrained(tmp_path / "ckpt")
    bundle = tmp_path / "bundle"
    args = ["--precision", "int8", "--quant", "static", "--calibrator", "percentile"]
    r = echo_edge(
        "export", str(tmp_path / "ckpt"), "--out", str(bundle), *args, "--no-verify", "--json"
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["bundle"] == str(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["quantization"]["graphs"]["decoder"]["calibration"] == "Percentile 99.99"
    assert manifest["quantization"]["calibration_data"].startswith("calibration set ")
    assert manifest["quantization"]["calibration_utterances"] == 8


def test_verify_summary_gives_each_figure_its_bound_and_labels_durations() -> None:
    from echo_edge.verify import CHECKS, THRESHOLDS, aggregate, format_report, summary_line

    values = {name: 0.0 for name in CHECKS} | {
        "transcript_agreement": 0.25,  # int8: a near-tie may flip, reported only
        "streaming_transcript_agreement": 0.25,
        "teacher_forced_agreement": 0.97,
        "tokenizer_agreement": 1.0,
        "frontend_silence_agreement": 1.0,
        "logits_rel": 0.05,
    }
    checks = {
        name: aggregate([values[name]], stat, op, THRESHOLDS["int8"][name])
        for name, (stat, op, _) in CHECKS.items()
    }
    report = {
        "bundle": "b",
        "manifest_sha256": "0" * 64,
        "backend": "onnx",
        "precision": "int8",
        "reference": "shipped",
        "reference_sha256": "1" * 64,
        "eval_set": {"source": "espeak-ng", "utterances": 4, "seconds": 11.6},
        "checks": checks,
        "wer": dict.fromkeys(
            ("reference", "bundle", "bundle_streaming", "delta_points", "streaming_delta_points"),
            0.0,
        ),
        "pass": True,
        "elapsed_seconds": 12.0,
        "timings": {
            "reference_seconds": 2.1,
            "eval_set_seconds": 3.0,
            "bundle_seconds": 0.4,
            "checks_seconds": 11.6,
            "total_seconds": 17.3,
        },
    }
    line = summary_line(report)
    assert line.startswith("verify: PASS on 4 utterances (11.6 s of audio, attention greedy)")
    assert "transcripts identical 0.25 (reported, not gated)" in line
    assert "ΔWER +0.00 points (bound <= 0.5)" in line
    assert "logits rel err 0.05 (bound <= 0.15)" in line
    assert "reference 2.1 s, eval set 3.0 s, bundle 0.4 s, checks 11.6 s (total 17.3 s)" in line
    table = format_report(report)
    assert "(reported, not gated)" in table
    assert table.splitlines()[-1] == (
        "PASS: reference 2.1 s, eval set 3.0 s, bundle 0.4 s, checks 11.6 s (total 17.3 s)"
    )


def test_demo_runs_the_reference_on_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import torch

    from echo_edge.demo import run_demo
    from tests.speech import require_espeak

    require_espeak()
    Echo(tiny_config()).save_pretrained(tmp_path)
    seen: list[int] = []
    generate = Echo.generate

    def counting_generate(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(torch.get_num_threads())
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(Echo, "generate", counting_generate)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what a caller had: the reference must not use it
    try:
        assert run_demo(argparse.Namespace(checkpoint=str(tmp_path))) == 0
        assert torch.get_num_threads() == 2  # given back afterwards
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}, seen
    assert "(1 thread)" in capsys.readouterr().out


def test_data_synth_json_counts_what_it_wrote(tmp_path: Path) -> None:
    from tests.speech import require_espeak

    require_espeak()
    out = tmp_path / "corpus"
    r = echo_edge(
        "data", "synth", "--out", str(out), "--hours", "0.003", "--workers", "1", "--json"
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # the progress bar stays on stderr
    assert summary["out"] == str(out)
    counted = 0
    for split, path in summary["manifests"].items():
        rows = Path(path).read_text().splitlines()
        assert len(rows) == summary["splits"][split]["utterances"]
        counted += len(rows)
    assert counted == summary["utterances"] > 0
    assert isinstance(summary["hours"], float) and summary["hours"] > 0
    assert json.loads(Path(summary["summary"]).read_text())["splits"] == summary["splits"]
    assert len(list(Path(summary["audio_dir"]).glob("*.wav"))) == counted


def test_train_json_and_log_lines_carry_numbers(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from echo_edge.cli import main
    from tests.test_train import write_corpus

    manifest = write_corpus(tmp_path)
    status = main(
        ["train", "--train", manifest, "--dev", manifest, "--out", str(tmp_path / "run")]
        + ["--max-steps", "2", "--batch-size", "2", "--workers", "0", "--eval-steps", "2"]
        + ["--max-eval", "2", "--json"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    result = json.loads(out)  # stdout: one JSON object; the logs went to stderr
    assert result["out"] == str(tmp_path / "run")
    assert (Path(result["final"]) / "config.json").is_file()
    assert json.loads(Path(result["summary"]).read_text())["eval"] == result["eval"]
    for key in ("eval_loss", "eval_wer", "eval_token_accuracy"):
        assert isinstance(result["eval"][key], float), key
    assert isinstance(result["train"]["train_loss"], float)
    logs = [json.loads(x) for x in re.split(r"[\r\n]", err) if x.startswith("{")]
    losses = [line["loss"] for line in logs if "loss" in line]
    assert losses and all(isinstance(v, float) for v in losses), logs  # not "%.4g" strings
    assert all(isinstance(line["epoch"], float | int) for line in logs if "epoch" in line)


def test_bench_json_names_what_it_wrote_and_the_targets(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from echo_edge.cli import main
    from tests.speech import require_espeak
    from tests.test_runtime import tiny_bundle_root

    require_espeak()
    bundle = tiny_bundle_root() / "bundle"
    common = ["--lengths", "1", "--repeats", "1", "--warmup", "0", "--limit", "1"]
    status = main(
        ["bench", str(bundle), "--no-reference", *common, "--out", str(tmp_path), "--json"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    written = json.loads(out)  # stdout: the JSON object only (no table)
    results = json.loads(Path(written["results"]).read_text())
    assert written["targets"] == results["targets"] and written["targets"]
    assert Path(written["report"]).is_file() and all(Path(p).is_file() for p in written["plots"])
    assert written["failed"] == []


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["transcribe"], 2),  # nothing to transcribe: usage
        (["transcribe", "--mic", "a.wav"], 2),
        (["bench", "--no-reference"], 2),
        (["bench", "--repeats", "0"], 2),
        (["export", "--backend", "executorch", "--precision", "fp16"], 2),
        (["export", "--precision", "fp16", "--keep-float", "encoder.blocks.0.mlp.fc2"], 2),
        (["export", "--precision", "int8", "--keep-float", "encoder.no_such_layer"], 2),
        (["eval", "--data", "x.jsonl", "--limit", "0"], 2),
        (["transcribe", "--bundle", "no-such-bundle", "a.wav"], 1),  # an input not usable
        (["info", "no-such-checkpoint"], 1),
    ],
)
def test_exit_status_is_the_one_help_documents(
    argv: list[str], status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    from echo_edge.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code == status, err
    (line,) = err.strip().splitlines()
    assert ": error: " in line


def test_interrupted_is_130(capsys) -> None:  # noqa: ANN001
    from echo_edge.cli import EXIT_INTERRUPTED, run

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    assert run(interrupted, argparse.Namespace()) == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "echo-edge: interrupted"


def test_library_import_chatter_is_silenced() -> None:
    pytest.importorskip("torchao")
    code = "from echo_edge.cli import quiet_libraries; quiet_libraries(); import torchao"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Failed to load" not in r.stderr and "_pytree" not in r.stderr, r.stderr
    r = echo_edge("info")
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_the_parser_modules_import_without_torch_or_jiwer(tmp_path: Path) -> None:
    modules = [
        "echo_edge.cli",
        "echo_edge.evaluate",
        "echo_edge.train_args",
        "echo_edge.corpus.synth",
        "echo_edge.bench.args",
        "echo_edge.export.pipeline",
        "echo_edge.export.options",
        "echo_edge.verify_args",
        "echo_edge.runtime.transcribe",
    ]
    code = RUN_BLOCKED.split("sys.argv =")[0] + "".join(f"import {m}\n" for m in modules)
    code += "from echo_edge.cli import build_parser\nbuild_parser()\nprint('ok')\n"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_transcribe_progress_on_a_real_terminal_leaves_json_stdout_alone(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    import numpy as np
    import soundfile as sf

    from tests.test_runtime import tiny_bundle_root

    wav = tmp_path / "long.wav"
    sf.write(wav, np.zeros(61 * 16000, np.float32), 16000, subtype="PCM_16")  # > 60 s
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    bundle = tiny_bundle_root() / "bundle"
    command = [sys.executable, "-m", "echo_edge.cli", "transcribe", "--bundle", str(bundle)]
    with subprocess.Popen(
        [*command, "--json", str(wav)], stdout=subprocess.PIPE, stderr=follower, text=True
    ) as proc:
        out, _ = proc.communicate(timeout=300)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert "s of audio" not in out
    (item,) = json.loads(out)["files"]  # silence: an empty transcript with a warning, exit 0
    assert proc.returncode == 0 and item["text"] == "" and "no speech found" in item["warning"]
    assert b"long.wav:" in shown and b"/61 s of audio" in shown, shown[:300]


def test_transcribe_without_bundle_runs_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from echo_edge.runtime import transcribe as T

    built = tmp_path / "cache" / "onnx-fp32"
    monkeypatch.setattr(T, "default_bundle", lambda log=None: built)  # the torch path
    monkeypatch.setattr(T, "SHIPPED_BUNDLE", tmp_path / "onnx-int8")
    assert T.no_bundle_given() == built  # a tree without the prebuilt bundle: build it
    (tmp_path / "onnx-int8").mkdir()
    assert T.no_bundle_given() == tmp_path / "onnx-int8"  # no export, no torch, no cache


def test_keep_float_is_the_checkpoints_default_unless_given() -> None:
    """No --keep-float: None (static int8 reads the checkpoint's int8.json); --keep-float
    alone: an empty list (keep none); with paths: those."""
    from echo_edge.export.options import add_export_args

    parser = argparse.ArgumentParser()
    add_export_args(parser)
    assert parser.parse_args([]).keep_float is None
    assert parser.parse_args(["--keep-float"]).keep_float == []
    assert parser.parse_args(["--keep-float", "a.b", "c"]).keep_float == ["a.b", "c"]


def test_keep_float_that_took_the_checkpoint_says_so(tmp_path: Path) -> None:
    """`--keep-float MODULE CHECKPOINT` puts the checkpoint in the list: one line that says
    where it belongs, before any export work."""
    Echo(tiny_config()).save_pretrained(tmp_path / "ckpt")
    r = echo_edge(
        "export",
        "--precision",
        "int8",
        "--keep-float",
        "encoder.blocks.0.mlp.fc2",
        str(tmp_path / "ckpt"),
        "--out",
        str(tmp_path / "b"),
    )
    assert r.returncode == 2, r.stderr
    assert f"--keep-float took {tmp_path / 'ckpt'} as a module path" in r.stderr
    assert "put the checkpoint before --keep-float" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "b").exists()
