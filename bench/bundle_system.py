"""A bundle as a measured system, through the torch-free runtime (Recognizer, Stream).

Nothing here imports torch: an ONNX bundle is measured the way a device runs it. (An
ExecuTorch bundle's backend imports torch itself, as it must.)
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from echo_edge.bench.measure import BLOCK_SECONDS, Latency
from echo_edge.runtime.backend import Backend, CrossAttention
from echo_edge.runtime.decoding import DecodingOptions, greedy_decode, token_cap
from echo_edge.runtime.recognizer import FILE_OPTIONS, Recognizer
from echo_edge.runtime.stream import FrameBlock, StreamOptions


def bundle_bytes(path: str | Path) -> int:
    """Bytes of every file in the bundle directory (manifest and tokenizer included)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


class TimedSteps:
    """A Backend's decode_step with a stopwatch, for the runtime's own greedy loop."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.seconds = 0.0

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        return self.backend.empty_cache()

    def decode_step(self, *args: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        out = self.backend.decode_step(*args)
        self.seconds += time.perf_counter() - t0
        return out


class BundleSystem:
    """Recognizer.from_bundle(path, threads) with the calls the measurements need."""

    def __init__(self, path: str | Path, threads: int) -> None:
        t0 = time.perf_counter()
        self.recognizer = Recognizer.from_bundle(path, threads=threads)
        self.load_seconds = time.perf_counter() - t0
        self.size_bytes = bundle_bytes(path)
        self.limit_seconds: float | None = self.recognizer.max_utterance_seconds
        # Live captioning (a microphone): endpointing and partial results on; files: finals
        # only. Utterances are cut at the bundle's limit where that is below the default.
        cut = min(StreamOptions().max_utterance_seconds, self.recognizer.max_utterance_seconds)
        self.stream_options = StreamOptions(max_utterance_seconds=cut)
        self.file_options = replace(FILE_OPTIONS, max_utterance_seconds=cut)
        manifest = self.recognizer.manifest
        self.info = {
            "backend": manifest.backend,
            "precision": manifest.precision,
            "quantization": manifest.quantization.get("scheme"),
            "providers": getattr(self.recognizer.backend, "providers", None),
            "trained": manifest.source.get("trained"),
            # The quiet a VAD endpoint waits for after speech, on top of the measured latency.
            "endpoint_wait_s": self.stream_options.trailing_silence_seconds,
        }

    def features(self, audio: np.ndarray) -> FrameBlock:
        return self.recognizer.features(audio)

    def encode(self, features: FrameBlock) -> CrossAttention:
        f = features
        return self.recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])

    def decode_timed(self, encoded: CrossAttention, seconds: float) -> tuple[float, int]:
        steps = TimedSteps(self.recognizer.backend)
        cap = token_cap(seconds, DecodingOptions(), self.recognizer.config)
        _, calls = greedy_decode(steps, encoded, cap)  # type: ignore[arg-type]
        return steps.seconds, calls

    def final_latency(self, audio: np.ndarray) -> Latency:
        """Feed `audio` in 100 ms blocks (no sleeping); time the call that returns the last final.

        That is input_finished() when the speech runs to the end of the audio, or the
        accept_waveform() call in which the endpointer ended the last utterance at a pause
        (the pause itself, audio time, comes on top: see the report's definitions).
        """
        stream = self.recognizer.create_stream(self.stream_options)
        step = int(round(BLOCK_SECONDS * C.SAMPLE_RATE))
        before, endpointed = 0, None
        for i in range(0, len(audio), step):
            t0 = time.perf_counter()
            results = stream.accept_waveform(C.SAMPLE_RATE, audio[i : i + step])
            spent = time.perf_counter() - t0
            if any(r.final for r in results):
                before += sum(r.final for r in results)
                endpointed = spent
        t0 = time.perf_counter()
        results = stream.input_finished()
        seconds = time.perf_counter() - t0
        if any(r.final for r in results) or endpointed is None:
            return Latency(seconds, any(r.final for r in results), before)
        return Latency(endpointed, True, before - 1)

    def transcribe(self, audio: np.ndarray) -> str:
        """Offline: the recogniser's file path (FILE_OPTIONS: endpointing, no partials)."""
        return self.recognizer.transcribe_samples(audio, options=self.file_options).text

    def close(self) -> None:
        self.recognizer.close()
