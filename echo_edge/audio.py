"""Reading audio into float32 mono 16 kHz, torch-free (the device runtime imports this).

Files are read with soundfile (WAV, FLAC, OGG/Vorbis, MP3, ... at any bit depth, channel
count and rate), averaged to mono, resampled with soxr and clipped to [-1, 1]. Bad input
raises `AudioError` with one line that names the file, never a libsndfile traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from echo_edge.constants import SAMPLE_RATE

RESAMPLE_QUALITY = "HQ"  # soxr quality for every rate conversion
BLOCK_SECONDS = 30.0  # default block length of `iter_audio_blocks`
MAX_CHANNELS = 64  # more "channels" than this is a (channels, samples) array passed transposed
# Rates outside this range are a broken header or a wrong argument, not audio: refusing them
# keeps a "1 Hz" file from costing seconds of resampling (16 000x up) for nothing.
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 768000
_INTEGER_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


class AudioError(ValueError):
    """Audio that cannot be used, with a one-line message for the user."""


def _describe(error: Exception) -> str:
    """The first line of an exception's message, without libsndfile's "Error opening 'path': "."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text.split("': ", 1)[-1] if text.startswith("Error opening") else text


def _check_file(path: str | os.PathLike) -> Path:
    """The path, if it names a non-empty regular file."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    return path


def _open(path: Path) -> sf.SoundFile:
    """Open an audio file for reading, turning libsndfile's complaints into AudioError."""
    try:
        handle = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, TypeError) as error:
        raise AudioError(f"{path}: unreadable or truncated audio ({_describe(error)})") from None
    if handle.frames == 0 or handle.channels == 0:
        handle.close()
        raise AudioError(f"{path}: contains no samples")
    return handle


def _mono(block: np.ndarray, where: str) -> np.ndarray:
    """(N, C) float samples -> (N,) float32 mono, rejecting NaN and infinity."""
    if not np.all(np.isfinite(block)):
        raise AudioError(f"{where}: contains NaN or infinite samples")
    return block.mean(axis=1, dtype=np.float64).astype(np.float32)  # (N,)


def _finish(samples: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1] (float files and resampling overshoot can exceed full scale)."""
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as float32 mono (N,) in [-1, 1] at `sample_rate`. Raises AudioError."""
    path = _check_file(path)
    with _open(path) as handle:
        rate = handle.samplerate
        try:
            block = handle.read(dtype="float32", always_2d=True)  # (N, C)
        except (RuntimeError, OSError, ValueError) as error:
            raise AudioError(f"{path}: unreadable audio data ({_describe(error)})") from None
    if block.shape[0] == 0:
        raise AudioError(f"{path}: contains no samples")
    mono = _mono(block, str(path))
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality=RESAMPLE_QUALITY)
    return _finish(mono)


def to_mono_16k(
    samples: np.ndarray, sample_rate: float, target_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """An in-memory signal as float32 mono (N,) in [-1, 1] at `target_rate` (16 kHz).

    `samples` is (N,) or (N, C): float in [-1, 1], or int16/int32 PCM (scaled to [-1, 1]).
    For a stream cut into blocks use `Resampler`, which keeps the filter state between them.
    """
    block = _as_float_2d(samples, sample_rate)  # (N, C)
    mono = _mono(block, "audio samples")
    if sample_rate != target_rate and mono.size:
        mono = soxr.resample(mono, sample_rate, target_rate, quality=RESAMPLE_QUALITY)
    return _finish(mono)


def _as_float_2d(samples: np.ndarray, sample_rate: float) -> np.ndarray:
    """Validate rate, dtype and layout; return float32 (N, C)."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.number)):
        raise AudioError(f"sample rate must be a number of Hz, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:  # also refuses NaN and inf
        raise AudioError(
            f"sample rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )
    array = np.asarray(samples)
    if array.dtype in _INTEGER_SCALES:
        array = array.astype(np.float32) / _INTEGER_SCALES[array.dtype]
    elif array.dtype.kind != "f":
        raise AudioError(f"audio samples must be float or int16/int32 PCM, got {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise AudioError(
            f"audio samples must be (samples,) or (samples, channels), got {array.shape}"
        )
    if array.shape[1] > MAX_CHANNELS:
        raise AudioError(
            f"audio samples have shape {array.shape}: pass (samples, channels), not (channels, samples)"
        )
    return array.astype(np.float32, copy=False)


class Resampler:
    """Stateful mono conversion + resampling of a stream that arrives in blocks.

    Concatenating the outputs of every `__call__` (the last with `last=True`) equals
    `to_mono_16k` of the concatenated input within soxr's rounding.
    """

    def __init__(self, sample_rate: float, target_rate: int = SAMPLE_RATE) -> None:
        _as_float_2d(np.zeros(0, np.float32), sample_rate)
        self.sample_rate = sample_rate
        self.target_rate = int(target_rate)
        self._stream = None
        if self.sample_rate != self.target_rate:
            self._stream = soxr.ResampleStream(
                self.sample_rate, self.target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
            )

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """The next block of (N,) or (N, C) samples -> float32 mono at the target rate."""
        mono = _mono(_as_float_2d(samples, self.sample_rate), "audio samples")
        if self._stream is not None:
            mono = self._stream.resample_chunk(mono, last=last)
        return _finish(mono)


def iter_audio_blocks(
    path: str | os.PathLike, block_seconds: float = BLOCK_SECONDS, sample_rate: int = SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Stream a file as float32 mono blocks at `sample_rate`, with memory bounded by a block.

    Concatenated, the blocks equal `load_audio(path)` within soxr's rounding (~1e-6). Block
    lengths vary slightly around `block_seconds` (the resampler's delay); the last may be short.
    """
    if block_seconds <= 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    path = _check_file(path)
    with _open(path) as handle:
        resampler = Resampler(handle.samplerate, sample_rate)
        block_frames = max(1, int(round(block_seconds * handle.samplerate)))
        try:
            for block in handle.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
                out = resampler(_mono(block, str(path)))
                if out.size:
                    yield out
        except (RuntimeError, OSError) as error:
            raise AudioError(f"{path}: unreadable audio data ({_describe(error)})") from None
        tail = resampler(np.zeros(0, np.float32), last=True)
        if tail.size:
            yield tail
