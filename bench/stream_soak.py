"""Soak test of the streaming runtime: a long stream, faster than real time, flat memory?

Synthesised speech (espeak-ng, several voices) separated by silences is generated on the
fly, never held whole, and pushed through one `Stream` in microphone-sized chunks, paced
`--speed` times faster than real time (0: as fast as it goes). Every `--sample-every`
seconds of audio it records resident memory, how far processing lags behind the pace and
the real-time factor of that stretch; it prints a JSON summary.

    python bench/stream_soak.py --minutes 30 --speed 4 [--bundle B] [--out soak.json]

Torch-free (the default bundle is built once with torch if it is not cached yet).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from echo_edge import constants as C

CHUNK_SECONDS = 0.1  # what a microphone worker hands the stream per read
WARMUP_SECONDS = 60.0  # audio before the memory baseline is taken (allocator warm-up)
SILENCE_RANGE = (0.7, 2.5)  # seconds of pause between utterances
NOISE_DBFS = -70.0  # background noise under everything
SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please turn the kitchen lights off at ten thirty",
    "how far is it from here to the train station",
    "set a timer for twenty five minutes",
    "the weather tomorrow will be cloudy with light rain",
    "call my sister and tell her I will be late",
    "seven hundred and forty two people came to the meeting",
    "can you read me the last message again",
)
VOICES = ("en-us", "en-us+f3", "en+m3", "en-gb+f2")


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc, psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss / 2**20


def synthesize(text: str, voice: str) -> np.ndarray:
    """espeak-ng -> 16 kHz float32; a voiced stand-in when espeak-ng is missing."""
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    if exe is None:
        t = np.arange(int(0.08 * len(text) * C.SAMPLE_RATE)) / C.SAMPLE_RATE
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        return (0.2 * envelope * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    wav = subprocess.run(
        [exe, "-v", voice, "--stdout", text], check=True, capture_output=True
    ).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(x, rate, C.SAMPLE_RATE).astype(np.float32)


def speech_stream(
    seconds: float, seed: int = 0, counts: dict[str, int] | None = None
) -> Iterator[np.ndarray]:
    """CHUNK_SECONDS chunks of utterances and pauses, `seconds` long in all.

    `counts["utterances"]` (if given) counts the utterances that started inside the stream.
    """
    counts = {} if counts is None else counts
    counts.setdefault("utterances", 0)
    rng = np.random.default_rng(seed)
    clips = [synthesize(s, v) for s in SENTENCES for v in VOICES[: 2 + len(s) % 3]]
    chunk = int(CHUNK_SECONDS * C.SAMPLE_RATE)
    total, pending = int(seconds * C.SAMPLE_RATE), np.zeros(0, np.float32)
    noise = 10 ** (NOISE_DBFS / 20)
    sent = 0
    while sent < total:
        while len(pending) < chunk:
            pause = np.zeros(int(rng.uniform(*SILENCE_RANGE) * C.SAMPLE_RATE), np.float32)
            clip = clips[rng.integers(len(clips))] * rng.uniform(0.5, 1.0)
            if sent + len(pending) < total:
                counts["utterances"] += 1
            pending = np.concatenate([pending, clip.astype(np.float32), pause])
        n = min(chunk, total - sent)
        out = pending[:n] + (noise * rng.standard_normal(n)).astype(np.float32)
        pending = pending[n:]
        sent += n
        yield out


def soak(
    bundle: str | Path,
    minutes: float = 30.0,
    speed: float = 4.0,
    sample_every: float = 30.0,
    log: bool = False,
) -> dict[str, object]:
    """Stream `minutes` of audio through one Stream -> the JSON-ready summary."""
    from echo_edge.runtime.recognizer import Recognizer

    recognizer = Recognizer.from_bundle(bundle)
    stream = recognizer.create_stream()
    samples: list[dict[str, float]] = []
    finals = partials = 0
    max_frames = max_frontend = 0
    audio = compute = window_compute = cpu = window_cpu = 0.0
    next_sample = sample_every
    counts: dict[str, int] = {}
    start = time.perf_counter()
    for chunk in speech_stream(minutes * 60.0, counts=counts):
        t0, c0 = time.perf_counter(), time.process_time()
        results = stream.accept_waveform(C.SAMPLE_RATE, chunk)
        spent, spent_cpu = time.perf_counter() - t0, time.process_time() - c0
        compute += spent
        window_compute += spent
        cpu += spent_cpu
        window_cpu += spent_cpu
        audio += len(chunk) / C.SAMPLE_RATE
        finals += sum(r.final for r in results)
        partials += sum(not r.final for r in results)
        max_frames = max(max_frames, stream._frames.size)
        max_frontend = max(max_frontend, len(stream._frontend._buf))
        lag = 0.0
        if speed > 0:
            behind = (time.perf_counter() - start) - audio / speed
            lag = max(0.0, behind)
            if behind < 0:
                time.sleep(-behind)
        if audio >= next_sample:
            row = {"audio_s": round(audio, 1), "rss_mb": round(rss_mb(), 2), "lag_s": round(lag, 3)}
            row["rtf"] = round(window_compute / sample_every, 4)
            row["cpu_rtf"] = round(window_cpu / sample_every, 4)
            samples.append(row)
            window_compute = window_cpu = 0.0
            next_sample += sample_every
            if log:
                print(json.dumps(row), file=sys.stderr, flush=True)
    finals += sum(r.final for r in stream.input_finished())
    # Lost audio: samples handed to the stream that never became frames (at most one hop is
    # expected: the last partial hop) or that the stream did not count as received.
    framed = min(stream._frontend._next * C.HOP, stream._frontend.received)
    lost = audio - framed / C.SAMPLE_RATE
    base = [s for s in samples if s["audio_s"] >= min(WARMUP_SECONDS, audio / 4)] or samples
    half = len(samples) // 2
    return {
        "bundle": str(bundle),
        "audio_minutes": round(audio / 60, 2),
        "speed": speed,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "rtf": round(compute / audio, 4),  # wall-clock processing time / audio time
        "cpu_rtf": round(cpu / audio, 4),  # CPU time of this process (all threads) / audio time
        "cpu_rtf_first_window": samples[0]["cpu_rtf"],
        "cpu_rtf_last_window": samples[-1]["cpu_rtf"],
        "utterances_in": counts["utterances"],
        "finals": finals,
        "partials": partials,
        "lost_audio_seconds": round(lost, 4) + 0.0,  # + 0.0: no "-0.0"
        "rss_baseline_mb": base[0]["rss_mb"],
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "rss_growth_mb": round(max(s["rss_mb"] for s in base) - base[0]["rss_mb"], 2),
        "lag_max_s": max(s["lag_s"] for s in samples),
        "lag_first_half_max_s": max((s["lag_s"] for s in samples[:half]), default=0.0),
        "lag_second_half_max_s": max((s["lag_s"] for s in samples[half:]), default=0.0),
        "max_buffer_frames": max_frames,
        "buffer_capacity_frames": stream._frames.capacity,
        "max_frontend_samples": max_frontend,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="bundle directory (default: the shipped model, cached)")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the stream")
    parser.add_argument("--speed", type=float, default=4.0, help="times real time (0: unpaced)")
    parser.add_argument(
        "--sample-every", type=float, default=30.0, help="seconds of audio per sample"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args(argv)
    if args.bundle is None:
        from echo_edge.runtime.transcribe import default_bundle

        args.bundle = default_bundle()
    report = soak(args.bundle, args.minutes, args.speed, args.sample_every, log=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
