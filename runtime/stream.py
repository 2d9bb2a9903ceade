"""A per-utterance stream: incremental features, endpointing, partial and final results.

`Stream.accept_waveform(sample_rate, samples)` runs the exported frontend only on the left
context plus the new samples and keeps only the frames those samples determine
(`constants.determined_frames`), so chunked frames equal offline frames. Voice activity
comes from the frontend's own energy and voicing streams; an utterance starts on enough
loud voiced frames, ends after a stretch of quiet (a final result) or at a maximum length,
and is re-decoded for a partial result every refresh interval. Buffers hold at most one
utterance plus a little context, however long the stream runs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from echo_edge import constants as C
from echo_edge.runtime.backend import FrontendFrames
from echo_edge.runtime.decoding import DecodingOptions

if TYPE_CHECKING:
    from echo_edge.runtime.recognizer import Recognizer

FRONTEND_MIN_FRAMES = 10  # new frames a streaming frontend call waits for (100 ms)
# Frames one frontend call determines at most; every call reads one fixed-size window
# (zero-padded) so that conv libraries, which pick algorithms by input length and then round
# differently (~1e-4 on log-mel), compute each frame the same way whatever the chunking.
# Small, because a streaming call pays for the whole window however few frames are new.
FRONTEND_MAX_FRAMES = 48
START_WINDOW_SECONDS = 0.3  # the window in which loud voiced frames start an utterance
STOP_HYSTERESIS_DB = 10.0  # speech goes on until energy falls this far below the start threshold
END_PAD_SECONDS = 0.2  # audio kept after the last loud frame in a final
MIN_UTTERANCE_FRAMES = 3  # the encoder's shortest input (20 ms)
PARTIAL_LOAD = 0.5  # share of real time partial results may use; beyond it they come less often


@dataclass(frozen=True)
class StreamOptions:
    # Split the stream at pauses; False: one utterance until max_utterance_seconds or the end.
    endpointing: bool = True
    # A voiced frame louder than this (dBFS) counts towards starting an utterance.
    start_threshold_dbfs: float = -40.0
    # Periodicity (the pitch stream's 1 - min YIN d') that makes a frame count as voiced:
    # ~0.7-0.9 on vowels, ~0.1 on noise.
    voicing_threshold: float = 0.5
    # Loud voiced audio needed within START_WINDOW_SECONDS to start an utterance.
    min_voiced_seconds: float = 0.05
    # Quiet (STOP_HYSTERESIS_DB under the start threshold) that ends an utterance.
    trailing_silence_seconds: float = 0.6
    # Longer utterances are cut here (a final) and continue as a new one.
    max_utterance_seconds: float = 15.0
    # Audio kept before the detected start of speech.
    pre_roll_seconds: float = 0.25
    # Re-decode the open utterance for a partial result this often (audio time); 0: never.
    partial_interval_seconds: float = 0.5
    decoding: DecodingOptions = field(default_factory=DecodingOptions)

    def __post_init__(self) -> None:
        if not 0.1 <= self.max_utterance_seconds <= 60.0:
            raise ValueError("max_utterance_seconds must be between 0.1 and 60")
        for name in ("min_voiced_seconds", "trailing_silence_seconds", "pre_roll_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.partial_interval_seconds < 0:
            raise ValueError("partial_interval_seconds must be >= 0")


@dataclass(frozen=True)
class Result:
    """A partial or final transcript of one utterance; times in seconds from the stream start."""

    text: str
    tokens: tuple[int, ...]
    final: bool
    start: float
    end: float
    utterance: int  # 0, 1, ... in stream order

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "final": self.final,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "utterance": self.utterance,
        }


@dataclass
class StreamStats:
    """Work done so far, for real-time factors and benchmarks."""

    audio_seconds: float = 0.0
    frontend_seconds: float = 0.0
    decode_seconds: float = 0.0  # encoder + decoder
    decoder_calls: int = 0
    partials: int = 0
    finals: int = 0

    @property
    def compute_seconds(self) -> float:
        return self.frontend_seconds + self.decode_seconds


def _frames(seconds: float) -> int:
    return int(round(seconds * C.FRAMES_PER_SECOND))


class FrameBlock(NamedTuple):
    """Consecutive frames first .. first + k - 1 of a stream, with their samples."""

    first: int
    mel: np.ndarray  # (N_MELS, k)
    pitch: np.ndarray  # (3, k)
    energy: np.ndarray  # (k,) dBFS
    silence: np.ndarray  # (k,)
    wave: np.ndarray  # (k * HOP,) the samples of those frames, zero past the end of input


class IncrementalFrontend:
    """The exported frontend on (left context + new samples), yielding only new frames.

    Keeps samples from `window_start(next frame)` on: at most the left context, one HOP and
    whatever has not yet determined a frame, so memory does not grow with the stream.
    """

    def __init__(
        self, frontend: Callable[[np.ndarray], FrontendFrames], left: int, ahead: int
    ) -> None:
        self.frontend = frontend
        self.left, self.ahead = left, ahead
        self.max_block = FRONTEND_MAX_FRAMES
        # Samples one call reads: left context, max_block frames, look-ahead.
        self.window = (FRONTEND_MAX_FRAMES - 1 + -(-left // C.HOP)) * C.HOP + ahead + 1
        self.received = 0  # samples pushed so far
        self._buf = np.zeros(0, np.float32)  # samples [self._start, self.received)
        self._start = 0
        self._next = 0  # the next frame to compute

    def push(self, samples: np.ndarray, final: bool = False) -> Iterator[FrameBlock]:
        """Append samples; yield the frames they determine (all remaining ones when final)."""
        if len(samples):
            self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
            self.received += len(samples)
        min_new = 1 if final else FRONTEND_MIN_FRAMES
        while True:
            start = C.window_start(self._next, self.left)
            self._buf = self._buf[start - self._start :]
            self._start = start
            span = (self._next + self.max_block - 1) * C.HOP + self.ahead + 1 - start
            end = min(self.received, start + span)
            last = final and end == self.received
            _, stop = C.determined_frames(start, end - start, last, self.left, self.ahead)
            stop = min(stop, self._next + self.max_block)
            if stop - self._next < min_new:
                return
            yield self._compute(start, end, stop)
            self._next = stop

    def _compute(self, start: int, end: int, stop: int) -> FrameBlock:
        # Every call gets the same length, zero-padded after `end`: the determined frames
        # never read the padding (or, at the end of input, read the zeros that are there),
        # and one input shape means one conv algorithm, so frames do not depend on chunking.
        x = np.zeros(self.window, np.float32)
        x[: end - start] = self._buf[: end - start]
        out = self.frontend(x[None])
        a, b = self._next - start // C.HOP, stop - start // C.HOP  # buffer-local frames
        wave = x[self._next * C.HOP - start : stop * C.HOP - start]
        return FrameBlock(
            self._next,
            out.mel[0, :, a:b],
            out.pitch[0, :, a:b],
            out.energy[0, a:b],
            out.silence[0, a:b],
            wave.copy(),
        )


class FrameBuffer:
    """Frames of the open utterance (and a little before it) in fixed, preallocated arrays."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.mel = np.zeros((C.N_MELS, capacity), np.float32)
        self.pitch = np.zeros((3, capacity), np.float32)
        self.silence = np.zeros(capacity, np.float32)
        self.wave = np.zeros(capacity * C.HOP, np.float32)
        self.first = 0  # global index of the first frame held
        self.size = 0

    @property
    def end(self) -> int:
        return self.first + self.size

    def append(self, block: FrameBlock) -> None:
        k = block.energy.shape[0]
        assert block.first == self.end, (block.first, self.end)
        assert self.size + k <= self.capacity, "frame buffer overflow"
        i = self.size
        self.mel[:, i : i + k] = block.mel
        self.pitch[:, i : i + k] = block.pitch
        self.silence[i : i + k] = block.silence
        self.wave[i * C.HOP : (i + k) * C.HOP] = block.wave
        self.size += k

    def drop_before(self, frame: int) -> None:
        """Forget frames before `frame`, moving the rest to the front."""
        n = min(max(frame - self.first, 0), self.size)
        if n == 0:
            return
        keep = self.size - n
        self.mel[:, :keep] = self.mel[:, n : self.size]
        self.pitch[:, :keep] = self.pitch[:, n : self.size]
        self.silence[:keep] = self.silence[n : self.size]
        self.wave[: keep * C.HOP] = self.wave[n * C.HOP : self.size * C.HOP]
        self.first += n
        self.size = keep

    def window(self, start: int, end: int) -> tuple[np.ndarray, ...]:
        """Batch-1 encoder inputs for frames [start, end): mel, pitch, silence, wave."""
        a, b = start - self.first, end - self.first
        assert 0 <= a < b <= self.size, (start, end, self.first, self.size)
        return (
            self.mel[None, :, a:b].copy(),  # (1, N_MELS, T)
            self.pitch[None, :, a:b].copy(),  # (1, 3, T)
            self.silence[None, a:b].copy(),  # (1, T)
            self.wave[None, a * C.HOP : b * C.HOP].copy(),  # (1, T * HOP)
        )


class Stream:
    """Audio in, results out: one per final utterance plus partials while speech goes on."""

    def __init__(self, recognizer: Recognizer, options: StreamOptions | None = None) -> None:
        self.recognizer = recognizer
        self.options = opts = options or StreamOptions()
        limit = recognizer.max_utterance_seconds
        if opts.max_utterance_seconds > limit:
            raise ValueError(
                f"max_utterance_seconds {opts.max_utterance_seconds} exceeds the bundle's {limit} s"
            )
        self._max = _frames(opts.max_utterance_seconds)
        self._window = _frames(START_WINDOW_SECONDS)
        self._pre_roll = _frames(opts.pre_roll_seconds)
        self._trailing = max(1, _frames(opts.trailing_silence_seconds))
        self._min_voiced = max(1, _frames(opts.min_voiced_seconds))
        self._end_pad = _frames(END_PAD_SECONDS)
        self._interval = _frames(opts.partial_interval_seconds)
        self._wait = self._interval  # frames until the next partial (grows if decoding is slow)
        self._frontend = IncrementalFrontend(recognizer.backend.frontend, *recognizer.context)
        capacity = self._max + self._window + self._pre_roll + self._frontend.max_block + 2
        self._frames = FrameBuffer(capacity)
        self._rate: int | None = None
        self._resampler = None
        self._finished = False
        self._recent: deque[bool] = deque(maxlen=self._window)
        self._voiced_count = 0
        self._in_speech = not opts.endpointing
        self._start = 0  # first frame of the open utterance
        self._last_loud = 0  # last frame above the stop threshold
        self._last_partial = 0
        self._prefix: tuple[int, ...] = ()
        self._utterance = 0
        self.partial: Result | None = None  # the latest partial of the open utterance
        self.stats = StreamStats()

    # ---- input ------------------------------------------------------------------------
    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> list[Result]:
        """Feed audio (mono, or (N, channels) averaged) at any rate -> new results."""
        if self._finished:
            raise ValueError("stream already finished: create a new one")
        x = self._to_16k(sample_rate, samples, last=False)
        return self._feed(x, final=False)

    def input_finished(self) -> list[Result]:
        """End of input: the remaining frames, then a final for any open utterance."""
        if self._finished:
            return []
        tail = self._to_16k(self._rate or C.SAMPLE_RATE, np.zeros(0, np.float32), last=True)
        self._finished = True
        results = self._feed(tail, final=True)
        if self._in_speech:
            end = self._frames.end
            if self.options.endpointing:
                end = min(end, self._last_loud + 1 + self._end_pad)
            if end - self._start >= MIN_UTTERANCE_FRAMES:
                results.append(self._final(end))
        return results

    @property
    def seconds(self) -> float:
        """Audio received so far (at 16 kHz)."""
        return self._frontend.received / C.SAMPLE_RATE

    def _to_16k(self, sample_rate: int, samples: np.ndarray, last: bool) -> np.ndarray:
        x = np.asarray(samples)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise ValueError(f"samples must be 1-D or (N, channels), got shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            x = x / float(np.iinfo(x.dtype).max + 1)
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ValueError("audio contains NaN or infinite samples")
        if int(sample_rate) <= 0:
            raise ValueError(f"sample rate must be positive, got {sample_rate}")
        if self._rate is None:
            self._rate = int(sample_rate)
        elif int(sample_rate) != self._rate:
            raise ValueError(f"sample rate changed mid-stream ({self._rate} -> {sample_rate} Hz)")
        if self._rate == C.SAMPLE_RATE:
            return x
        if self._resampler is None:
            from echo_edge.audio import Resampler

            self._resampler = Resampler(self._rate)
        return self._resampler(x, last=last)

    def _feed(self, x: np.ndarray, final: bool) -> list[Result]:
        self.stats.audio_seconds += len(x) / C.SAMPLE_RATE
        t0 = time.perf_counter()
        blocks = list(self._frontend.push(x, final))
        self.stats.frontend_seconds += time.perf_counter() - t0
        results: list[Result] = []
        for block in blocks:
            results.extend(self._process(block))
        if self._in_speech and self._interval and not final:
            now = self._frames.end
            if now - self._last_partial >= self._wait and now - self._start >= self._interval:
                t0 = time.perf_counter()
                results.append(self._decode(self._start, now, final=False))
                # Partials may take at most PARTIAL_LOAD of real time: wait longer if slow.
                spent = _frames((time.perf_counter() - t0) / PARTIAL_LOAD)
                self._wait = max(self._interval, spent)
                self._last_partial = now
        return results

    # ---- endpointing ------------------------------------------------------------------
    def _process(self, block: FrameBlock) -> list[Result]:
        self._frames.append(block)
        opts = self.options
        voiced = block.pitch[2] >= opts.voicing_threshold  # (k,) periodicity
        starts = (block.energy >= opts.start_threshold_dbfs) & voiced
        loud = block.energy >= opts.start_threshold_dbfs - STOP_HYSTERESIS_DB
        results = []
        for i in range(block.energy.shape[0]):
            frame = block.first + i
            if not self._in_speech:
                if len(self._recent) == self._recent.maxlen:
                    self._voiced_count -= self._recent[0]
                self._recent.append(bool(starts[i]))
                self._voiced_count += bool(starts[i])
                if self._voiced_count >= self._min_voiced:
                    first = frame + 1 - len(self._recent) - self._pre_roll
                    self._open(max(self._frames.first, first), frame)
                continue
            if loud[i]:
                self._last_loud = frame
            if opts.endpointing and frame - self._last_loud >= self._trailing:
                results.append(self._final(self._last_loud + 1 + self._end_pad))
            elif frame + 1 - self._start >= self._max:
                results.append(self._final(frame + 1))
                self._open(frame + 1, frame)
        if not self._in_speech:
            self._frames.drop_before(self._frames.end - self._window - self._pre_roll)
        return results

    def _open(self, start: int, frame: int) -> None:
        self._frames.drop_before(start)  # the pre-roll is inside [start, ...)
        self._in_speech = True
        self._start = self._last_partial = start
        self._wait = self._interval  # each utterance starts at the normal refresh rate
        self._last_loud = frame
        self._recent.clear()
        self._voiced_count = 0

    def _final(self, end: int) -> Result:
        end = min(end, self._frames.end)
        result = self._decode(self._start, end, final=True)
        self._frames.drop_before(end)
        self._in_speech = False
        self._prefix = ()
        self.partial = None
        self._utterance += 1
        if not self.options.endpointing:
            self._open(end, end)
        return result

    # ---- decoding ---------------------------------------------------------------------
    def _decode(self, start: int, end: int, final: bool) -> Result:
        mel, pitch, silence, wave = self._frames.window(start, end)
        last_sample = min(end * C.HOP, self._frontend.received)
        seconds = (last_sample - start * C.HOP) / C.SAMPLE_RATE
        prefix = self._prefix if self.options.decoding.verify_prefix else ()
        t0 = time.perf_counter()
        tokens, calls = self.recognizer.decode_features(
            mel, pitch, silence, wave, seconds, self.options.decoding, prefix
        )
        self.stats.decode_seconds += time.perf_counter() - t0
        self.stats.decoder_calls += calls
        result = Result(
            text=self.recognizer.tokenizer.decode(tokens),
            tokens=tuple(tokens),
            final=final,
            start=start * C.HOP / C.SAMPLE_RATE,
            end=last_sample / C.SAMPLE_RATE,
            utterance=self._utterance,
        )
        if final:
            self.stats.finals += 1
        else:
            self.stats.partials += 1
            self._prefix = result.tokens
            self.partial = result
        return result
