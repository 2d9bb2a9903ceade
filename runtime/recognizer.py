"""The read-only recogniser: a checked bundle's backend sessions and token table.

    from echo_edge.runtime import Recognizer

    with Recognizer.default() as recognizer:  # the prebuilt bundle shipped in the package
        print(recognizer.transcribe_file("speech.wav").text)

`Recognizer.from_bundle(path)` verifies the manifest (format version, sha256 of every file;
`expected_sha256` pins the manifest itself), loads the backend the bundle was exported for
and its tokenizer.json as a `TokenTable` (decoding needs no `tokenizers` package). It holds
no per-audio state: `create_stream()` makes a `Stream` for that, and `transcribe_samples` /
`transcribe_file` stream whole recordings of any length through one. Every path takes
audio as echo_edge.audio does (the same checks, scaling and clipping as a file) and removes
DC (`highpass.remove_dc`) before the frontend; an empty array is an `AudioError`. A
recording with no speech is not an error: its Transcript has text "" and no segments.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

import echo_edge.assets
from echo_edge import constants as C
from echo_edge.audio import AudioError, to_mono_16k
from echo_edge.runtime.alignment import Word, word_times
from echo_edge.runtime.backend import Backend, BackendError, CrossAttention, load_backend
from echo_edge.runtime.bundle import TOKENIZER_NAME, BundleError, Manifest, read_bundle
from echo_edge.runtime.ctc import joint_greedy_decode
from echo_edge.runtime.decoding import (
    CTC_WEIGHT,
    DecodingOptions,
    confidence,
    greedy_decode,
    token_cap,
)
from echo_edge.runtime.highpass import remove_dc
from echo_edge.runtime.lm import LMUnavailable, WordLM, default_lm
from echo_edge.runtime.lm_search import LMSearchOptions, lm_beam_decode, spells_words
from echo_edge.runtime.stream import FrameBlock, IncrementalFrontend, Result, Stream, StreamOptions
from echo_edge.runtime.token_table import TokenTable, TokenTableError

# The prebuilt ONNX int8 bundle shipped as package data (`make bundles` rebuilds it).
SHIPPED_BUNDLE = Path(echo_edge.assets.__file__).resolve().parent / "onnx-int8"
CACHE_ENV = "ECHO_EDGE_CACHE"  # overrides the cache directory (default bundle, TensorRT engines)
DEFAULT_MAX_SECONDS = 30.0  # longest utterance when a manifest states no limit
FILE_BLOCK_SECONDS = 2.0  # files are read and streamed in blocks of this length
# Files need no partial results: only finals are decoded.
FILE_OPTIONS = StreamOptions(partial_interval_seconds=0.0)


def cache_dir() -> Path:
    """~/.cache/echo-edge (or $ECHO_EDGE_CACHE, or $XDG_CACHE_HOME/echo-edge)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "echo-edge"


class Decoded(NamedTuple):
    """One utterance decoded: greedy token ids, decoder calls, and the CTC log-probs if any."""

    tokens: list[int]
    calls: int
    ctc: np.ndarray | None  # (S, V) the encoder's CTC head, None when the bundle lacks it


class RecognizerError(RuntimeError):
    """A bundle or input the recogniser cannot use: one line for the user."""


@dataclass
class Transcript:
    """The finals of one recording, joined, with timing; each segment carries its confidence.

    A recording with no speech in it (silence, noise, or quieter than the stream's start
    threshold) gives text "" and no segments: no speech is not an error.
    """

    text: str
    segments: list[Result] = field(default_factory=list)
    seconds: float = 0.0  # audio duration
    elapsed: float = 0.0  # wall-clock processing time

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio time."""
        return self.elapsed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "seconds": round(self.seconds, 3),
            "rtf": round(self.rtf, 4),
            "segments": [s.to_dict() for s in self.segments],
        }


class Recognizer:
    """Backend + token table + the bundle's constants; shared by any number of streams.

    A context manager: `with Recognizer.from_bundle(path) as r:` closes the sessions on exit.
    """

    def __init__(self, manifest: Manifest, backend: Backend, tokenizer: TokenTable) -> None:
        self.manifest = manifest
        self.backend = backend
        self.tokenizer = tokenizer
        self.config = manifest.config
        frontend = manifest.frontend
        framing = (int(frontend.get("sample_rate", 0)), int(frontend.get("hop", 0)))
        if framing != (C.SAMPLE_RATE, C.HOP):
            raise RecognizerError(
                f"bundle {manifest.path}: framing {framing} is not this runtime's"
            )
        # (left context, look-ahead) in samples: the streaming arithmetic of this frontend.
        self.context = (int(frontend["left_context"]), int(frontend["lookahead"]))
        # The longest utterance the graphs were exported for (ExecuTorch bounds, TensorRT profiles).
        self.max_utterance_seconds = float(
            manifest.limits.get("max_audio_seconds", DEFAULT_MAX_SECONDS)
        )
        self._warned_no_ctc = False  # joint decoding asked of a bundle without CTC: said once
        self._warned_no_lm = False  # the word LM asked for where it cannot load: said once

    @classmethod
    def default(cls, **kwargs: Any) -> Recognizer:
        """The prebuilt ONNX int8 bundle shipped in the package; `kwargs` as from_bundle's."""
        if not SHIPPED_BUNDLE.is_dir():
            raise RecognizerError(
                "no shipped bundle in this install: pass a bundle path, "
                "or rebuild it with `make bundles`"
            )
        return cls.from_bundle(SHIPPED_BUNDLE, **kwargs)

    @classmethod
    def from_bundle(
        cls,
        path: str | Path,
        backend: str | None = None,
        providers: Sequence[str] | str | None = None,
        threads: int = 0,
        expected_sha256: str | None = None,
    ) -> Recognizer:
        """Check and load a bundle; `backend` (if given) must match the manifest's.

        `expected_sha256`: the sha256 of manifest.json the caller pinned (which, through its
        per-file checksums, pins the whole bundle); a different one is a RecognizerError."""
        try:
            manifest = read_bundle(path, expected_sha256=expected_sha256)
        except BundleError as e:
            raise RecognizerError(str(e)) from e
        try:
            tokenizer = TokenTable.from_file(manifest.file(TOKENIZER_NAME))
        except TokenTableError as e:  # one line naming the file
            raise RecognizerError(str(e)) from e
        if tokenizer.vocab_size != int(manifest.config["vocab_size"]):
            raise RecognizerError(
                f"bundle {manifest.path}: tokenizer has {tokenizer.vocab_size} ids, "
                f"the model {manifest.config['vocab_size']}"
            )
        trt_cache = cache_dir() / "trt" / manifest.checkpoint_sha256[:16]
        return cls(
            manifest, load_backend(manifest, backend, providers, threads, trt_cache), tokenizer
        )

    def close(self) -> None:
        """Release the backend's sessions (and device memory); the recogniser is unusable after."""
        self.backend.close()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- one utterance ------------------------------------------------------------------
    def encode(
        self, mel: np.ndarray, pitch: np.ndarray, silence: np.ndarray, wave: np.ndarray
    ) -> CrossAttention:
        """Encoder inputs of one utterance (batch 1, every frame real) -> cross K/V, bias."""
        frame_mask = np.ones_like(silence)  # (1, T)
        return self.backend.encode(mel, pitch, silence, wave, frame_mask)

    def decode_utterance(
        self,
        mel: np.ndarray,
        pitch: np.ndarray,
        silence: np.ndarray,
        wave: np.ndarray,
        seconds: float,
        options: DecodingOptions | None = None,
        prefix: Sequence[int] = (),
        logprobs: list[float] | None = None,
        final: bool = True,
    ) -> Decoded:
        """Encode one utterance's frames and decode -> Decoded (tokens, decoder calls, CTC log-probs).

        A final with options.ctc_weight > 0 decodes with joint CTC/attention scores (no
        prefix): beam search with the word LM when options.lm_weight > 0, else greedy;
        partials (`final` False) always use attention greedy. A bundle without CTC log-probs
        falls back to attention greedy, and a missing LM to joint greedy, with one warning
        each per recogniser."""
        options = options or DecodingOptions()
        cross = self.encode(mel, pitch, silence, wave)
        cap = token_cap(seconds, options, self.config)
        joint = final and options.ctc_weight > 0 and cross.ctc is not None
        lm = self.word_lm() if joint and options.lm_weight > 0 else None
        if lm is not None:
            tokens, calls = lm_beam_decode(
                self.backend,
                cross,
                cap,
                lm,
                self.tokenizer.tokens,
                LMSearchOptions.like(options),
                logprobs,
            )
            return Decoded(tokens, calls, cross.ctc)
        if joint:
            tokens, calls = joint_greedy_decode(
                self.backend, cross, cap, options.ctc_weight, options.ctc_top_k, logprobs
            )
            return Decoded(tokens, calls, cross.ctc)
        # The default weight quietly means attention greedy on a bundle without CTC; a weight
        # the caller chose is worth one warning.
        chosen = options.ctc_weight not in (0.0, CTC_WEIGHT)
        if final and chosen and not self._warned_no_ctc:
            self._warned_no_ctc = True
            warnings.warn(
                f"bundle {self.manifest.path} has no CTC head (no CTC log-probs): "
                f"ctc_weight {options.ctc_weight:g} ignored, finals decode with attention greedy",
                stacklevel=2,
            )
        tokens, calls = greedy_decode(self.backend, cross, cap, prefix, logprobs)
        return Decoded(tokens, calls, cross.ctc)

    def word_lm(self) -> WordLM | None:
        """The word language model (loaded once per process), None where it cannot load or
        the tokenizer does not spell words letter by letter."""
        if not spells_words(self.tokenizer.tokens):
            return None
        try:
            return default_lm()
        except LMUnavailable as e:
            if not self._warned_no_lm:
                self._warned_no_lm = True
                warnings.warn(f"{e}; finals decode with joint greedy search", stacklevel=3)
            return None

    def word_times(
        self, tokens: Sequence[int], ctc: np.ndarray | None, start: float, end: float
    ) -> tuple[Word, ...]:
        """Words of an utterance's tokens timed by CTC forced alignment; () without CTC."""
        if ctc is None:
            return ()
        return word_times(tokens, self.tokenizer.tokens, ctc, start, end)

    def features(self, samples: np.ndarray) -> FrameBlock:
        """All frames of 16 kHz mono float32 `samples` (zero outside them), in bounded calls.

        The bundle's frontend on exactly these samples, unconditioned (for parity with the
        reference frontend); `conditioned_features` is what `recognize` and a Stream see.
        """
        frontend = IncrementalFrontend(self.backend.frontend, *self.context)
        blocks = list(frontend.push(np.asarray(samples, np.float32), final=True))
        return FrameBlock(0, *(np.concatenate(s, axis=-1) for s in list(zip(*blocks))[1:]))

    def conditioned_features(
        self, samples: np.ndarray, sample_rate: float = C.SAMPLE_RATE
    ) -> FrameBlock:
        """Frames of audio as every transcription path sees it: checked, mono 16 kHz, DC-free."""
        return self.features(remove_dc(_checked(samples, sample_rate)))

    def recognize(
        self,
        samples: np.ndarray,
        sample_rate: float = C.SAMPLE_RATE,
        options: DecodingOptions | None = None,
    ) -> Result:
        """Transcribe one utterance in one pass (no endpointing, no voice-activity check).

        `samples`: (N,) or (N, channels), float in [-1, 1] or int16/int32 PCM, at 4-768 kHz.
        """
        samples = _checked(samples, sample_rate)
        seconds = len(samples) / C.SAMPLE_RATE
        if seconds > self.max_utterance_seconds:
            raise RecognizerError(
                f"{seconds:.1f} s is longer than one utterance may be "
                f"({self.max_utterance_seconds:.0f} s): use transcribe_samples or a Stream"
            )
        f = self.features(remove_dc(samples))
        logprobs: list[float] = []
        decoded = self.decode_utterance(
            f.mel[None],
            f.pitch[None],
            f.silence[None],
            f.wave[None],
            seconds,
            options,
            logprobs=logprobs,
        )
        tokens = decoded.tokens
        text = self.tokenizer.decode(tokens)
        conf = confidence(logprobs) if tokens else None
        words = self.word_times(tokens, decoded.ctc, 0.0, seconds)
        return Result(text, tuple(tokens), True, 0.0, seconds, 0, conf, words)

    # ---- whole recordings ---------------------------------------------------------------
    def create_stream(self, options: StreamOptions | None = None) -> Stream:
        return Stream(self, options)

    def transcribe_blocks(
        self, blocks: Iterable[np.ndarray], sample_rate: int, options: StreamOptions | None = None
    ) -> Transcript:
        """Stream blocks of one recording through a Stream -> its finals, joined."""
        stream = self.create_stream(options or FILE_OPTIONS)
        t0 = time.perf_counter()
        finals: list[Result] = []
        for block in blocks:
            finals.extend(r for r in stream.accept_waveform(sample_rate, block) if r.final)
        finals.extend(r for r in stream.input_finished() if r.final)
        text = " ".join(r.text.strip() for r in finals if r.text.strip())
        return Transcript(text, finals, stream.seconds, time.perf_counter() - t0)

    def transcribe_samples(
        self,
        samples: np.ndarray,
        sample_rate: float = C.SAMPLE_RATE,
        options: StreamOptions | None = None,
    ) -> Transcript:
        """Transcribe in-memory audio of any length (as `recognize` takes it) through a Stream.

        No speech is not an error: silence gives a Transcript with text "" and no segments."""
        samples = _checked(samples, sample_rate)
        step = int(FILE_BLOCK_SECONDS * C.SAMPLE_RATE)
        blocks = (samples[i : i + step] for i in range(0, len(samples), step))
        return self.transcribe_blocks(blocks, C.SAMPLE_RATE, options)

    def transcribe_file(self, path: str | Path, options: StreamOptions | None = None) -> Transcript:
        """Transcribe an audio file of any length, read and streamed block by block.

        No speech is not an error: a silent file gives a Transcript with text "" and no
        segments. AudioError for a file that cannot be read."""
        from echo_edge.audio import iter_audio_blocks

        blocks = iter_audio_blocks(path, block_seconds=FILE_BLOCK_SECONDS)
        return self.transcribe_blocks(blocks, C.SAMPLE_RATE, options)


def _checked(samples: np.ndarray, sample_rate: float) -> np.ndarray:
    """In-memory audio -> float32 mono 16 kHz in [-1, 1]; AudioError (a ValueError) if unusable."""
    mono = to_mono_16k(samples, sample_rate)  # (N,)
    if mono.size == 0:
        raise AudioError("audio samples: contains no samples")
    return mono


__all__ = ["SHIPPED_BUNDLE", "BackendError", "Recognizer", "RecognizerError", "Transcript"]
