"""The measurements, the same for every system: frontend, encoder sweep, decoder, latency, RTF, WER.

A system (the PyTorch reference in bench/ref_system.py, a bundle in bench/bundle_system.py)
implements `System`; each function here times it on the same eval audio and returns plain
JSON-ready dicts that keep the raw samples next to the summary. Torch-free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from echo_edge import constants as C
from echo_edge.evalset import EvalUtterance, utterance_of_length
from echo_edge.metrics import word_error_rate

BLOCK_SECONDS = 0.1  # what a microphone worker hands a Stream per read
TARGET_SECONDS = 5.0  # the utterance length of the latency target


@dataclass(frozen=True)
class MeasureOptions:
    lengths: tuple[float, ...]  # encoder sweep, seconds
    repeats: int  # timed runs per measurement
    warmup: int  # untimed runs before each measurement


@dataclass(frozen=True)
class Latency:
    """One end-of-speech -> final measurement."""

    seconds: float  # the call that returned the last final (reference: the whole decode)
    final_at_end: bool  # False: the last utterance gave no final (see finals_before_end)
    finals_before_end: int  # finals the endpointer emitted while audio was still arriving


class System(Protocol):
    """What a measured system offers; every call returns once its work is done (synced)."""

    limit_seconds: float | None  # longest utterance one encoder call takes (None: no limit)

    def features(self, audio: np.ndarray) -> Any: ...
    def encode(self, features: Any) -> Any: ...
    def decode_timed(self, encoded: Any, seconds: float) -> tuple[float, int]:
        """Greedy decoding -> (seconds spent in decoder steps, decoder steps)."""
        ...

    def final_latency(self, audio: np.ndarray) -> Latency: ...
    def transcribe(self, audio: np.ndarray) -> str: ...


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values, np.float64), q))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall-clock seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def frontend_cost(system: System, utts: list[EvalUtterance], opts: MeasureOptions) -> dict:
    """Frontend alone over the eval audio -> ms per second of audio (median of passes)."""
    audio_seconds = sum(u.seconds for u in utts)
    for _ in range(opts.warmup):
        for u in utts:
            system.features(u.audio)
    passes = []
    for _ in range(opts.repeats):
        passes.append(sum(timed(lambda u=u: system.features(u.audio))[0] for u in utts))
    per_second = [1000.0 * s / audio_seconds for s in passes]
    return {"ms_per_s": median(per_second), "samples_ms_per_s": per_second}


def encoder_sweep(system: System, utts: list[EvalUtterance], opts: MeasureOptions) -> list[dict]:
    """Encoder ms per utterance length (features precomputed); null past the system's limit."""
    out = []
    for seconds in opts.lengths:
        entry: dict[str, Any] = {"seconds": seconds, "ms": None, "reason": None, "samples_ms": []}
        limit = system.limit_seconds
        if limit is not None and seconds > limit:
            entry["reason"] = f"longer than the bundle's {limit:g} s limit"
            out.append(entry)
            continue
        features = system.features(utterance_of_length(utts, seconds))
        try:
            for _ in range(opts.warmup):
                system.encode(features)
            samples = [
                1000.0 * timed(lambda f=features: system.encode(f))[0] for _ in range(opts.repeats)
            ]
        except Exception as e:  # a backend's own error types: report, go on with the next length
            entry["reason"] = f"encoder failed: {first_line(e)}"
            out.append(entry)
            continue
        entry.update(ms=median(samples), samples_ms=samples)
        out.append(entry)
    return out


def decoder_cost(system: System, utts: list[EvalUtterance], opts: MeasureOptions) -> dict:
    """Decoder ms per greedy step and steps per utterance.

    `ms_per_token`: median over utterances and repeats. `ms_per_token_best`: median over
    utterances of each one's fastest repeat, which other tenants of a shared CPU disturb
    least (a step is ~1 ms of many small ops: a busy neighbour moves the median 2x)."""
    per_token, best, steps = [], [], []
    for i, u in enumerate(utts):
        encoded = system.encode(system.features(u.audio))
        for _ in range(opts.warmup if i == 0 else 0):
            system.decode_timed(encoded, u.seconds)
        mine = []
        for _ in range(opts.repeats):
            seconds, n = system.decode_timed(encoded, u.seconds)
            mine.append(1000.0 * seconds / max(n, 1))
        per_token += mine
        best.append(min(mine))
        steps.append(n)
    return {
        "ms_per_token": median(per_token),
        "ms_per_token_best": median(best),
        "samples_ms_per_token": per_token,
        "steps": steps,
    }


def final_latency(system: System, audios: list[np.ndarray], opts: MeasureOptions) -> dict:
    """End-of-speech -> final text over `audios` x repeats: p50, p95 and the raw samples."""
    for _ in range(opts.warmup):
        system.final_latency(audios[0])
    runs = [system.final_latency(a) for _ in range(opts.repeats) for a in audios]
    ms = [1000.0 * r.seconds for r in runs if r.final_at_end]
    return {
        "p50_ms": percentile(ms, 50.0) if ms else None,
        "p95_ms": percentile(ms, 95.0) if ms else None,
        "samples_ms": ms,
        "runs": len(runs),
        "without_final_at_end": sum(not r.final_at_end for r in runs),
        "finals_before_end": sum(r.finals_before_end for r in runs),
    }


def offline(system: System, utts: list[EvalUtterance], opts: MeasureOptions) -> dict:
    """Offline transcription of the eval set: RTF (median of passes), transcripts and WER."""
    audio_seconds = sum(u.seconds for u in utts)
    for _ in range(opts.warmup):
        system.transcribe(utts[0].audio)
    rtfs, texts = [], []
    for _ in range(opts.repeats):
        total, texts = 0.0, []
        for u in utts:
            seconds, text = timed(lambda u=u: system.transcribe(u.audio))
            total += seconds
            texts.append(text)
        rtfs.append(total / audio_seconds)
    refs = [u.text for u in utts]
    return {
        "rtf": median(rtfs),
        "samples_rtf": rtfs,
        "audio_seconds": audio_seconds,
        "wer": word_error_rate(refs, texts),
        "transcripts": [{"id": u.id, "ref": u.text, "hyp": t} for u, t in zip(utts, texts)],
    }


def measure_system(
    system: System,
    utts: list[EvalUtterance],
    opts: MeasureOptions,
    stage: Callable[[str], None] = lambda name: None,
) -> dict:
    """Every measurement of one system; `stage` hears the name of each step as it starts."""
    out: dict[str, Any] = {}
    stage("frontend")
    out["frontend"] = frontend_cost(system, utts, opts)
    stage("encoder")
    out["encoder"] = encoder_sweep(system, utts, opts)
    stage("decoder")
    out["decoder"] = decoder_cost(system, utts, opts)
    stage("final latency")
    out["final_latency"] = final_latency(system, [u.audio for u in utts], opts)
    target = utterance_of_length(utts, TARGET_SECONDS)
    out["final_latency_5s"] = final_latency(system, [target], opts)
    stage("offline")
    out["offline"] = offline(system, utts, opts)
    out["eval_audio_seconds"] = round(sum(len(u.audio) for u in utts) / C.SAMPLE_RATE, 3)
    return out
