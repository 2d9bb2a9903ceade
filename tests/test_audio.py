"""Audio loading: formats, channel counts, rates, streaming, and one-line errors on bad files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.audio import (
    AudioError,
    Resampler,
    TruncatedAudioWarning,
    iter_audio_blocks,
    load_audio,
    to_mono_16k,
)
from echo_edge.constants import SAMPLE_RATE


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone, float64 (N,)."""
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


def assert_one_line(error: pytest.ExceptionInfo, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    for word in words:
        assert word in message, message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "nowhere.wav")
    assert_one_line(error, "nowhere.wav", "no such file")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "empty.wav")
    assert_one_line(error, "empty.wav", "empty")


def test_header_without_samples(tmp_path: Path) -> None:
    sf.write(tmp_path / "zero.wav", np.zeros(0), SAMPLE_RATE)
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "zero.wav")
    assert_one_line(error, "zero.wav", "no samples")


@pytest.mark.parametrize("keep", [12, 30])
def test_truncated_header(tmp_path: Path, keep: int) -> None:
    sf.write(tmp_path / "full.wav", tone(0.5, SAMPLE_RATE), SAMPLE_RATE)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:keep])
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "cut.wav")
    assert_one_line(error, "cut.wav", "unreadable")
    with pytest.raises(AudioError):
        next(iter_audio_blocks(tmp_path / "cut.wav"))


def test_not_audio(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 50)
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "notes.wav")
    assert_one_line(error, "notes.wav")


def test_nan_samples(tmp_path: Path) -> None:
    samples = tone(0.2, SAMPLE_RATE).astype(np.float32)
    samples[100] = np.nan
    sf.write(tmp_path / "nan.wav", samples, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "nan.wav")
    assert_one_line(error, "nan.wav", "contains NaN or infinite samples")
    with pytest.raises(AudioError, match="NaN or infinite"):
        list(iter_audio_blocks(tmp_path / "nan.wav"))


def test_unsigned_8bit(tmp_path: Path) -> None:
    rate = 8000
    sf.write(tmp_path / "u8.wav", tone(0.5, rate, hz=200), rate, subtype="PCM_U8")
    audio = load_audio(tmp_path / "u8.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - SAMPLE_RATE // 2) <= 1
    # Unsigned 8-bit PCM is centred on 128: decoded it must be zero-mean, amplitude ~0.5.
    assert abs(float(audio.mean())) < 0.01
    assert 0.45 < float(np.abs(audio).max()) < 0.55


@pytest.mark.parametrize(
    ("suffix", "subtype"), [("wav", "PCM_24"), ("flac", "PCM_16"), ("ogg", None)]
)
def test_48k_stereo_is_16k_mono(tmp_path: Path, suffix: str, subtype: str | None) -> None:
    rate, seconds = 48000, 1.0
    left, right = tone(seconds, rate, amplitude=0.6), tone(seconds, rate, amplitude=0.2)
    path = tmp_path / f"stereo.{suffix}"
    sf.write(path, np.stack([left, right], axis=1), rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - int(seconds * SAMPLE_RATE)) <= 1
    assert np.all(np.abs(audio) <= 1.0)
    expected = tone(seconds, SAMPLE_RATE, amplitude=0.4)[: len(audio)]  # the channels' mean
    core = slice(800, len(audio) - 800)  # away from the resampler's edges
    correlation = np.corrcoef(audio[core], expected[core])[0, 1]
    assert correlation > 0.99
    assert abs(np.sqrt(np.mean(audio[core] ** 2)) - 0.4 / np.sqrt(2)) < 0.01


def test_float_wav_is_clipped(tmp_path: Path) -> None:
    sf.write(tmp_path / "loud.wav", 3.0 * tone(0.1, SAMPLE_RATE), SAMPLE_RATE, subtype="FLOAT")
    audio = load_audio(tmp_path / "loud.wav")
    assert float(np.abs(audio).max()) == 1.0


def test_blocks_equal_whole_file(tmp_path: Path) -> None:
    rate = 44100
    rng = np.random.default_rng(0)
    stereo = np.stack([tone(3.0, rate), 0.1 * rng.standard_normal(3 * rate)], axis=1)
    sf.write(tmp_path / "long.wav", stereo, rate, subtype="PCM_16")
    whole = load_audio(tmp_path / "long.wav")
    blocks = list(iter_audio_blocks(tmp_path / "long.wav", block_seconds=0.37))
    assert len(blocks) > 5 and max(len(b) for b in blocks) < 0.5 * SAMPLE_RATE
    joined = np.concatenate(blocks)
    assert len(joined) == len(whole)
    assert np.abs(joined - whole).max() < 1e-4


def test_blocks_at_native_rate(tmp_path: Path) -> None:
    sf.write(tmp_path / "native.flac", tone(1.0, SAMPLE_RATE), SAMPLE_RATE)
    joined = np.concatenate(list(iter_audio_blocks(tmp_path / "native.flac", block_seconds=0.25)))
    np.testing.assert_allclose(joined, load_audio(tmp_path / "native.flac"), atol=1e-6)


def test_to_mono_16k_arrays() -> None:
    stereo = np.stack([tone(0.5, 22050), tone(0.5, 22050)], axis=1).astype(np.float32)
    mono = to_mono_16k(stereo, 22050)
    assert mono.dtype == np.float32 and abs(len(mono) - SAMPLE_RATE // 2) <= 1
    pcm = (tone(0.1, SAMPLE_RATE) * 32767).astype(np.int16)
    np.testing.assert_allclose(to_mono_16k(pcm, SAMPLE_RATE), tone(0.1, SAMPLE_RATE), atol=1e-4)
    assert to_mono_16k(np.zeros(0, np.float32), 44100).shape == (0,)


@pytest.mark.parametrize(
    ("samples", "rate", "words"),
    [
        (np.array([0.0, np.inf]), SAMPLE_RATE, "NaN or infinite"),
        (np.zeros(4, dtype=complex), SAMPLE_RATE, "float or int16"),
        (np.zeros((2, 4000)), SAMPLE_RATE, "(samples, channels)"),
        (np.zeros((2, 2, 2)), SAMPLE_RATE, "(samples, channels)"),
        (np.zeros(4), 0, "sample rate must be"),
        (np.zeros(4), 1, "4000-768000 Hz"),
        (np.zeros(4), "16k", "number"),
    ],
)
def test_to_mono_16k_rejects(samples: np.ndarray, rate: object, words: str) -> None:
    with pytest.raises(AudioError) as error:
        to_mono_16k(samples, rate)  # type: ignore[arg-type]
    assert_one_line(error, words)


def test_resampler_blocks_equal_one_shot() -> None:
    rate = 48000
    signal = tone(1.0, rate).astype(np.float32)
    resampler = Resampler(rate)
    cuts = [0, 1000, 1001, 17000, 30000, len(signal)]
    parts = [resampler(signal[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    parts.append(resampler(np.zeros(0, np.float32), last=True))
    joined = np.concatenate(parts)
    whole = to_mono_16k(signal, rate)
    assert len(joined) == len(whole)
    assert np.abs(joined - whole).max() < 1e-4


def test_header_rate_out_of_range_names_the_file(tmp_path: Path) -> None:
    sf.write(tmp_path / "one_hz.wav", np.zeros(64), 1, subtype="PCM_16")
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path / "one_hz.wav")
    assert_one_line(error, "one_hz.wav", "1 Hz")
    with pytest.raises(AudioError, match="one_hz.wav"):
        next(iter_audio_blocks(tmp_path / "one_hz.wav"))


def test_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as error:
        load_audio(tmp_path)
    assert_one_line(error, str(tmp_path), "is a directory")
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioError) as error:  # never opened: opening a FIFO would block
        load_audio(fifo)
    assert_one_line(error, "pipe.wav", "FIFO")


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_truncated_file_is_read_with_a_warning(tmp_path: Path, suffix: str) -> None:
    if suffix.upper() not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {suffix}")
    rng = np.random.default_rng(0)
    signal = tone(6.0, SAMPLE_RATE) * 0.5 + 0.05 * rng.standard_normal(6 * SAMPLE_RATE)
    sf.write(tmp_path / f"full.{suffix}", signal, SAMPLE_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole file: no warning
        full = load_audio(tmp_path / f"full.{suffix}")
    cut = _cut(tmp_path / f"full.{suffix}", 0.6)
    with pytest.warns(TruncatedAudioWarning, match=r"cut_full\.\w+: truncated") as record:
        audio = load_audio(cut)
    assert 0.3 * len(full) < len(audio) < 0.9 * len(full)
    assert "\n" not in str(record[0].message)
    with pytest.warns(TruncatedAudioWarning):
        joined = np.concatenate(list(iter_audio_blocks(cut, block_seconds=1.0)))
    assert abs(len(joined) - len(audio)) <= 1
