"""`echo-edge verify`: bundles against their reference, on tiny random models and the shipped one.

Tiny random models (tests/test_runtime.py's cached ONNX fp32 bundle and variants converted
from its graphs) are verified on TINY_UTTERANCES synthesised utterances: every numeric check
must hold at every precision, fp32 must pass outright with identical transcripts, and a
perturbed reference must fail. The shipped model's bundles are verified on verify's default
eval set (echo_edge.evalset.verify_set, 250 utterances): fp32 must reproduce the reference
transcript on each of its first SHIPPED_FP32_UTTERANCES; int8 must meet the numeric bounds on
all of them, and its ΔWER target (≤ 0.5 points; the figures measured, with their bootstrap
intervals, are next to that test). ΔWER intervals are checked on hand-made word counts.
ExecuTorch exports take minutes each: those tests run with ECHO_EDGE_SLOW_TESTS=1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from echo_edge.bootstrap import WordErrors, delta_wer, wer_by, word_errors
from echo_edge.checkpoint import has_default_model, load_checkpoint
from echo_edge.cli import cmd_verify, run
from echo_edge.evalset import EvalUtterance, eval_set, verify_set
from echo_edge.export.pipeline import export_bundle
from echo_edge.metrics import word_error_rate
from echo_edge.model import Echo
from echo_edge.runtime.bundle import read_bundle, set_verify_report, sha256_file
from echo_edge.verify import (
    CHECKS,
    EXPORT_UTTERANCES,
    NUMERIC_CHECKS,
    STREAMING,
    THRESHOLDS,
    aggregate,
    load_rows,
    resolve_reference,
    verify_at_export,
    verify_bundle,
)
from echo_edge.verify_args import add_verify_args
from tests.conftest import harmonic, write_calibration_manifest
from tests.test_bundle_integrity import forge_tokenizer
from tests.test_runtime import SLOW_ENV, tiny_bundle_root
from tests.test_torch_free import run_blocked

TINY_UTTERANCES = 2  # random models decode to the token cap: keep their eval set small
SHIPPED_FP32_UTTERANCES = 50  # of the default set (250): 48 s instead of ~3.5 min
ONNX_VARIANTS = (("fp16", "fp16", None), ("int8-dynamic", "int8", "dynamic"))


def require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: no eval speech")


def require_slow(what: str) -> None:
    if not os.environ.get(SLOW_ENV):
        pytest.skip(f"{what} takes minutes: set {SLOW_ENV}=1")
    pytest.importorskip("executorch.runtime", reason="executorch is not installed")


def verify_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`echo-edge verify ARGV` in-process, as the CLI runs it -> (exit status, out, err)."""
    args = add_verify_args(argparse.ArgumentParser()).parse_args(list(argv))
    status = run(cmd_verify, args)
    out, err = capsys.readouterr()
    return status, out, err


def assert_numeric_checks_pass(report: dict) -> None:
    for name in NUMERIC_CHECKS:
        check = report["checks"][name]
        assert check["pass"] is not False, (report["bundle"], name, check)


def assert_passes_with_identical_transcripts(report: dict) -> None:
    failed = {k: v for k, v in report["checks"].items() if v["pass"] is False}
    assert report["pass"] and not failed, failed
    assert report["checks"]["transcript_agreement"]["value"] == 1.0
    assert report["wer"]["delta_points"] == 0.0
    for utt in report["utterances"]:
        assert utt["bundle"] == utt["reference"], utt


# ---- tiny random models ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny() -> Path:
    """root/checkpoint and root/bundle (ONNX fp32, verified at export), shared with test_runtime."""
    require_espeak()
    return tiny_bundle_root()


@pytest.fixture(scope="module")
def reference(tiny: Path) -> Echo:
    return Echo.from_pretrained(tiny / "checkpoint")


@pytest.fixture(scope="module")
def utterances() -> list[EvalUtterance]:
    require_espeak()
    return eval_set(None, TINY_UTTERANCES)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two calibration utterances as a JSONL manifest (int8 static)."""
    require_espeak()
    return write_calibration_manifest(tmp_path_factory.mktemp("calibration"))


@pytest.fixture(scope="module")
def onnx_bundles(
    tiny: Path, calibration: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """fp32 and its fp16 / int8 dynamic / int8 static conversions (no tracing again)."""
    root = tmp_path_factory.mktemp("onnx")
    out = {"fp32": tiny / "bundle"}
    jobs = [*ONNX_VARIANTS, ("int8-static", "int8", "static")]
    for name, precision, quant in jobs:
        out[name] = export_bundle(
            tiny / "checkpoint",
            "onnx",
            precision,
            root / name,
            quant=quant,
            calibration=calibration if quant == "static" else None,
            onnx_from=tiny / "bundle",
            log=lambda _: None,
            verify=False,
        )
    return out


@pytest.fixture(scope="module")
def reports(
    onnx_bundles: dict[str, Path], reference: Echo, tiny: Path, utterances: list[EvalUtterance]
) -> dict[str, dict]:
    return {
        name: verify_bundle(bundle, reference, tiny / "checkpoint", utterances, "test speech")
        for name, bundle in onnx_bundles.items()
    }


def test_tiny_fp32_passes_with_identical_transcripts(reports: dict[str, dict]) -> None:
    assert_passes_with_identical_transcripts(reports["fp32"])
    fp32 = reports["fp32"]["checks"]
    assert fp32["teacher_forced_agreement"]["value"] == 1.0
    assert fp32["stream_features_max_abs"]["value"] == 0.0  # one window size: bit-exact


@pytest.mark.parametrize("name", ["fp32", "fp16", "int8-dynamic", "int8-static"])
def test_tiny_numeric_checks_within_thresholds(reports: dict[str, dict], name: str) -> None:
    report = reports[name]
    assert report["precision"] == name.split("-")[0]
    assert report["thresholds"] == THRESHOLDS[report["precision"]]
    assert_numeric_checks_pass(report)


def test_report_describes_the_run(reports: dict[str, dict], tiny: Path) -> None:
    report = json.loads(json.dumps(reports["int8-static"], allow_nan=False))  # strict JSON
    assert (report["backend"], report["precision"], report["quantization"]) == (
        "onnx",
        "int8",
        "static",
    )
    assert report["reference"] == str(tiny / "checkpoint")
    assert report["reference_sha256"] == report["checkpoint_sha256"]
    assert report["eval_set"]["utterances"] == TINY_UTTERANCES == len(report["utterances"])
    assert report["eval_set"]["seconds"] > 1.0 and report["elapsed_seconds"] > 0
    assert set(report["checks"]) == set(CHECKS)
    for check in report["checks"].values():
        assert {"value", "mean", "worst", "threshold", "pass"} <= set(check)
    assert {"truth", "reference", "bundle", "bundle_streaming"} <= set(report["utterances"][0])
    assert report["versions"]["onnxruntime"] and report["versions"]["torch"] == torch.__version__


@pytest.fixture(scope="module")
def tiny_ctc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Echo, Path]:
    """A seeded random tiny Echo with a peaked CTC head and its ONNX fp32 bundle (not verified
    at export) -> (checkpoint, model, bundle)."""
    from tests.conftest import tiny_config

    root = tmp_path_factory.mktemp("ctc")
    torch.manual_seed(0)
    model = Echo(tiny_config(ctc_weight=0.3)).eval()
    with torch.no_grad():
        model.ctc_head.weight.mul_(30.0)  # a peaked CTC head changes the search
    checkpoint = model.save_pretrained(root / "checkpoint")
    bundle = export_bundle(checkpoint, "onnx", "fp32", root / "b", log=lambda _: None, verify=False)
    return checkpoint, model, bundle


def test_both_sides_decode_with_the_same_options(
    tiny_ctc: tuple[Path, Echo, Path],
    utterances: list[EvalUtterance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from echo_edge.decoding import DecodingOptions as ReferenceOptions
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.runtime.recognizer import Recognizer

    checkpoint, model, bundle = tiny_ctc
    seen: dict[str, list[float]] = {"reference": [], "one pass": [], "streamed": []}
    generate, recognize, transcribe = (
        Echo.generate,
        Recognizer.recognize,
        Recognizer.transcribe_samples,
    )

    def spy_generate(self, x, attention_mask=None, options=None):  # noqa: ANN001, ANN202
        seen["reference"].append((options or ReferenceOptions()).ctc_weight)
        return generate(self, x, attention_mask, options)

    def spy_recognize(self, samples, sample_rate=16000, options=None):  # noqa: ANN001, ANN202
        seen["one pass"].append((options or DecodingOptions()).ctc_weight)
        return recognize(self, samples, sample_rate, options)

    def spy_transcribe(self, samples, sample_rate=16000, options=None):  # noqa: ANN001, ANN202
        seen["streamed"].append(options.decoding.ctc_weight)
        return transcribe(self, samples, sample_rate, options)

    monkeypatch.setattr(Echo, "generate", spy_generate)
    monkeypatch.setattr(Recognizer, "recognize", spy_recognize)
    monkeypatch.setattr(Recognizer, "transcribe_samples", spy_transcribe)
    reports = {}
    for weight in (0.0, 0.3):
        for side in seen.values():
            side.clear()
        decoding = DecodingOptions(ctc_weight=weight)
        reports[weight] = verify_bundle(
            bundle, model, checkpoint, utterances, "t", False, None, decoding
        )
        assert all(side == [weight] * len(utterances) for side in seen.values()), seen
        recorded = reports[weight]["decoding"]
        assert recorded["bundle"]["ctc_weight"] == recorded["reference"]["ctc_weight"] == weight
        assert ("joint" in recorded["search"]) == (weight > 0)
        # fp32 and one search on both sides: the same transcripts, joint or not.
        assert_passes_with_identical_transcripts(reports[weight])
    # The CTC term changed what both sides wrote (the joint search really ran).
    texts = {w: [u["reference"] for u in r["utterances"]] for w, r in reports.items()}
    assert texts[0.0] != texts[0.3]


def test_a_bundle_without_ctc_is_verified_with_attention_greedy(
    tiny: Path, reference: Echo, utterances: list[EvalUtterance]
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no CTC head" fallback warning: verify asks for none
        report = verify_bundle(tiny / "bundle", reference, tiny / "checkpoint", utterances, "t")
    assert report["decoding"]["search"] == "attention greedy"
    assert report["decoding"]["bundle"]["ctc_weight"] == 0.0


def test_export_stores_a_passing_report(tiny: Path) -> None:
    report = read_bundle(tiny / "bundle").verify
    assert report["eval_set"]["utterances"] == EXPORT_UTTERANCES
    assert_passes_with_identical_transcripts(report)


def test_default_reference_is_the_source_checkpoint(onnx_bundles: dict[str, Path]) -> None:
    manifest = read_bundle(onnx_bundles["fp16"])
    _, chosen = resolve_reference(manifest, None, force=False)
    assert chosen == manifest.source["checkpoint"]


def test_cli_passes_and_stores_the_report(tiny: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bundle = Path(shutil.copytree(tiny / "bundle", tmp_path / "bundle"))
    out = tmp_path / "report.json"
    ref = str(tiny / "checkpoint")
    argv = (str(bundle), "--reference", ref, "--limit", "1", "--out", str(out), "--store")
    status, stdout, stderr = verify_cli(capsys, *argv)
    assert status == 0, stderr
    assert "PASS" in stdout and "teacher-forced logits" in stdout
    stored = read_bundle(bundle).verify  # read_bundle checks every file's sha256 again
    full = json.loads(out.read_text())  # --out keeps the transcripts; the manifest does not
    assert full["utterances"] and stored.pop("utterances_stored") is False
    assert stored == {k: v for k, v in full.items() if k != "utterances"}
    # Storing rewrites manifest.json: the pin a user takes now is the one printed.
    assert f"its sha256 is now {sha256_file(bundle / 'manifest.json')}" in stderr
    assert stored["manifest_sha256"] != sha256_file(bundle / "manifest.json")
    assert stored["pass"] and stored["eval_set"]["utterances"] == 1
    status, stdout, _ = verify_cli(
        capsys, str(bundle), "--reference", ref, "--limit", "1", "--json"
    )
    assert status == 0 and json.loads(stdout)["pass"]


def test_forged_tokenizer_fails_and_the_reference_keeps_its_own(
    tiny: Path, reference: Echo, utterances: list[EvalUtterance], tmp_path: Path
) -> None:
    """A tokenizer.json altered in the bundle with its sha256 edited to match loads (checksums
    are not signatures), but verify decodes the reference with the checkpoint's tokenizer."""
    bundle = Path(shutil.copytree(tiny / "bundle", tmp_path / "bundle"))
    forge_tokenizer(bundle)
    report = verify_bundle(bundle, reference, tiny / "checkpoint", utterances, "test speech")
    honest = verify_bundle(tiny / "bundle", reference, tiny / "checkpoint", utterances, "t")
    assert not report["pass"] and report["checks"]["tokenizer_agreement"]["pass"] is False
    assert [u["reference"] for u in report["utterances"]] == [
        u["reference"] for u in honest["utterances"]
    ]


def test_streaming_is_gated_on_its_own(
    tiny: Path,
    reference: Echo,
    utterances: list[EvalUtterance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the streaming path (what `echo-edge transcribe` runs) goes wrong: its line fails,
    the one-pass line still passes."""
    from echo_edge.runtime.recognizer import Recognizer

    honest = Recognizer.transcribe_samples

    def garbled(self: Recognizer, samples, *args, **kwargs):  # noqa: ANN001, ANN202
        transcript = honest(self, samples, *args, **kwargs)
        # More words than any eval sentence has: insertions, whatever the model said.
        transcript.text = (transcript.text + " nobody said this" * 10).strip()
        return transcript

    monkeypatch.setattr(Recognizer, "transcribe_samples", garbled)
    report = verify_bundle(tiny / "bundle", reference, tiny / "checkpoint", utterances, "t")
    checks = report["checks"]
    assert not report["pass"] and checks["streaming_delta_wer_points"]["pass"] is False
    assert checks["streaming_transcript_agreement"]["value"] == 0.0
    assert checks["delta_wer_points"]["pass"] and checks["transcript_agreement"]["pass"]
    assert (
        report["wer"]["streaming_delta_points"] > THRESHOLDS["fp32"]["streaming_delta_wer_points"]
    )


def test_manifest_engines_make_their_own_wer_lines(
    tiny: Path, reference: Echo, utterances: list[EvalUtterance], tmp_path: Path
) -> None:
    """Rows with an "engine" (festival: evaluation only) are scored apart as well as together."""
    sf.write(tmp_path / "a.wav", utterances[0].audio, 16000)
    rows = [
        {"audio": "a.wav", "text": utterances[0].text, "engine": "festival", "voice": "ked"},
        {"audio": "a.wav", "text": utterances[0].text, "augment": "noise=pink@12dB"},
    ]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded, skipped = load_rows(tmp_path / "eval.jsonl", None)
    assert not skipped and [(u.engine, u.voice, u.condition) for u in loaded] == [
        ("festival", "ked", ""),
        ("", "", "noise=pink@12dB"),
    ]
    mixed = [replace(utterances[0], engine="festival"), replace(utterances[1], engine="flite")]
    report = verify_bundle(tiny / "bundle", reference, tiny / "checkpoint", mixed, "t")
    by_engine = report["wer_by"]["engine"]
    assert list(by_engine) == ["festival", "flite"] and "condition" not in report["wer_by"]
    assert by_engine["festival"]["words"] == len(utterances[0].text.split())
    assert sum(g["words"] for g in by_engine.values()) == report["eval_set"]["words"]
    assert report["delta_wer"] == {
        "points": 0.0,
        "ci95": [0.0, 0.0],
        "words": report["eval_set"]["words"],
        "utterances": 2,
    }  # fp32: identical transcripts
    assert report["streaming_delta_wer"]["words"] == report["eval_set"]["words"]


def test_cli_skips_bad_rows_and_names_them(tiny: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    sf.write(tmp_path / "good.wav", harmonic(1.0), 16000)
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really a wav file at all")
    rows = [
        json.dumps({"audio": "good.wav", "text": "a tone"}),
        json.dumps({"audio": "missing.wav", "text": "gone"}),
        json.dumps({"audio": "garbage.wav", "text": "unreadable"}),
        json.dumps({"audio": "good.wav"}),
        "{not json",
    ]
    (tmp_path / "eval.jsonl").write_text("\n".join(rows) + "\n")
    ref = str(tiny / "checkpoint")
    argv = (str(tiny / "bundle"), "--reference", ref, "--data", str(tmp_path / "eval.jsonl"))
    status, stdout, stderr = verify_cli(capsys, *argv, "--json")
    assert status == 0, stderr
    note = stderr.strip().splitlines()
    warning = f"echo-edge: warning: {tmp_path / 'eval.jsonl'}: skipped 4 of 5 rows (line 2: "
    assert len(note) == 1 and note[0].startswith(warning), stderr
    assert "missing.wav" in note[0] and "and 1 more" in note[0]
    report = json.loads(stdout)
    assert report["eval_set"]["utterances"] == 1 and report["eval_set"]["skipped_rows"] == 4
    (tmp_path / "bad.jsonl").write_text("\n".join(rows[1:]) + "\n")
    argv = (str(tiny / "bundle"), "--reference", ref, "--data", str(tmp_path / "bad.jsonl"))
    status, stdout, stderr = verify_cli(capsys, *argv)
    assert status == 2 and stdout == ""
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"echo-edge: error: {tmp_path / 'bad.jsonl'}: no rows to verify on: ")
    assert "skipped 4 of 4 rows" in line


def test_cli_pins_the_manifest_sha256(tiny: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bundle = Path(shutil.copytree(tiny / "bundle", tmp_path / "bundle"))
    pin = read_bundle(bundle).manifest_sha256
    ref = ("--reference", str(tiny / "checkpoint"), "--limit", "1")
    status, stdout, stderr = verify_cli(capsys, str(bundle), *ref, "--expect-sha256", pin, "--json")
    assert status == 0, stderr
    assert json.loads(stdout)["manifest_sha256"] == pin
    forge_tokenizer(bundle)
    status, stdout, stderr = verify_cli(capsys, str(bundle), *ref, "--expect-sha256", pin)
    assert status == 1 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("echo-edge: error: bundle ") and f"not the expected {pin}" in stderr
    status, _, stderr = verify_cli(capsys, str(bundle), "--expect-sha256", "abc")
    assert status == 1 and "--expect-sha256 takes 64 hex digits" in stderr


@pytest.fixture(scope="module")
def perturbed(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference with one encoder MLP weight scaled by 1 %: a model the bundle is not."""
    model = Echo.from_pretrained(tiny / "checkpoint")
    with torch.no_grad():
        model.encoder.blocks[-1].mlp.fc2.weight.mul_(1.01)
    return model.save_pretrained(tmp_path_factory.mktemp("perturbed"))


def test_cli_fails_against_a_perturbed_reference(tiny: Path, perturbed: Path, capsys) -> None:  # noqa: ANN001
    bundle = str(tiny / "bundle")
    status, _, stderr = verify_cli(capsys, bundle, "--reference", str(perturbed), "--limit", "1")
    assert status == 1
    assert (
        stderr.strip().startswith("echo-edge: error: reference") and "--force-reference" in stderr
    )
    argv = (bundle, "--reference", str(perturbed), "--force-reference", "--limit", "1", "--json")
    status, stdout, stderr = verify_cli(capsys, *argv)
    assert status == 1
    assert stderr.strip().startswith("echo-edge: verify failed: ") and "encoder_kv_rel" in stderr
    checks = json.loads(stdout)["checks"]
    assert checks["frontend_mel_rel"]["pass"] and checks["stream_features_max_abs"]["pass"]
    assert checks["encoder_kv_rel"]["pass"] is False and checks["logits_rel"]["pass"] is False


def test_verify_at_export_never_removes_the_bundle(
    tiny: Path, perturbed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = Path(shutil.copytree(tiny / "bundle", tmp_path / "bundle"))
    lines: list[str] = []
    report = verify_at_export(bundle, perturbed, lines.append)  # the wrong model: a failure
    assert report["pass"] is False and lines[-1].startswith("verify: FAIL")
    assert read_bundle(bundle).verify == report
    monkeypatch.setattr(shutil, "which", lambda _: None)  # no espeak-ng on this "machine"
    report = verify_at_export(bundle, tiny / "checkpoint", lines.append)
    assert "espeak-ng" in report["skipped"] and lines[-1].startswith("verify: skipped")
    assert read_bundle(bundle).verify == report


def test_verify_parser_is_torch_free() -> None:
    proc = run_blocked(
        """
        import argparse
        import echo_edge.verify
        from echo_edge.verify_args import add_verify_args
        args = add_verify_args(argparse.ArgumentParser()).parse_args(["b", "--limit", "2"])
        assert args.limit == 2 and not [m for m in sys.modules if m.split(".")[0] == "torch"]
        print("ok")
        """
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_aggregate_gates_the_right_statistic() -> None:
    assert aggregate([1e-6, 3e-5], "max", "<=", 1e-4)["pass"] is True
    assert aggregate([1e-6, 3e-4], "max", "<=", 1e-4)["pass"] is False
    assert aggregate([1.0, 0.9], "mean", ">=", 0.9) == {
        "value": 0.95,
        "mean": 0.95,
        "worst": 0.9,
        "threshold": 0.9,
        "op": ">=",
        "pass": True,
    }
    assert aggregate([float("nan"), 0.0], "max", "<=", 1.0)["pass"] is False
    assert aggregate([float("nan")], "max", "<=", 1.0)["value"] is None  # strict JSON
    assert aggregate([5.0], "max", "<=", None)["pass"] is None  # reported, not gated


# ---- ΔWER intervals (echo_edge.bootstrap) ------------------------------------------------
def errors(words: list[int], edits: list[int]) -> WordErrors:
    return WordErrors(np.asarray(words, np.int64), np.asarray(edits, np.int64))


def test_identical_systems_have_a_zero_interval() -> None:
    same = errors([5, 7, 3, 9], [1, 0, 2, 4])
    assert delta_wer(same, same) == {
        "points": 0.0,
        "ci95": [0.0, 0.0],
        "words": 24,
        "utterances": 4,
    }


def test_one_word_worse_everywhere_is_a_narrow_interval_around_it() -> None:
    rng = np.random.default_rng(1)
    words = rng.integers(4, 16, size=250)
    ref_edits = rng.integers(0, 4, size=250)
    got = delta_wer(errors(words, ref_edits), errors(words, ref_edits + 1))
    points = 100 * 250 / words.sum()
    lo, hi = got["ci95"]
    assert got["points"] == pytest.approx(points, abs=1e-4) and got["words"] == words.sum()
    assert 0 < lo <= points <= hi and hi - lo < 0.2 * points  # only the word counts vary
    # With equal word counts every resample is the same: the interval is the point.
    flat = delta_wer(errors([10] * 50, [0] * 50), errors([10] * 50, [1] * 50))
    assert flat["points"] == 10.0 and flat["ci95"] == [10.0, 10.0]


def test_interval_of_two_utterances_is_exact() -> None:
    """One of two 10-word utterances has one more error: a resample holds it twice (2 / 20
    words, 1/4), once (1 / 20, 1/2) or never (0, 1/4): the 2.5th and 97.5th percentiles are
    0 and 10 points exactly."""
    got = delta_wer(errors([10, 10], [3, 2]), errors([10, 10], [4, 2]))
    assert got == {"points": 5.0, "ci95": [0.0, 10.0], "words": 20, "utterances": 2}


def test_interval_matches_the_normal_width_on_many_utterances() -> None:
    """Equal word counts w: resampled ΔWER = 100 / (n w) * sum of n draws of the per-utterance
    difference, whose sd is 100 / (n w) * sqrt(n) * sd(difference)."""
    rng = np.random.default_rng(2)
    n, w = 400, 10
    diff = rng.choice([-1, 0, 0, 0, 1, 2], size=n)
    base = np.full(n, 3)
    got = delta_wer(errors([w] * n, base), errors([w] * n, base + diff), resamples=4000)
    sd = 100 / (n * w) * np.sqrt(n) * diff.std()
    lo, hi = got["ci95"]
    assert got["points"] == pytest.approx(100 * diff.sum() / (n * w), abs=1e-4)
    assert (hi - lo) == pytest.approx(2 * 1.96 * sd, rel=0.1)
    assert lo < got["points"] < hi


def test_word_errors_add_up_to_the_corpus_wer() -> None:
    truth = ["turn the lights on", "", "call my sister tomorrow", "one two three"]
    hyps = ["turn the light on please", "noise", "call sister tomorrow", "one two three"]
    counted = word_errors(truth, hyps)
    assert counted.words.tolist() == [4, 0, 4, 3] and counted.edits.tolist() == [2, 0, 1, 0]
    assert counted.edits.sum() / counted.words.sum() == pytest.approx(word_error_rate(truth, hyps))
    with pytest.raises(ValueError, match="different references"):
        delta_wer(counted, errors([1, 1, 1, 1], [0, 0, 0, 0]))


def test_wer_by_groups_the_utterances() -> None:
    truth = ["a b c d", "e f g h", "i j"]
    ref = ["a b c d", "e f g x", "i j"]
    got = ["a b c x", "e f g x", "i j"]
    groups = wer_by(["espeak-ng", "festival", "espeak-ng"], truth, ref, got, ref)
    assert list(groups) == ["espeak-ng", "festival"]
    assert groups["espeak-ng"]["words"] == 6 and groups["festival"]["words"] == 4
    assert groups["espeak-ng"]["delta_wer"]["points"] == pytest.approx(100 / 6, abs=1e-3)
    assert groups["festival"]["reference"] == 0.25 and groups["festival"]["bundle"] == 0.25
    assert groups["festival"]["streaming_delta_wer"]["ci95"] == [0.0, 0.0]


@pytest.fixture(scope="module")
def tiny_executorch(
    tiny: Path, calibration: Path, reference: Echo, utterances: list[EvalUtterance]
) -> dict[str, dict]:
    """Verify reports of ExecuTorch fp32 and int8 bundles of the tiny model, exported once into
    the tiny model's cache directory (fp32 where tests/test_runtime.py puts it)."""
    require_slow("exporting the tiny model to ExecuTorch")
    reports = {}
    for precision in ("fp32", "int8"):
        bundle = tiny / ("executorch" if precision == "fp32" else "executorch-int8")
        if not (bundle / "manifest.json").is_file():
            cal = calibration if precision == "int8" else None
            args = (tiny / "checkpoint", "executorch", precision, bundle)
            export_bundle(*args, calibration=cal, log=print, verify=False)
        reports[precision] = verify_bundle(
            bundle, reference, tiny / "checkpoint", utterances, "test speech"
        )
    return reports


@pytest.mark.slow
def test_tiny_executorch_numeric_checks(tiny_executorch: dict[str, dict]) -> None:
    assert_passes_with_identical_transcripts(tiny_executorch["fp32"])
    for report in tiny_executorch.values():
        assert_numeric_checks_pass(report)


# ---- the shipped model -------------------------------------------------------------------
def verified(bundle: Path, model: Echo, utterances: list[EvalUtterance]) -> dict:
    """Verify a bundle of the shipped model and store the report in it (kept with the temp
    directory, for reading the figures after a run)."""
    report = verify_bundle(bundle, model, None, utterances, "default eval set")
    set_verify_report(bundle, report)
    return report


@pytest.fixture(scope="module")
def shipped() -> tuple[Echo, list[EvalUtterance]]:
    """The shipped model and verify's default eval set (made in the cache on first use)."""
    if not has_default_model():
        pytest.skip("no trained model is shipped in echo_edge/assets")
    require_espeak()
    model, _ = load_checkpoint(None)
    return model.eval(), verify_set()


@pytest.fixture(scope="module")
def shipped_onnx(
    shipped: tuple[Echo, list[EvalUtterance]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict]:
    """Verify reports of the shipped model's ONNX fp32 and int8 (default: dynamic) bundles."""
    root = tmp_path_factory.mktemp("shipped-onnx")
    fp32 = export_bundle(None, "onnx", "fp32", root / "fp32", log=lambda _: None, verify=False)
    int8 = export_bundle(
        None, "onnx", "int8", root / "int8", onnx_from=fp32, log=lambda _: None, verify=False
    )
    model, utts = shipped
    # fp32 must reproduce every transcript: the first SHIPPED_FP32_UTTERANCES show it (both
    # engines, clean and noisy); int8's ΔWER needs every word of the set.
    return {
        "fp32": verified(fp32, model, utts[:SHIPPED_FP32_UTTERANCES]),
        "int8": verified(int8, model, utts),
    }


@pytest.fixture(scope="module")
def shipped_executorch(
    shipped: tuple[Echo, list[EvalUtterance]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict]:
    """Verify reports of the shipped model's ExecuTorch fp32 and int8 bundles."""
    require_slow("exporting the shipped model to ExecuTorch")
    root = tmp_path_factory.mktemp("shipped-executorch")
    model, utts = shipped
    reports = {}
    for precision in ("fp32", "int8"):
        bundle = export_bundle(None, "executorch", precision, root / precision, verify=False)
        reports[precision] = verified(bundle, model, utts)
    return reports


def test_shipped_onnx_fp32_reproduces_the_reference(shipped_onnx: dict[str, dict]) -> None:
    """Every check of the export passes with identical transcripts; the streaming line is the
    endpointer's, not the export's (test_shipped_onnx_fp32_streaming_delta_wer)."""
    report = shipped_onnx["fp32"]
    checks = report["checks"].items()
    failed = {k: v for k, v in checks if v["pass"] is False and k not in STREAMING}
    assert not failed, failed
    assert report["checks"]["transcript_agreement"]["value"] == 1.0
    assert report["delta_wer"] == {
        "points": 0.0,
        "ci95": [0.0, 0.0],
        "words": report["eval_set"]["words"],
        "utterances": SHIPPED_FP32_UTTERANCES,
    }
    for utt in report["utterances"]:
        assert utt["bundle"] == utt["reference"], utt


# The endpointed stream that `echo-edge transcribe` runs lost words on noisy audio at every
# precision with stage 5 (default set, 2252 words: fp32 +1.15, int8 +1.42: sentences the
# short-pause rule cuts in two). Stage 8 with the stream rule of session 12 (0.14 s, 7.5 dB)
# passes on the whole set: int8 +0.13 [-1.13, +1.46] (noisy half +0.47, clean half -0.17;
# bench/results/verify/shipped.json), which this test gates, strictly.
def test_shipped_onnx_int8_streaming_delta_wer(shipped_onnx: dict[str, dict]) -> None:
    assert shipped_onnx["int8"]["checks"]["streaming_delta_wer_points"]["pass"]


# fp32 is verified on the first SHIPPED_FP32_UTTERANCES (50, 457 words) only, where the stream
# costs 5 words, +1.09 [-0.46, +3.48] with the session-12 rule (the same as with the old one;
# bench/results/verify/stage8b/fp32-first50.txt); on the whole set fp32 streamed reads +0.40: the
# endpointer's, not the export's. Non-strict, so a stream that stops losing them shows.
@pytest.mark.xfail(
    strict=False,
    reason="stage 8 fp32 on the first 50 utterances: streamed +1.09 (5 of 457 words)",
)
def test_shipped_onnx_fp32_streaming_delta_wer(shipped_onnx: dict[str, dict]) -> None:
    assert shipped_onnx["fp32"]["checks"]["streaming_delta_wer_points"]["pass"]


def test_shipped_onnx_int8_numeric_checks(shipped_onnx: dict[str, dict]) -> None:
    assert_numeric_checks_pass(shipped_onnx["int8"])
    assert shipped_onnx["int8"]["checks"]["teacher_forced_agreement"]["pass"]


# ΔWER on the default set (250 utterances, 2252 words: one word is 0.044 points): stage 8
# +0.18 points, paired bootstrap 95 % interval [-0.41, +0.83] (stage 6 -0.40 [-1.58, +0.67],
# stage 5 +0.40 [-0.41, +1.21], stage 4 +0.44 [-0.91, +1.90]; bench/results/verify/README.md).
# The gate reads the point estimate (#15), which passes, so this test is strict; the interval
# cannot show the 0.5-point bound is met (its half-width comes from the utterances whose
# near-ties int8 flips, not from the word count). The old 8-utterance set (66 words) read
# +4.55 [0.00, +13.43]; festival's 60 utterances (497 words) +0.80 [-4.80, +7.14] (stage 4).
def test_shipped_onnx_int8_delta_wer(shipped_onnx: dict[str, dict]) -> None:
    assert shipped_onnx["int8"]["checks"]["delta_wer_points"]["pass"]


def test_shipped_onnx_int8_delta_wer_has_its_interval(shipped_onnx: dict[str, dict]) -> None:
    """The gate reads the point estimate; the report carries its interval and word count."""
    report = shipped_onnx["int8"]
    for key, check in (("delta_wer", "delta_wer_points"), ("streaming_delta_wer", None)):
        delta = report[key]
        lo, hi = delta["ci95"]
        assert delta["words"] == report["eval_set"]["words"] >= 2000
        assert delta["utterances"] == 250 and lo <= delta["points"] <= hi
        assert hi - lo < 10.0  # 8 utterances gave 13.4 points; 250 give ~3
        if check:
            assert delta["points"] == pytest.approx(report["checks"][check]["value"], abs=1e-3)
    assert set(report["wer_by"]["engine"]) == {"espeak-ng", "flite"}
    assert set(report["wer_by"]["condition"]) == {"clean", "noisy"}


def test_shipped_forged_tokenizer_fails_on_transcripts(
    shipped: tuple[Echo, list[EvalUtterance]], shipped_onnx: dict[str, dict], tmp_path: Path
) -> None:
    """The issue's case: with the bundle's tokenizer on both sides this PASSED at 81.8 % WER."""
    model, utts = shipped
    bundle = Path(shutil.copytree(shipped_onnx["fp32"]["bundle"], tmp_path / "forged"))
    forge_tokenizer(bundle)
    report = verify_bundle(bundle, model, None, utts[:2], "default eval set, 2 utterances")
    honest = shipped_onnx["fp32"]["utterances"][:2]
    assert [u["reference"] for u in report["utterances"]] == [u["reference"] for u in honest]
    assert report["checks"]["transcript_agreement"]["value"] == 0.0
    assert report["wer"]["bundle"] > report["wer"]["reference"] + 0.2
    assert report["checks"]["delta_wer_points"]["pass"] is False and not report["pass"]


@pytest.mark.slow
def test_shipped_executorch_fp32_reproduces_the_reference(
    shipped_executorch: dict[str, dict],
) -> None:
    assert_passes_with_identical_transcripts(shipped_executorch["fp32"])


@pytest.mark.slow
def test_shipped_executorch_int8_numeric_checks(shipped_executorch: dict[str, dict]) -> None:
    assert_numeric_checks_pass(shipped_executorch["int8"])
    assert shipped_executorch["int8"]["checks"]["teacher_forced_agreement"]["pass"]


# The DESIGN target (ΔWER <= 0.5 points): missed by the stage-4 model (+1.52, one word of 66)
# and by stage 8 with every layer int8 (+0.53 on the default set); met since export's static
# int8 defaults (the calibration set, int8.json's layers): stage 8 -0.18 [-1.11, +0.76] one
# pass, -1.20 streamed (bench/results/verify/stage8d/run.sh, the same export and set).
@pytest.mark.slow
def test_shipped_executorch_int8_delta_wer(shipped_executorch: dict[str, dict]) -> None:
    assert shipped_executorch["int8"]["checks"]["delta_wer_points"]["pass"]
