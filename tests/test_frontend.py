"""The audio frontend: librosa parity, pitch accuracy, streaming contract, bounded memory."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from echo_edge import constants as C
from echo_edge.frontend import (
    Frontend,
    f0_hz,
    frame_aligned_waveform,
    frames_from_window,
    log_f0_ratio,
)

SR = C.SAMPLE_RATE
CONTOURS = [  # (f0 contour of time in the segment, seconds): steady, glides, vibrato; 80-400 Hz
    (lambda t: np.full_like(t, 80.0), 0.6),
    (lambda t: np.full_like(t, 400.0), 0.5),
    (lambda t: 100.0 + 200.0 * t / 0.8, 0.8),
    (lambda t: 350.0 - 230.0 * t / 0.7, 0.7),
    (lambda t: 220.0 * (1 + 0.06 * np.sin(2 * np.pi * 5.5 * t)), 0.9),
    (lambda t: 130.0 * (1 + 0.04 * np.sin(2 * np.pi * 6.0 * t)), 0.6),
]


def synth_voice(seed: int, snr_db: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voiced segments (5 harmonics, decaying 0.7^k) between silent and noise-burst gaps.

    Returns float32 samples and per-sample true f0 (Hz) and voicing.
    """
    rng = np.random.default_rng(seed)
    gap = int(0.25 * SR)
    parts, f0s = [], []
    for i, (contour, seconds) in enumerate(CONTOURS):
        parts.append(np.zeros(gap) if i % 2 == 0 else 0.05 * rng.standard_normal(gap))
        f0s.append(np.zeros(gap))
        f0 = contour(np.arange(int(seconds * SR)) / SR)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voice = sum(0.7**k * np.sin((k + 1) * phase + rng.uniform(0, 2 * np.pi)) for k in range(5))
        parts.append(0.3 * voice / np.abs(voice).max())
        f0s.append(f0)
    parts.append(np.zeros(gap))
    f0s.append(np.zeros(gap))
    x, f0 = np.concatenate(parts), np.concatenate(f0s)
    if snr_db is not None:
        power = np.mean(x[f0 > 0] ** 2)
        x = x + rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (snr_db / 10))
    return x.astype(np.float32), f0, f0 > 0


def librosa_mel(x: np.ndarray) -> np.ndarray:
    """librosa's Slaney mel power spectrogram with the frontend's STFT settings: (N_MELS, T)."""
    return librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=C.N_FFT, hop_length=C.HOP, window="hann", center=True,
        pad_mode="constant", power=2.0, htk=False, norm="slaney", n_mels=C.N_MELS,
    )  # fmt: skip


def normalise(mel: np.ndarray) -> np.ndarray:
    """The frontend's fixed log/affine map applied to a mel power spectrogram."""
    log_mel = np.maximum(np.log10(np.maximum(mel, 1e-10)), C.LOG_MEL_FLOOR)
    return (log_mel + C.LOG_MEL_SHIFT) / C.LOG_MEL_SCALE


def near_peak(log_mel: torch.Tensor, db: float = 50.0) -> torch.Tensor:
    """Mask of mel bands within `db` of their frame's loudest band (normalised log-mel in)."""
    return log_mel >= log_mel.amax(dim=-2, keepdim=True) - db / 10 / C.LOG_MEL_SCALE


def assert_same_frames(a: tuple, b: tuple, exact: bool) -> None:
    """The frontend's streaming tolerance: 1e-5 on every stream (float32: see below)."""
    if exact:  # float64: the frame arithmetic itself is exact
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-9)
        return
    for x, y in zip(a[1:], b[1:]):
        # energy is in dBFS (tens of units), where a float32 ulp is ~4e-6: allow 1e-6 relative
        # (a few ulps) on top of 1e-5 absolute
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-5)
    # float32 log-mel: within 1e-5 for bands within 50 dB of the frame's loudest band; a band
    # 60-100 dB down carries the rounding of the loud ones (float32 sums of 400 products).
    mel_diff = (a[0] - b[0]).abs()
    assert mel_diff[near_peak(b[0])].max() < 1e-5
    assert mel_diff.max() < 1e-3


def test_shapes_and_ranges() -> None:
    frontend = Frontend()
    for n in [0, 1, 159, 160, 399, 400, 401, 1000, 16_000, 16_161]:
        mel, pitch, energy, silence = frontend(0.1 * torch.randn(3, n))
        t = C.num_frames(n)
        assert mel.shape == (3, C.N_MELS, t) and pitch.shape == (3, 3, t)
        assert energy.shape == (3, t) and silence.shape == (3, t)
        assert frame_aligned_waveform(torch.zeros(3, n)).shape == (3, t * C.HOP)
        assert set(pitch[:, 1].unique().tolist()) <= {0.0, 1.0}
        assert set(silence.unique().tolist()) <= {0.0, 1.0}
        assert pitch[:, 2].min() >= 0 and pitch[:, 2].max() <= 1
        assert torch.all(pitch[:, 0][pitch[:, 1] == 0] == 0)
    assert not list(frontend.parameters()) and not frontend.state_dict()


def test_mel_equals_librosa_in_float64() -> None:
    x = synth_voice(0, 20.0)[0][: 2 * SR].astype(np.float64)
    ours = Frontend(dtype=torch.float64)(torch.from_numpy(x)[None])[0][0].numpy()
    # 1e-7 (relative mel error ~1e-6): librosa rounds its filterbank to float32.
    np.testing.assert_allclose(ours, normalise(librosa_mel(x)), rtol=0, atol=1e-7)


def test_mel_matches_librosa_in_float32() -> None:
    x = synth_voice(1, 20.0)[0]
    ours = Frontend()(torch.from_numpy(x)[None])[0][0].double()
    reference = librosa_mel(x.astype(np.float64))
    power = 10 ** (ours.numpy() * C.LOG_MEL_SCALE - C.LOG_MEL_SHIFT)
    relative = np.abs(power - reference) / reference.clip(1e-30)
    measured = (reference > 1e-8) & near_peak(torch.from_numpy(normalise(reference))).numpy()
    assert relative[measured].max() < 1e-4  # measured 3e-5
    assert np.abs(ours.numpy() - normalise(reference)).max() < 1e-3  # weak bands: rounding


@pytest.mark.parametrize("snr_db", [None, 20.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_pitch_accuracy(seed: int, snr_db: float | None) -> None:
    x, f0, voiced = synth_voice(seed, snr_db)
    pitch = Frontend()(torch.from_numpy(x)[None])[1]
    centres = np.minimum(np.arange(pitch.shape[-1]) * C.HOP, len(x) - 1)
    true_f0, true_voiced = f0[centres], voiced[centres]
    est_f0 = f0_hz(pitch)[0].numpy()
    est_voiced = pitch[0, 1].numpy() > 0.5
    both = true_voiced & est_voiced
    gross = np.abs(est_f0[both] / true_f0[both] - 1) > 0.2
    assert gross.mean() < 0.02, f"gross pitch error {gross.mean():.2%}"  # measured 0.00 %
    decision_error = np.mean(true_voiced != est_voiced)
    assert decision_error < 0.05, f"voicing decision error {decision_error:.2%}"  # measured ~3 %
    assert np.median(np.abs(est_f0[both] / true_f0[both] - 1)) < 0.01
    z = log_f0_ratio(pitch)[0].numpy()
    np.testing.assert_allclose(z[both], np.log(est_f0[both] / C.F_REF), atol=1e-5)
    assert np.abs(pitch[0, 0].numpy()).max() <= 1.0


def test_pitch_search_range() -> None:
    t = np.arange(SR) / SR
    low = torch.tensor(0.3 * np.sin(2 * np.pi * 70.0 * t), dtype=torch.float32)[None]
    assert np.median(f0_hz(Frontend()(low)[1])[0, 20:-20].numpy()) == pytest.approx(70.0, 0.01)
    narrow = Frontend(f0_min=100.0, f0_max=300.0)
    assert narrow.left_context < Frontend().left_context
    f0 = f0_hz(narrow(low)[1])[0, 20:-20].numpy()
    assert np.all((f0 == 0) | (f0 >= 99.0))


def test_energy_and_silence() -> None:
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    signals = {
        "digital silence": np.zeros(SR),
        "-70 dBFS noise": 10 ** (-70 / 20) * rng.standard_normal(SR),
        "-50 dBFS noise": 10 ** (-50 / 20) * rng.standard_normal(SR),
        "full-scale sine": np.sin(2 * np.pi * 1000.0 * t),
    }
    batch = torch.tensor(np.stack(list(signals.values())), dtype=torch.float32)
    mel, pitch, energy, silence = Frontend()(batch)
    core = slice(5, -5)  # frames whose window lies inside the signal
    assert torch.all((energy[0] + 100.0).abs() < 1e-3)
    assert torch.all(mel[0] == -1.0) and torch.all(pitch[0] == 0.0)
    assert energy[1, core].mean() == pytest.approx(-70.0, abs=1.0)
    assert energy[2, core].mean() == pytest.approx(-50.0, abs=1.0)
    assert energy[3, core].mean() == pytest.approx(-3.01, abs=0.05)  # mean-square convention
    assert silence[:, core].mean(dim=-1).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert pitch[:2, 1].sum() == 0  # silent frames are never voiced


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_streaming_equals_offline(dtype: torch.dtype) -> None:
    x = torch.from_numpy(synth_voice(2, 20.0)[0][: 3 * SR]).to(dtype)[None]
    frontend = Frontend(dtype=dtype)
    offline = frontend(x)
    rng = np.random.default_rng(0)
    n = x.shape[-1]
    for trial in range(3):
        sizes = [1, 2, 159, 161, 533, 534, 1100] if trial == 0 else []
        cuts = np.cumsum(sizes + list(rng.integers(1, 6000, size=40)))
        bounds = [0, *[int(c) for c in cuts if c < n], n]
        parts, frame = [], 0
        for i, end in enumerate(bounds[1:]):  # the runtime's loop: keep what the next frame needs
            start = C.window_start(frame, frontend.left_context)
            final = i == len(bounds) - 2
            parts.append(frames_from_window(frontend, x[:, start:end], start, frame, final))
            frame += parts[-1][2].shape[-1]
        streamed = tuple(torch.cat(stream, dim=-1) for stream in zip(*parts))
        assert_same_frames(streamed, offline, exact=dtype == torch.float64)


def test_frame_arithmetic() -> None:
    left, ahead = C.FRONTEND_LEFT_CONTEXT, C.FRONTEND_LOOKAHEAD
    assert (left, ahead) == (Frontend().left_context, Frontend().lookahead) == (534, 533)
    assert C.determined_frames(0, 16_000, final=True) == (0, 101)
    assert C.determined_frames(0, ahead, final=False) == (0, 0)
    assert C.determined_frames(0, ahead + 1, final=False) == (0, 1)
    start = C.window_start(50)
    assert start % C.HOP == 0 and start <= 50 * C.HOP - left
    assert C.determined_frames(start, 50 * C.HOP - start + ahead + 1, final=False) == (50, 51)
    frontend = Frontend()
    with pytest.raises(ValueError, match="needs the samples"):
        frames_from_window(frontend, torch.zeros(1, 4000), 4 * C.HOP, 5)


def test_long_audio_in_bounded_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    voice = synth_voice(3, 20.0)[0]
    x = torch.from_numpy(np.tile(voice, int(np.ceil(60 * SR / len(voice))))[: 60 * SR])[None]
    frontend = Frontend()
    direct = frontend(x)
    lengths: list[int] = []
    forward = frontend.forward

    def spy(waveform: torch.Tensor) -> tuple:
        lengths.append(waveform.shape[-1])
        return forward(waveform)

    monkeypatch.setattr(frontend, "forward", spy)
    blocked = frontend.compute(x, max_frames=500)
    assert len(lengths) == 12  # 6001 frames in blocks of 500
    assert max(lengths) <= 500 * C.HOP + frontend.left_context + frontend.lookahead + C.HOP
    assert_same_frames(blocked, direct, exact=False)
    # The pitch tracker never builds a (T, lags, window) tensor: its largest is (lags, T).
    d = frontend.pitch.difference(x[:, : 10 * SR])
    assert d.shape == (1, frontend.pitch.max_lag + 1, C.num_frames(10 * SR))


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="multiple of HOP"):
        Frontend(yin_window=700)
    with pytest.raises(ValueError, match="f0_min"):
        Frontend(f0_min=300.0, f0_max=200.0)
