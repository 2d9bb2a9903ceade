"""Voice-activity candidates for the streaming runtime, scored on the same synthetic audio.

Detectors:
- `adaptive`: the runtime's own (runtime/stream.py): frontend energy and periodicity, a
  noise floor tracked as the sliding minimum of energy, `noise_margin_db` above it, never
  below `start_threshold_dbfs`; DC removed first. Run through a real `Stream` with decoding
  stubbed out, so the segments are exactly what endpointing produces.
- `fixed-40`: the same Stream with the previous rule, a fixed -40 dBFS start threshold.
- `silero`: the ONNX model shipped in the `silero-vad` wheel (no torch: onnxruntime on 512-
  sample windows with its recurrent state), segmented with the runtime's endpointing
  constants: start at p >= 0.5 for 50 ms, end after 0.6 s at p < 0.35.

Audio (16 kHz): espeak-ng sentences (held-out voices) at -20, -35, -50, -55 dBFS RMS with 1 s
before and after, in a quiet room (white noise at -80 dBFS), then the same plus a DC offset
of 0.01; and noise alone, 10 s at -30 dBFS: white, pink (1/f) and babble-like (pink with a
random syllable-rate envelope). Scores: sentences found (a segment overlaps the speech),
mean signed start and end errors of the segments that found it (negative: early; the
runtime starts a segment START_WINDOW + pre-roll, ~0.5 s, before the frame that triggers it,
and ends it END_PAD 0.2 s after the last loud frame, on purpose), extra segments, segments
in noise alone; cost = compute seconds per second of audio, one thread.

    python bench/vad_compare.py --bundle /tmp/bundles/onnx-fp32 --out bench/results/vad

Needs espeak-ng; `pip install --no-deps silero-vad` for the neural candidate (skipped if absent).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from echo_edge.evalset import SENTENCES, held_out_voices, speak

LEVELS_DBFS = (-20.0, -35.0, -50.0, -55.0)
ROOM_NOISE_DBFS = -80.0
DC_OFFSET = 0.01
NOISE_DBFS = -30.0
NOISE_SECONDS = 10.0
PAD_SECONDS = 1.0
SENTENCE_COUNT = 8
NOISE_SEEDS = 3
SILERO_WINDOW = 512  # samples per silero call at 16 kHz ...
SILERO_CONTEXT = 64  # ... after this many samples of the previous window
SILERO_ON, SILERO_OFF = 0.5, 0.35  # speech probability hysteresis
MIN_SPEECH_SECONDS = 0.05  # as StreamOptions.min_voiced_seconds
TRAILING_SECONDS = 0.6  # as StreamOptions.trailing_silence_seconds


def at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(np.square(x, dtype=np.float64)))).astype(
        np.float32
    )


def coloured_noise(seconds: float, kind: str, seed: int) -> np.ndarray:
    """White, pink (1/f) or babble-like (pink under a random 2-6 Hz envelope) noise, unit RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * C.SAMPLE_RATE)
    x = rng.standard_normal(n)
    if kind in ("pink", "babble"):
        x = np.fft.irfft(np.fft.rfft(x) / np.sqrt(np.arange(1, n // 2 + 2)), n)
    if kind == "babble":
        hops = np.cumsum(rng.uniform(1 / 6, 1 / 2, size=int(seconds * 6) + 2))  # syllables
        t = np.arange(n) / C.SAMPLE_RATE
        envelope = np.interp(t, hops, rng.uniform(0.1, 1.0, size=hops.size))
        x = x * envelope
    return at_dbfs(x, 0.0)


@dataclass
class Item:
    audio: np.ndarray
    span: tuple[float, float] | None  # seconds of speech, None for noise alone


def speech_items(level: float, dc: bool) -> list[Item]:
    voices = held_out_voices()
    items = []
    for i in range(SENTENCE_COUNT):
        voice, rate = voices[i % len(voices)]
        clip = speak(SENTENCES[i], voice, rate)
        loud = np.flatnonzero(np.abs(clip) > 0.01 * np.abs(clip).max())
        pad = np.zeros(int(PAD_SECONDS * C.SAMPLE_RATE), np.float32)
        x = np.concatenate([pad, at_dbfs(clip, level), pad])
        x = x + coloured_noise(len(x) / C.SAMPLE_RATE, "white", seed=i) * 10 ** (
            ROOM_NOISE_DBFS / 20
        )
        if dc:
            x = x + DC_OFFSET
        span = (PAD_SECONDS + loud[0] / C.SAMPLE_RATE, PAD_SECONDS + loud[-1] / C.SAMPLE_RATE)
        items.append(Item(x.astype(np.float32), span))
    return items


def noise_items(kind: str) -> list[Item]:
    return [
        Item(at_dbfs(coloured_noise(NOISE_SECONDS, kind, seed=100 + s), NOISE_DBFS), None)
        for s in range(NOISE_SEEDS)
    ]


class StreamVad:
    """The runtime's endpointing (decoding stubbed out): audio -> segments (start, end)."""

    def __init__(self, bundle: str, **options: object) -> None:
        from echo_edge.runtime.recognizer import Decoded, Recognizer

        self.recognizer = Recognizer.from_bundle(bundle, threads=1)
        # Segments only: streams decode through decode_utterance; stub it out.
        self.recognizer.decode_utterance = lambda *args, **kwargs: Decoded([], 0, None)
        self.options = options
        self.compute = self.frontend = self.audio = 0.0

    def __call__(self, x: np.ndarray) -> list[tuple[float, float]]:
        from echo_edge.runtime.stream import StreamOptions

        stream = self.recognizer.create_stream(
            StreamOptions(partial_interval_seconds=0.0, **self.options)
        )
        results, step = [], int(0.1 * C.SAMPLE_RATE)
        for i in range(0, len(x), step):
            results += stream.accept_waveform(C.SAMPLE_RATE, x[i : i + step])
        results += stream.input_finished()
        self.compute += stream.stats.vad_seconds
        self.frontend += stream.stats.frontend_seconds
        self.audio += len(x) / C.SAMPLE_RATE
        return [(r.start, r.end) for r in results if r.final]


class SileroVad:
    """silero-vad's ONNX model on onnxruntime, torch-free, with hysteresis endpointing."""

    def __init__(self) -> None:
        from importlib.resources import files

        import onnxruntime as ort

        path = files("silero_vad") / "data" / "silero_vad.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.compute = self.audio = 0.0

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Speech probability per window of SILERO_WINDOW samples."""
        state = np.zeros((2, 1, 128), np.float32)
        context = np.zeros(SILERO_CONTEXT, np.float32)
        sr = np.array(C.SAMPLE_RATE, np.int64)
        n = len(x) // SILERO_WINDOW
        out = np.zeros(n, np.float32)
        t0 = time.perf_counter()
        for i in range(n):
            window = x[i * SILERO_WINDOW : (i + 1) * SILERO_WINDOW]
            chunk = np.concatenate([context, window])[None]  # (1, 576)
            p, state = self.session.run(None, {"input": chunk, "state": state, "sr": sr})
            out[i], context = float(p[0, 0]), window[-SILERO_CONTEXT:]
        self.compute += time.perf_counter() - t0
        self.audio += len(x) / C.SAMPLE_RATE
        return out

    def __call__(self, x: np.ndarray) -> list[tuple[float, float]]:
        p = self.probabilities(x)
        step = SILERO_WINDOW / C.SAMPLE_RATE
        need, trailing = int(np.ceil(MIN_SPEECH_SECONDS / step)), int(TRAILING_SECONDS / step)
        segments, start, run, last_on = [], None, 0, 0
        for i, prob in enumerate(p):
            if start is None:
                run = run + 1 if prob >= SILERO_ON else 0
                if run >= need:
                    start, last_on = i + 1 - run, i
            elif prob >= SILERO_OFF:
                last_on = i
            elif i - last_on >= trailing:
                segments.append((start * step, (last_on + 1) * step))
                start, run = None, 0
        if start is not None:
            segments.append((start * step, (last_on + 1) * step))
        return segments


@dataclass
class Score:
    items: int = 0
    found: int = 0
    start_errors: list[float] = field(default_factory=list)
    end_errors: list[float] = field(default_factory=list)
    extra: int = 0  # segments that overlap no speech

    def add(self, span: tuple[float, float] | None, segments: list[tuple[float, float]]) -> None:
        self.items += 1
        hits = [s for s in segments if span and s[0] < span[1] and s[1] > span[0]]
        self.extra += len(segments) - len(hits)
        if hits:
            self.found += 1
            self.start_errors.append(hits[0][0] - span[0])
            self.end_errors.append(hits[-1][1] - span[1])

    def to_dict(self) -> dict[str, object]:
        mean = lambda v: round(float(np.mean(v)), 3) if v else None  # noqa: E731
        return {
            "items": self.items,
            "found": self.found,
            "start_error_s": mean(self.start_errors),
            "end_error_s": mean(self.end_errors),
            "false_utterances": self.extra,
        }


def conditions() -> dict[str, list[Item]]:
    out = {}
    for dc in (False, True):
        for level in LEVELS_DBFS:
            out[f"speech {level:g} dBFS{' + DC 0.01' if dc else ''}"] = speech_items(level, dc)
    for kind in ("white", "pink", "babble"):
        out[f"{kind} noise {NOISE_DBFS:g} dBFS"] = noise_items(kind)
    return out


def markdown(report: dict, command: str) -> str:
    names = list(report["detectors"])
    lines = [
        "# Voice-activity candidates",
        "",
        f"`{command}` ({report['machine']})",
        "",
        "found / items, mean signed start / end error (s; negative = early; the runtime's segments"
        " include ~0.5 s of pre-roll and 0.2 s of end pad on purpose), false utterances"
        " (segments over no speech).",
        "",
        "| condition | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for cond in report["conditions"]:
        cells = []
        for name in names:
            s = report["detectors"][name]["scores"][cond]
            err = f", {s['start_error_s']:+.2f}/{s['end_error_s']:+.2f}" if s["found"] else ""
            cells.append(f"{s['found']}/{s['items']}{err}, false {s['false_utterances']}")
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    lines += ["", "| detector | compute s per s of audio |", "|---|---|"]
    for name in names:
        d = report["detectors"][name]
        extra = (
            f" (+ frontend {d['frontend_per_second']:.4f}, needed for ASR anyway)"
            if "frontend_per_second" in d
            else ""
        )
        lines.append(f"| {name} | {d['cost_per_second']:.5f}{extra} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, help="any bundle (its frontend is used)")
    parser.add_argument("--out", type=Path, help="directory for vad_compare.json and .md")
    args = parser.parse_args()

    import platform
    import sys

    detectors: dict[str, object] = {
        "adaptive": StreamVad(args.bundle),
        "fixed-40": StreamVad(args.bundle, start_threshold_dbfs=-40.0, noise_margin_db=0.0),
    }
    try:
        detectors["silero"] = SileroVad()
    except (ImportError, ModuleNotFoundError, FileNotFoundError) as e:
        print(f"silero skipped: {e}")
    conds = conditions()
    report: dict = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, 1 thread",
        "conditions": list(conds),
        "detectors": {},
    }
    for name, detect in detectors.items():
        scores = {}
        for cond, items in conds.items():
            score = Score()
            for item in items:
                score.add(item.span, detect(item.audio))
            scores[cond] = score.to_dict()
        entry = {"scores": scores, "cost_per_second": detect.compute / detect.audio}
        if isinstance(detect, StreamVad):
            entry["frontend_per_second"] = detect.frontend / detect.audio
        report["detectors"][name] = entry
        print(name, json.dumps(scores))
    command = "python " + " ".join(["bench/vad_compare.py", *sys.argv[1:]])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "vad_compare.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "vad_compare.md").write_text(markdown(report, command))
    print(markdown(report, command))


if __name__ == "__main__":
    main()
