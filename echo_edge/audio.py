"""Reading audio into float32 mono 16 kHz, torch-free (the device runtime imports this).

Files are read with soundfile (WAV, FLAC, OGG/Vorbis, MP3, ... at any bit depth, channel
count and rate), averaged to mono, resampled with soxr and clipped to [-1, 1]. Bad input
raises `AudioError` with one line that names the file, never a libsndfile traceback. A file
cut short (a WAV whose data chunk claims more than the file holds, a FLAC or MP3 that ends
early, an Ogg stream without its last page) is read as far as it goes, with a
`TruncatedAudioWarning` (warnings module) that says how much the header promised.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
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
# Decoding that ends this much short of the header's length is a truncated file (MP3 frame
# counts are estimates; a full file decodes within a few ms of them).
TRUNCATION_TOLERANCE_SECONDS = 0.05
SALVAGE_SECONDS = 0.05  # after a decode error, re-read the failed block in pieces this long
_INTEGER_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


class AudioError(ValueError):
    """Audio that cannot be used, with a one-line message for the user."""


class TruncatedAudioWarning(UserWarning):
    """A file that ends before its header says it should; what is there was still read."""


def _describe(error: Exception) -> str:
    """The first line of an exception's message, without libsndfile's "Error opening 'path': "."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text.split("': ", 1)[-1] if text.startswith("Error opening") else text


def _check_file(path: str | os.PathLike) -> Path:
    """The path, if it names a non-empty, readable regular file (never opens a FIFO)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot be read ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(mode):
        kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        raise AudioError(f"{path}: not a regular file ({kind}); give an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    return path


def check_audio_file(path: str | os.PathLike) -> Path:
    """The path if it is a non-empty regular file, else AudioError saying what it is instead."""
    return _check_file(path)


def _open(path: Path) -> sf.SoundFile:
    """Open an audio file for reading, turning libsndfile's complaints into AudioError."""
    try:
        handle = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, TypeError) as error:
        raise AudioError(f"{path}: unreadable or truncated audio ({_describe(error)})") from None
    if handle.frames == 0 or handle.channels == 0:
        unfinished = handle.format == "OGG" and _ogg_unfinished(path)
        handle.close()
        if unfinished:
            raise AudioError(f"{path}: truncated: not one complete Ogg audio page")
        raise AudioError(f"{path}: contains no samples")
    if not MIN_SAMPLE_RATE <= handle.samplerate <= MAX_SAMPLE_RATE:
        rate = handle.samplerate
        handle.close()
        raise AudioError(
            f"{path}: the header's sample rate {rate} Hz is outside "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz (a broken or hand-made header)"
        )
    if handle.channels > MAX_CHANNELS:
        channels = handle.channels
        handle.close()
        raise AudioError(f"{path}: {channels} channels (at most {MAX_CHANNELS} are supported)")
    return handle


def _wav_data_frames(path: Path) -> int | None:
    """Frames a RIFF WAV's data chunk declares (libsndfile clamps its count to the file)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"RIFF" or f.read(8)[4:] != b"WAVE":
                return None
            block_align = 0
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return None
                chunk, size = head[:4], struct.unpack("<I", head[4:])[0]
                if chunk == b"fmt " and size >= 14:
                    block_align = struct.unpack("<H", f.read(14)[12:14])[0]
                    f.seek(size - 14 + (size & 1), os.SEEK_CUR)
                elif chunk == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):  # streamed: length unknown
                        return None
                    return size // block_align
                else:
                    f.seek(size + (size & 1), os.SEEK_CUR)
    except (OSError, struct.error):
        return None


def _ogg_unfinished(path: Path) -> bool:
    """True if an Ogg file's last page is not an end-of-stream page (the file was cut)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - (1 << 16)))
            tail = f.read()
    except OSError:
        return False
    last = tail.rfind(b"OggS")
    return last >= 0 and (len(tail) < last + 27 or not tail[last + 5] & 0x04)


def _declared_frames(path: Path, handle: sf.SoundFile) -> int | None:
    """The length the file's header promises, in frames (None: the header does not say)."""
    if handle.format in ("WAV", "WAVEX"):
        return _wav_data_frames(path)
    if handle.format == "OGG":
        return None  # libsndfile's count comes from the last page that is there
    return handle.frames


def _read_blocks(path: Path, handle: sf.SoundFile, block_frames: int) -> Iterator[np.ndarray]:
    """(N, C) float32 blocks of an open file up to where it can be decoded.

    A decode error (a FLAC cut mid-frame) ends the file there: the failed block is re-read
    in small pieces to keep what precedes the fault. A file that ends short of its header
    issues a TruncatedAudioWarning; a file with nothing decodable raises AudioError."""
    decoded, failure = 0, None
    while failure is None:
        start = decoded
        try:
            block = handle.read(block_frames, dtype="float32", always_2d=True)  # (N, C)
        except (RuntimeError, OSError, ValueError) as error:
            failure = _describe(error) or "decode error"
            block = _salvage(handle, start, block_frames)
        if block.shape[0]:
            decoded += block.shape[0]
            yield block
        elif failure is None:
            break
    if decoded == 0:
        raise AudioError(f"{path}: unreadable audio data ({failure or 'no samples decoded'})")
    rate = handle.samplerate
    declared = _declared_frames(path, handle)
    if declared is not None and declared - decoded > TRUNCATION_TOLERANCE_SECONDS * rate:
        message = f"header says {declared / rate:.1f} s, decoded {decoded / rate:.1f} s"
    elif failure is not None:
        message = f"decoding failed after {decoded / rate:.1f} s ({failure})"
    elif handle.format == "OGG" and _ogg_unfinished(path):
        message = f"the Ogg stream has no end page, decoded {decoded / rate:.1f} s"
    else:
        return
    warnings.warn(f"{path}: truncated: {message}", TruncatedAudioWarning, stacklevel=3)


def _salvage(handle: sf.SoundFile, start: int, frames: int) -> np.ndarray:
    """Frames [start, start + frames) read in small pieces up to the first that fails."""
    pieces: list[np.ndarray] = []
    step = max(1, int(SALVAGE_SECONDS * handle.samplerate))
    try:
        handle.seek(start)
        for _ in range(0, frames, step):
            piece = handle.read(step, dtype="float32", always_2d=True)
            if not piece.shape[0]:
                break
            pieces.append(piece)
    except (RuntimeError, OSError, ValueError):
        pass
    if not pieces:
        return np.zeros((0, handle.channels), np.float32)
    return np.concatenate(pieces)


def _mono(block: np.ndarray, where: str) -> np.ndarray:
    """(N, C) float samples -> (N,) float32 mono, rejecting NaN and infinity."""
    if not np.all(np.isfinite(block)):
        raise AudioError(f"{where}: contains NaN or infinite samples")
    return block.mean(axis=1, dtype=np.float64).astype(np.float32)  # (N,)


def _finish(samples: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1] (float files and resampling overshoot can exceed full scale)."""
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as float32 mono (N,) in [-1, 1] at `sample_rate`. Raises AudioError;
    a truncated file is read as far as it goes, with a TruncatedAudioWarning."""
    path = _check_file(path)
    with _open(path) as handle:
        rate = handle.samplerate
        block_frames = int(BLOCK_SECONDS * rate)  # bounded: a header may claim any length
        blocks = [_mono(b, str(path)) for b in _read_blocks(path, handle, block_frames)]
    mono = np.concatenate(blocks)
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
        for block in _read_blocks(path, handle, block_frames):
            out = resampler(_mono(block, str(path)))
            if out.size:
                yield out
        tail = resampler(np.zeros(0, np.float32), last=True)
        if tail.size:
            yield tail
