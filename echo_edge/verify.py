"""`echo-edge verify`: a bundle's accuracy drift against its reference checkpoint (DESIGN §8).

    echo-edge verify BUNDLE [--reference CKPT] [--data MANIFEST] [--limit N]
                     [--ctc-weight W] [--expect-sha256 HEX] [--json] [--out REPORT.json] [--store]

Runs echo_edge.verify_checks on every utterance of an eval set, aggregates each check over
utterances (worst and mean), gates it against THRESHOLDS[bundle precision] and returns a
JSON-serialisable report, which names the manifest.json sha256 it verified. Exit status 0
when every gated check passes, 1 when one fails (a one-line "verify failed" on stderr) or on
bad input (the CLI's one-line "error"), 2 when no row of --data is usable (bad rows are
skipped and named). The reference and the bundle decode with the same options (joint
CTC/attention greedy at the runtime's default weight unless --ctc-weight says otherwise;
attention greedy for a bundle without CTC log-probs), and the report records them.
`export_bundle` calls `verify_at_export` and stores the report in the new bundle's manifest.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from echo_edge.evalset import EvalUtterance

if TYPE_CHECKING:  # torch is imported when verification runs, not when the CLI starts
    from echo_edge.model import Echo
    from echo_edge.runtime.bundle import Manifest
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.verify_checks import UtteranceCheck

# The path `echo-edge transcribe` runs (Recognizer.transcribe_samples: voice activity,
# endpoints, one decode per segment), gated at every precision by the int8 ΔWER target: what
# users get may not lose more than the one-pass decode may. The stream's encoder sees only
# the audio the endpointer kept, and long --data recordings split at pauses, so its text may
# differ from the whole-utterance reference for reasons that are not drift: agreement is
# reported, not gated. [shipped model, the 250-utterance default set (2252 words), ONNX:
# ΔWER +0.98 in fp32 (95 % interval -1.08..+2.91), +0.71 in int8 dynamic (-1.94..+3.43):
# the gate fails in fp32 too, from the noisy half (+4.2, interval clear of 0; the clean half
# -1.9); agreement 0.82 / 0.65; tiny random models: 0.00. bench/results/verify/README.md.
# With joint CTC/attention decoding (the default since): fp32 0.00 (-1.43..+1.35), int8
# -0.36 (-1.66..+0.83): both pass, unresolved. bench/results/decoders/README.md]
STREAMING: dict[str, float | None] = {
    "streaming_transcript_agreement": None,
    "streaming_delta_wer_points": 0.5,
}
# Per precision, the bound each check must meet; None: measured and reported, not gated.
# [brackets: the worst value measured over the shipped model's bundles on the default eval
# set and the tiny random models of tests/test_verify.py, ONNX and ExecuTorch alike]
THRESHOLDS: dict[str, dict[str, float | None]] = {
    "fp32": {
        # fp32 graphs run the reference's own ops: only kernels and summation order differ,
        # so errors are float32 rounding (1e-7 per op) grown through the layers; bounds are
        # 10-100x what was seen and far below what any real change to a graph gives (the 1 %
        # weight change of tests/test_verify.py moves cross K/V by ~1e-3).
        "frontend_mel_rel": 1e-5,  # [8.5e-8]
        # On frames that are not silent. YIN's parabolic refinement between two near-equal
        # dips magnifies float32 kernel differences on noisy speech: 2.0e-4 measured on the
        # synth10 test split (ExecuTorch XNNPACK frontend; 1.1e-6 on clean speech). 1e-3 in
        # log-f0 is 0.1 % of f0 (1.7 cents), far below YIN's 20 % gross-error scale.
        "frontend_pitch_max_abs": 1e-3,
        "frontend_silence_agreement": 1.0,  # [1.0]
        "encoder_kv_rel": 1e-4,  # [2.0e-6]
        "encoder_bias_max_abs": 1e-4,  # [0]
        "logits_rel": 1e-4,  # [1.6e-6]
        "logits_max_abs": 1e-3,  # logits reach ~20 in a trained model [7.4e-5]
        # Rounding at 1e-6 flips no argmax here: a different token is a different graph.
        "teacher_forced_agreement": 1.0,
        "transcript_agreement": 1.0,
        "delta_wer_points": 0.0,
        # The runtime pads every frontend call to one window: chunking changes nothing. [0]
        "stream_features_max_abs": 1e-6,
        # The bundle's tokenizer.json gives every id the checkpoint tokenizer's string. [1.0]
        "tokenizer_agreement": 1.0,
        **STREAMING,
    },
    "fp16": {
        # The frontend and the waveform stem stay fp32 in every bundle (DESIGN §6): the
        # frontend and streaming bounds are fp32's at every precision.
        "frontend_mel_rel": 1e-5,
        "frontend_pitch_max_abs": 1e-3,
        "frontend_silence_agreement": 1.0,
        # fp16 keeps 11 significant bits (~5e-4 per rounding), compounded over the layers.
        "encoder_kv_rel": 1e-2,  # [2.2e-3]
        # The bias log(silence_scale) rounded to fp16: half an ulp is 2e-3 at 6.9. [1.5e-3]
        "encoder_bias_max_abs": 1e-2,
        "logits_rel": 1e-2,  # [2.4e-3]
        "logits_max_abs": None,  # grows with the logits' size: the relative error gates
        "teacher_forced_agreement": 0.98,  # mean over utterances [0.998]
        "transcript_agreement": None,  # a near-tie may flip; ΔWER says whether it matters
        "delta_wer_points": 0.5,  # no worse than int8's target [0.0]
        "stream_features_max_abs": 1e-6,
        "tokenizer_agreement": 1.0,
        **STREAMING,
    },
    "int8": {
        "frontend_mel_rel": 1e-5,
        "frontend_pitch_max_abs": 1e-3,
        "frontend_silence_agreement": 1.0,
        # 8-bit weights (per channel) and activations (per tensor): ~1 % per matmul, a few %
        # after the layers; static activation ranges cover less of unseen audio, hence the
        # margin. [tiny models calibrated on 2 utterances: encoder 0.070, logits 0.106;
        # the shipped model: 0.046 / 0.068]
        "encoder_kv_rel": 0.1,
        "encoder_bias_max_abs": 1e-4,  # from the silence flags, not quantised [0]
        "logits_rel": 0.15,
        "logits_max_abs": None,
        "teacher_forced_agreement": 0.9,  # mean over utterances [0.973]
        "transcript_agreement": None,
        # The target for int8. [shipped ONNX int8 dynamic, default set: +0.44 points,
        # 95 % interval -0.91..+1.90 over 2252 words: passes, unresolved; joint CTC/attention
        # decoding, the default: +0.31, -0.53..+1.25]
        "delta_wer_points": 0.5,
        "stream_features_max_abs": 1e-6,
        "tokenizer_agreement": 1.0,
        **STREAMING,
    },
}

# check -> (statistic over utterances that is gated, comparison, label for the table)
CHECKS: dict[str, tuple[str, str, str]] = {
    "frontend_mel_rel": ("max", "<=", "frontend mel, relative error"),
    "frontend_pitch_max_abs": ("max", "<=", "frontend pitch, max abs error"),
    "frontend_silence_agreement": ("min", ">=", "frontend silence flags agree"),
    "encoder_kv_rel": ("max", "<=", "encoder cross K/V, relative error"),
    "encoder_bias_max_abs": ("max", "<=", "encoder key bias, max abs error"),
    "logits_rel": ("max", "<=", "teacher-forced logits, relative error"),
    "logits_max_abs": ("max", "<=", "teacher-forced logits, max abs error"),
    "teacher_forced_agreement": ("mean", ">=", "teacher-forced argmax agreement"),
    "transcript_agreement": ("mean", ">=", "greedy transcripts identical"),
    "delta_wer_points": ("value", "<=", "ΔWER bundle - reference (points)"),
    "stream_features_max_abs": ("max", "<=", "streaming vs offline frames, max abs"),
    "tokenizer_agreement": ("value", ">=", "bundle tokenizer = reference tokenizer"),
    "streaming_transcript_agreement": ("mean", ">=", "streamed transcripts = reference"),
    "streaming_delta_wer_points": ("value", "<=", "ΔWER streamed bundle - reference"),
}
# Checks of one number for the whole eval set (not aggregated over utterances).
SET_CHECKS = ("delta_wer_points", "streaming_delta_wer_points", "tokenizer_agreement")
# The checks of numbers (not of decisions): they hold for any model, trained or random.
NUMERIC_CHECKS = (
    "frontend_mel_rel",
    "frontend_pitch_max_abs",
    "frontend_silence_agreement",
    "encoder_kv_rel",
    "encoder_bias_max_abs",
    "logits_rel",
    "logits_max_abs",
    "stream_features_max_abs",
)
# The reference runs single-threaded, like the runtime's decoder session: greedy steps of one
# token are too small to split, and on a busy machine torch's spinning intra-op threads made
# Echo.generate ~15x slower (2 cores shared with a training job).
REFERENCE_THREADS = 1
EXPORT_UTTERANCES = 4  # the eval set verified at export time: small, seconds to run
SYNTH_SOURCE = "espeak-ng, held-out voices"  # the export-time set
DEFAULT_SOURCE = (
    "default set: held-out espeak-ng and flite voices, held-out sentences, half with noise"
)
SKIPPED_SHOWN = 3  # bad --data rows named in the one-line note (all are counted)
SHA256_ARG = re.compile(r"[0-9a-fA-F]{64}")
# The stages of a verification, as the report's "timings" names them -> their printed label.
TIMINGS = {
    "reference_seconds": "reference",  # loading the reference checkpoint
    "eval_set_seconds": "eval set",  # synthesising or reading the eval speech
    "bundle_seconds": "bundle",  # loading the bundle's tokenizer and sessions
    "checks_seconds": "checks",  # every check, reference and bundle, utterance by utterance
}

Log = Callable[[str], None]


def note(message: str) -> None:
    """One line on stderr (e.g. the default eval set being made on first use)."""
    print(f"echo-edge: {message}", file=sys.stderr, flush=True)


def resolve_reference(
    manifest: Manifest, reference: str | None, force: bool
) -> tuple[Echo, str | None]:
    """(model, checkpoint or None for the shipped model): --reference, else the bundle's source
    checkpoint if it still exists, else the shipped model. Refuses another checkpoint's
    weights unless forced."""
    from echo_edge.checkpoint import checkpoint_sha256, load_checkpoint

    if reference is None:
        source = str(manifest.source.get("checkpoint", ""))
        if source and source != "shipped" and Path(source).exists():
            reference = source
    model, _ = load_checkpoint(reference)  # FileNotFoundError: one line from the CLI
    sha = checkpoint_sha256(reference)
    if sha != manifest.checkpoint_sha256 and not force:
        raise ValueError(
            f"reference {reference or 'shipped model'} (sha256 {sha[:12]}) is not the "
            f"checkpoint bundle {manifest.path} was exported from "
            f"({manifest.checkpoint_sha256[:12]}): pass --reference CKPT, or "
            f"--force-reference to compare anyway"
        )
    return model.eval(), reference


def aggregate(values: list[float], stat: str, op: str, threshold: float | None) -> dict:
    """One check over utterances -> {value, mean, worst, threshold, op, pass}."""
    arr = np.asarray(values, np.float64)
    worst = float(arr.max() if op == "<=" else arr.min())  # NaN propagates: a failure
    mean = float(arr.mean())
    value = {"max": worst, "min": worst, "mean": mean, "value": float(arr[0])}[stat]
    passed = (
        None
        if threshold is None
        else bool(value <= threshold if op == "<=" else value >= threshold)
    )
    return {
        "value": _json_float(value),
        "mean": _json_float(mean),
        "worst": _json_float(worst),
        "threshold": threshold,
        "op": op,
        "pass": passed,
    }


def _json_float(x: float) -> float | None:
    """4 significant digits; None for NaN or infinity (strict JSON has neither)."""
    return float(f"{x:.4g}") if x == x and abs(x) != float("inf") else None


def versions(backend: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    names = ["echo-edge", "torch", "numpy", "onnxruntime" if backend == "onnx" else backend]
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def verify_bundle(
    bundle: str | Path,
    model: Echo,
    reference: str | Path | None,
    utterances: list[EvalUtterance],
    source: str,
    progress: bool = False,
    expected_sha256: str | None = None,
    decoding: DecodingOptions | None = None,
) -> dict:
    """Check a bundle against `model`, loaded from checkpoint `reference` (None: the shipped
    model), on `utterances` described by `source` -> the report (JSON-serialisable).
    `expected_sha256`: refuse a bundle whose manifest.json has another sha256. `decoding`:
    the search both sides run (default DecodingOptions(): joint CTC/attention greedy)."""
    from dataclasses import replace

    import torch
    from tqdm import tqdm

    from echo_edge.bootstrap import wer_report
    from echo_edge.checkpoint import checkpoint_sha256
    from echo_edge.decoding import DecodingOptions as ReferenceOptions
    from echo_edge.export.pipeline import load_tokenizer
    from echo_edge.metrics import word_error_rate
    from echo_edge.runtime.bundle import MANIFEST_NAME, BundleError
    from echo_edge.runtime.decoding import DecodingOptions, search_name
    from echo_edge.runtime.lm import lm_available
    from echo_edge.runtime.recognizer import Recognizer
    from echo_edge.verify_checks import check_utterance, tokenizer_agreement

    start = time.perf_counter()
    # The reference decodes with the checkpoint's own tokenizer (as the bundle was exported).
    tokenizer = load_tokenizer(reference, model.config.vocab_size)
    recognizer = Recognizer.from_bundle(bundle)
    loaded = time.perf_counter()
    manifest = recognizer.manifest
    if expected_sha256 is not None and manifest.manifest_sha256 != expected_sha256.lower():
        recognizer.close()
        raise BundleError(
            f"bundle {bundle}: {MANIFEST_NAME} has sha256 {manifest.manifest_sha256}, not the "
            f"expected {expected_sha256.lower()}"
        )
    if manifest.precision not in THRESHOLDS:
        raise ValueError(f"bundle {bundle}: no verify thresholds for {manifest.precision}")
    thresholds = THRESHOLDS[manifest.precision]
    decoding = decoding or DecodingOptions()
    if decoding.ctc_weight > 0 and not recognizer.backend.has_ctc:
        # No CTC log-probs: the runtime decodes this bundle's finals with attention greedy,
        # so the reference must too (a reference CTC head would otherwise be a difference
        # that is not drift).
        decoding = replace(decoding, ctc_weight=0.0)
    if decoding.lm_weight > 0 and not (decoding.ctc_weight > 0 and lm_available()):
        # No joint scores, or no word model here: both sides decode finals without the LM.
        decoding = replace(decoding, lm_weight=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(REFERENCE_THREADS)
    try:
        items = tqdm(utterances, desc="verify", unit="utt", disable=not progress or None)
        checks = [check_utterance(model, tokenizer, recognizer, u, decoding) for u in items]
    finally:
        torch.set_num_threads(threads)
        recognizer.close()
    checked = time.perf_counter()
    truth = [c.truth for c in checks]
    wer = {
        "reference": word_error_rate(truth, [c.reference for c in checks]),
        "bundle": word_error_rate(truth, [c.bundle for c in checks]),
        "bundle_streaming": word_error_rate(truth, [c.bundle_streaming for c in checks]),
    }
    wer["delta_points"] = 100.0 * (wer["bundle"] - wer["reference"])
    wer["streaming_delta_points"] = 100.0 * (wer["bundle_streaming"] - wer["reference"])
    whole_set = {
        "delta_wer_points": wer["delta_points"],
        "streaming_delta_wer_points": wer["streaming_delta_points"],
        "tokenizer_agreement": tokenizer_agreement(recognizer.tokenizer, tokenizer),
    }
    results = {}
    for name, (stat, op, _) in CHECKS.items():
        values = [whole_set[name]] if name in SET_CHECKS else [getattr(c, name) for c in checks]
        results[name] = aggregate(values, stat, op, thresholds.get(name))
    texts = (truth, [c.reference for c in checks], [c.bundle for c in checks])
    texts += ([c.bundle_streaming for c in checks],)
    overall = wer_report(*texts)  # the gate reads the point estimates above: the same numbers
    return {
        "bundle": str(bundle),
        "manifest_sha256": manifest.manifest_sha256,
        "backend": manifest.backend,
        "precision": manifest.precision,
        "quantization": manifest.quantization.get("scheme"),
        "reference": str(reference) if reference is not None else "shipped",
        "checkpoint_sha256": manifest.checkpoint_sha256,
        "reference_sha256": checkpoint_sha256(reference),
        "eval_set": {
            "source": source,
            "utterances": len(checks),
            "words": overall["words"],
            "seconds": round(sum(c.seconds for c in checks), 2),
        },
        # The search both sides ran: the bundle's (runtime) options and the reference's.
        "decoding": {
            "search": search_name(decoding.ctc_weight, decoding.lm_weight, decoding.beam),
            "bundle": asdict(decoding),
            "reference": asdict(ReferenceOptions.like(decoding)),
        },
        "checks": results,
        "wer": {k: round(v, 4) for k, v in wer.items()},
        # ΔWER points with the paired bootstrap 95 % interval over utterances and the words
        # scored (echo_edge.bootstrap): the gate is on the points, the interval says how far
        # the eval set can resolve them.
        "delta_wer": overall["delta_wer"],
        "streaming_delta_wer": overall["streaming_delta_wer"],
        # The same per engine (espeak-ng, flite, a --data manifest's "engine": festival) and
        # per condition (clean / noisy), where the eval set says.
        "wer_by": wer_groups(checks, texts),
        "utterances": [
            {k: (_json_float(v) if isinstance(v, float) else v) for k, v in c.to_dict().items()}
            for c in checks
        ],
        "thresholds": thresholds,
        "pass": all(r["pass"] is not False for r in results.values()),
        "elapsed_seconds": round(time.perf_counter() - start, 2),
        # Where the time went (TIMINGS): the bundle's tokenizer and sessions, then every
        # check; the callers add loading the reference and making the eval set (`timed`).
        "timings": {
            "bundle_seconds": round(loaded - start, 2),
            "checks_seconds": round(checked - loaded, 2),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(manifest.backend),
    }


def decoding_label(report: dict) -> str:
    """The search a report's transcripts came from ("attention greedy" for an older report)."""
    return (report.get("decoding") or {}).get("search", "attention greedy")


def wer_groups(checks: list[UtteranceCheck], texts: tuple[list[str], ...]) -> dict[str, dict]:
    """{"engine": {name: wer_report}, "condition": {"clean" | "noisy": wer_report}}, each
    grouping only where some utterance says which group it is in."""
    from echo_edge.bootstrap import wer_by

    labels = {
        "engine": [c.engine or "unknown" for c in checks],
        "condition": [
            "clean" if c.condition == "clean" else "noisy" if c.condition else "unknown"
            for c in checks
        ],
    }
    return {
        key: wer_by(groups, *texts)
        for key, groups in labels.items()
        if any(g != "unknown" for g in groups)
    }


def failures(report: dict) -> list[str]:
    """'check value > threshold' for every gated check that failed."""
    out = []
    for name, r in report["checks"].items():
        if r["pass"] is False:
            bad = {"<=": ">", ">=": "<"}[r["op"]]
            out.append(f"{name} {r['value']} {bad} {r['threshold']}")
    return out


def bound(result: dict) -> str:
    """A check's gate as a user reads it: "bound <= 0.5", or "reported, not gated"."""
    if result["threshold"] is None:
        return "reported, not gated"
    return f"bound {result['op']} {result['threshold']:g}"


def durations(report: dict) -> str:
    """Each stage of the report's "timings" that was measured, labelled, and the total:
    "reference 2.1 s, eval set 3.0 s, bundle 0.4 s, checks 11.6 s (total 17.3 s)"."""
    t = report.get("timings") or {}
    parts = [f"{label} {t[key]:.1f} s" for key, label in TIMINGS.items() if key in t]
    total = f"total {t.get('total_seconds', report['elapsed_seconds']):.1f} s"
    return f"{', '.join(parts)} ({total})" if parts else total


def timed(report: dict, reference_seconds: float, eval_set_seconds: float, start: float) -> dict:
    """The report with the stages its caller ran before verify_bundle added to "timings"."""
    t = report.setdefault("timings", {})
    t.update(reference_seconds=round(reference_seconds, 2))
    t.update(eval_set_seconds=round(eval_set_seconds, 2))
    t["total_seconds"] = round(time.perf_counter() - start, 2)
    return report


def summary_line(report: dict) -> str:
    """One line: PASS/FAIL, agreement, ΔWER and logits error, each with its bound; the time
    taken; the failed checks."""
    if "skipped" in report or "error" in report:
        return f"verify: {'skipped' if 'skipped' in report else 'ERROR'}: " + (
            report.get("skipped") or report["error"]
        )
    c, ev, wer = report["checks"], report["eval_set"], report["wer"]
    line = (
        f"verify: {'PASS' if report['pass'] else 'FAIL'} on {ev['utterances']} utterances "
        f"({ev['seconds']:.1f} s of audio, {decoding_label(report)}): "
        f"transcripts identical {c['transcript_agreement']['value']:.2f} "
        f"({bound(c['transcript_agreement'])}), "
        f"ΔWER {wer['delta_points']:+.2f} points ({bound(c['delta_wer_points'])}), "
        f"streamed {wer['streaming_delta_points']:+.2f} ({bound(c['streaming_delta_wer_points'])}), "
        f"logits rel err {c['logits_rel']['value']:.2g} ({bound(c['logits_rel'])}); "
        f"{durations(report)}"
    )
    bad = failures(report)
    return line + (f"; failed: {'; '.join(bad)}" if bad else "")


def format_report(report: dict) -> str:
    """The human table of `echo-edge verify`."""
    ev, wer = report["eval_set"], report["wer"]
    scheme = f" ({report['quantization']})" if report.get("quantization") else ""
    lines = [
        f"bundle     {report['bundle']}  {report['backend']} {report['precision']}{scheme}",
        f"manifest   sha256 {report['manifest_sha256']}",
        f"reference  {report['reference']}  sha256 {report['reference_sha256'][:12]}",
        f"eval set   {ev['utterances']} utterances, {ev['seconds']:.1f} s of audio, {ev['source']}",
        f"decoding   {decoding_label(report)}, the same on both sides",
        "",
        f"{'check':<40} {'worst':>10} {'mean':>10}  {'threshold':>12}  result",
    ]
    for name, r in report["checks"].items():
        limit = "-" if r["threshold"] is None else f"{r['op']} {r['threshold']:g}"
        result = {True: "pass", False: "FAIL", None: "(reported, not gated)"}[r["pass"]]
        worst = "-" if r["worst"] is None else f"{r['worst']:.3g}"
        lines.append(f"{CHECKS[name][2]:<40} {worst:>10} {r['mean']:>10.3g}  {limit:>12}  {result}")
    c = report["checks"]
    lines += [
        "",
        f"WER reference {100 * wer['reference']:.1f} %, bundle {100 * wer['bundle']:.1f} % "
        f"(ΔWER {wer['delta_points']:+.2f} points, {bound(c['delta_wer_points'])}), bundle "
        f"streamed as `echo-edge transcribe` {100 * wer['bundle_streaming']:.1f} % "
        f"(ΔWER {wer['streaming_delta_points']:+.2f}, {bound(c['streaming_delta_wer_points'])})",
        f"{'PASS' if report['pass'] else 'FAIL'}: {durations(report)}",
    ]
    return "\n".join(lines)


def stored_report(report: dict) -> dict:
    """What `--store` writes into a manifest: the report without its per-utterance
    transcripts (250 utterances are 0.18 MB; the shipped bundle's asset budget has less
    room), which `--out` keeps."""
    kept = {k: v for k, v in report.items() if k != "utterances"}
    kept["utterances_stored"] = False
    return kept


def verify_at_export(bundle: Path, checkpoint: str | Path | None, log: Log) -> dict:
    """Verify a freshly exported bundle on a small synthesised set; store the report.

    Never raises for a failed or impossible verification: the bundle stays, the manifest
    says what happened ({"skipped": why} without espeak-ng, {"error": what} on a fault)."""
    from echo_edge.checkpoint import load_checkpoint
    from echo_edge.evalset import synthesize_eval_set
    from echo_edge.runtime.bundle import set_verify_report

    if shutil.which("espeak-ng") is None:
        report: dict = {"skipped": "espeak-ng is not installed: no eval speech to verify on"}
    else:
        try:
            start = time.perf_counter()
            model, _ = load_checkpoint(checkpoint)
            loaded = time.perf_counter()
            utterances = synthesize_eval_set(EXPORT_UTTERANCES)
            made = time.perf_counter()
            report = verify_bundle(bundle, model.eval(), checkpoint, utterances, SYNTH_SOURCE)
            report = timed(report, loaded - start, made - loaded, start)
        except (RuntimeError, ValueError, OSError) as e:
            report = {"error": str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}
    set_verify_report(bundle, report)
    log(summary_line(report))
    return report


def load_rows(manifest: str | Path, limit: int | None) -> tuple[list[EvalUtterance], list[str]]:
    """The first `limit` usable rows of a JSONL manifest -> (utterances, why each bad row read
    on the way was left out), as `echo-edge eval` reads one (echo_edge.data.read_manifest)."""
    from echo_edge.audio import AudioError, load_audio
    from echo_edge.data import read_manifest
    from echo_edge.text import normalize_text

    skipped: list[str] = []
    utterances: list[EvalUtterance] = []
    for i, row in enumerate(read_manifest(manifest, skipped, check_audio=True)):
        if limit is not None and len(utterances) >= limit:
            break
        try:
            audio = load_audio(row["audio"])
        except AudioError as e:  # unreadable audio costs this row only
            skipped.append(str(e))
            continue
        uid = str(row.get("id", f"{Path(manifest).stem}-{i:05d}"))
        # Our corpus manifests say "augment", the default set's "condition".
        labels = [str(row.get(k) or "") for k in ("voice", "engine")]
        labels.append(str(row.get("condition") or row.get("augment") or ""))
        utterances.append(EvalUtterance(uid, audio, normalize_text(row["text"]), *labels))
    return utterances, skipped


def run_verify(args: argparse.Namespace) -> int:
    """Entry point of `echo-edge verify` -> 0 pass, 1 fail, 2 no usable eval row; bad input
    raises (one line)."""
    from echo_edge.data import NoRowsError, skipped_summary
    from echo_edge.evalset import recipe, recipe_key, verify_set
    from echo_edge.runtime.bundle import BundleError, read_bundle, set_verify_report
    from echo_edge.runtime.decoding import DecodingOptions

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, not {args.limit}")
    pin = args.expect_sha256
    if pin is not None and not SHA256_ARG.fullmatch(pin):
        raise ValueError(f"--expect-sha256 takes 64 hex digits, not {pin!r}")
    try:
        manifest = read_bundle(args.bundle, expected_sha256=pin)
    except BundleError as e:
        raise ValueError(str(e)) from e
    start = time.perf_counter()
    model, reference = resolve_reference(manifest, args.reference, args.force_reference)
    loaded = time.perf_counter()
    skipped: list[str] = []
    if args.data is None:
        utterances = verify_set(args.limit, progress=True, log=note)
        source = f"{DEFAULT_SOURCE} (recipe {recipe_key(recipe())})"
    else:
        utterances, skipped = load_rows(args.data, args.limit)
        source = str(args.data)
        total = len(utterances) + len(skipped)
        summary = skipped_summary(skipped, total, args.data, SKIPPED_SHOWN) if skipped else ""
        if not utterances:  # exit status 2, one line
            why = f": {summary}" if summary else " (it is empty)"
            raise NoRowsError(f"{args.data}: no rows to verify on{why}")
        if skipped:
            print(f"echo-edge: warning: {args.data}: {summary}", file=sys.stderr)
    made = time.perf_counter()
    decoding = DecodingOptions(ctc_weight=args.ctc_weight, lm_weight=args.lm_weight)
    report = verify_bundle(args.bundle, model, reference, utterances, source, True, pin, decoding)
    report = timed(report, loaded - start, made - loaded, start)
    report["eval_set"]["skipped_rows"] = len(skipped)
    report["eval_set"]["skipped_first"] = skipped[:SKIPPED_SHOWN]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.store:
        stored = set_verify_report(args.bundle, stored_report(report))
        print(
            f"echo-edge: report stored in {stored.path / 'manifest.json'}; its sha256 is now "
            f"{stored.manifest_sha256}",
            file=sys.stderr,
        )
    if not report["pass"]:
        print(f"echo-edge: verify failed: {'; '.join(failures(report))}", file=sys.stderr)
        return 1
    return 0
