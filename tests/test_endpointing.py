"""Voice activity that adapts to the noise floor, DC removal, quiet-point cuts, finals that
partials cannot change, and no text from audio without voiced speech."""

from __future__ import annotations

import numpy as np
import pytest

from echo_edge import constants as C
from tests.conftest import harmonic
from tests.test_runtime import tiny_bundle_root
from tests.test_stream import feed_randomly


@pytest.fixture(scope="module")
def recognizer():
    from echo_edge.runtime.recognizer import Recognizer

    return Recognizer.from_bundle(tiny_bundle_root() / "bundle")


def at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    """x scaled to an RMS of `dbfs` dBFS, float32."""
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(np.square(x, dtype=np.float64)))).astype(
        np.float32
    )


def noise(seconds: float, colour: str, seed: int = 0) -> np.ndarray:
    """White or pink (1/f power) Gaussian noise, unit RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * C.SAMPLE_RATE)
    x = rng.standard_normal(n)
    if colour == "pink":
        spectrum = np.fft.rfft(x) / np.sqrt(np.arange(1, n // 2 + 2))
        x = np.fft.irfft(spectrum, n)
    return at_dbfs(x, 0.0)


def in_quiet_room(speech: np.ndarray, dbfs: float, seed: int = 0) -> np.ndarray:
    """1 s of lead-in, speech at `dbfs` RMS, 1 s of tail, all under -80 dBFS white noise."""
    pad = np.zeros(C.SAMPLE_RATE, np.float32)
    x = np.concatenate([pad, at_dbfs(speech, dbfs), pad])
    return x + at_dbfs(noise(len(x) / C.SAMPLE_RATE, "white", seed), -80.0)


def syllabic(seconds: float, seed: int) -> np.ndarray:
    """Voiced sound whose loudness moves like syllables (3 Hz, troughs 20 dB down), no pause.

    (A steady tone is a noise floor to the voice-activity detector, not speech.)"""
    t = np.arange(int(seconds * C.SAMPLE_RATE)) / C.SAMPLE_RATE
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t)
    return (harmonic(seconds, seed=seed, gaps=False) * envelope).astype(np.float32)


def finals(recognizer, x: np.ndarray, rng: np.random.Generator, **options: object) -> list:
    from echo_edge.runtime.stream import StreamOptions

    stream = recognizer.create_stream(StreamOptions(**options))
    return [r for r in feed_randomly(stream, x, rng) if r.final]


# ---- adaptive voice activity --------------------------------------------------------------
@pytest.mark.parametrize("dbfs", [-20.0, -44.0, -55.0])
def test_speech_in_a_quiet_room_is_found_down_to_minus_55_dbfs(recognizer, rng, dbfs) -> None:
    from tests.speech import speak

    speech = speak("please open the front door for me")
    (final,) = finals(recognizer, in_quiet_room(speech, dbfs), rng)
    seconds = len(speech) / C.SAMPLE_RATE
    assert 0.5 <= final.start <= 1.2 and 1.0 + seconds - 0.3 <= final.end <= 2.0 + seconds


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_alone_at_minus_30_dbfs_gives_no_utterance(recognizer, rng, colour) -> None:
    from echo_edge.runtime.recognizer import FILE_OPTIONS

    x = at_dbfs(noise(6.0, colour, seed=3), -30.0)
    stream = recognizer.create_stream()
    assert feed_randomly(stream, x, rng) == []
    assert recognizer.transcribe_samples(x, options=FILE_OPTIONS).segments == []


def test_speech_in_steady_noise_is_found(recognizer, rng) -> None:
    from tests.speech import speak

    pad = np.zeros(2 * C.SAMPLE_RATE, np.float32)
    speech = np.concatenate([pad, at_dbfs(speak("turn the radio down"), -20.0), pad])
    x = speech + at_dbfs(noise(len(speech) / C.SAMPLE_RATE, "pink", seed=4), -35.0)
    (final,) = finals(recognizer, x, rng)
    assert 1.5 <= final.start <= 2.2


# ---- DC removal ---------------------------------------------------------------------------
def test_highpass_on_any_chunking_equals_the_whole_signal(rng) -> None:
    from echo_edge.runtime.highpass import HighPass, remove_dc

    x = (harmonic(3.0, seed=2) + 0.01).astype(np.float32)
    whole = remove_dc(x)
    for most in (2, 700, 5000):
        hp, parts, i = HighPass(), [], 0
        while i < len(x):
            n = int(rng.integers(1, most))
            parts.append(hp(x[i : i + n]))
            i += n
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_highpass_removes_a_dc_step_and_keeps_speech(rng) -> None:
    from echo_edge.runtime.highpass import remove_dc

    x = harmonic(2.5, seed=3, gaps=False)
    step = np.where(np.arange(len(x)) >= C.SAMPLE_RATE // 2, 0.01, 0.0).astype(np.float32)
    settle = int(1.2 * C.SAMPLE_RATE)  # 1.2 s after the step (time constant 80 ms)
    difference = remove_dc(x + step) - remove_dc(x)  # the filter is linear: the step's response
    assert np.abs(difference[C.SAMPLE_RATE // 2 + settle :]).max() < 1e-6
    kept = remove_dc(x)[settle:]
    assert np.std(kept) == pytest.approx(np.std(x[settle:]), rel=0.01)  # 150 Hz and up: ~0 dB


def test_dc_offset_changes_no_segment(recognizer, rng) -> None:
    from tests.speech import speak

    gap = np.zeros(int(0.75 * C.SAMPLE_RATE), np.float32)
    words = ["one two three", "four five six", "seven eight"]
    x = np.concatenate([gap, *(np.concatenate([speak(w), gap]) for w in words)]) * 0.5
    plain = finals(recognizer, x, rng)
    shifted = finals(recognizer, (x + 0.01).astype(np.float32), rng)
    assert len(plain) == len(shifted) == 3
    for a, b in zip(plain, shifted):
        assert a.start == pytest.approx(b.start, abs=0.02)
        assert a.end == pytest.approx(b.end, abs=0.02)
    offline = recognizer.recognize(x), recognizer.recognize((x + 0.01).astype(np.float32))
    assert offline[0].tokens == offline[1].tokens
    conditioned = [recognizer.conditioned_features(y) for y in (x, (x + 0.01).astype(np.float32))]
    np.testing.assert_allclose(conditioned[1].energy, conditioned[0].energy, atol=0.05)
    assert recognizer.features(x + 0.01).energy[5:-5].min() > -41.0  # raw: DC in every frame


# ---- long utterances ----------------------------------------------------------------------
def test_quietest_cut_finds_the_dip_or_the_end() -> None:
    from echo_edge.runtime.stream import FrameBlock, FrameBuffer

    frames = FrameBuffer(400)
    energy = np.full(400, -20.0, np.float32)
    energy[250:262] = -70.0  # a 120 ms pause
    zeros = np.zeros((C.N_MELS + 3 + 1, 400), np.float32)
    wave = np.zeros(400 * C.HOP, np.float32)
    frames.append(FrameBlock(0, zeros[:80], zeros[80:83], energy, zeros[83], wave), energy > -30)
    assert 250 <= frames.quietest_cut(100, 400) < 262
    assert frames.quietest_cut(300, 400) == 399  # no pause: cut at the end


def test_long_speech_is_cut_at_the_quiet_dip(recognizer, rng) -> None:
    x = syllabic(10.0, seed=5)
    dip = slice(int(6.3 * C.SAMPLE_RATE), int(6.5 * C.SAMPLE_RATE))
    x[dip] *= 0.003  # 50 dB down for 200 ms, too short to end an utterance
    for endpointing in (False, True):
        options = dict(endpointing=endpointing, long_utterance_seconds=60.0)
        cuts = finals(recognizer, x, rng, max_utterance_seconds=8.0, **options)
        assert len(cuts) == 2
        assert 6.3 <= cuts[0].end <= 6.5 and cuts[1].start == pytest.approx(cuts[0].end)
        assert cuts[1].end == pytest.approx(10.0, abs=0.01)


def test_long_utterances_also_end_at_short_pauses(recognizer, rng) -> None:
    x = syllabic(6.0, seed=7)
    for at in (1.0, 3.0):  # seconds of speech before a 0.2 s pause
        y = x.copy()
        y[int(at * C.SAMPLE_RATE) : int((at + 0.2) * C.SAMPLE_RATE)] = 0.0
        y = np.concatenate([np.zeros(C.SAMPLE_RATE // 2, np.float32), y])
        ends = [r.end for r in finals(recognizer, y, rng, long_utterance_seconds=2.0)]
        if at < 2.0:  # a short utterance goes on over a short pause
            assert ends == [pytest.approx(6.5, abs=0.01)]
        else:  # past long_utterance_seconds it ends there, with the pause's silence
            assert len(ends) == 2 and 3.5 + 0.1 <= ends[0] <= 3.5 + 0.2


def test_the_short_pause_and_end_pad_are_options(recognizer, rng) -> None:
    """A 0.2 s pause 3 s in ends a long utterance at the default short_pause_seconds, not at
    0.3; end_pad_seconds sets how much of the pause the first final keeps."""
    y = syllabic(6.0, seed=7)
    y[int(3.0 * C.SAMPLE_RATE) : int(3.2 * C.SAMPLE_RATE)] = 0.0
    y = np.concatenate([np.zeros(C.SAMPLE_RATE // 2, np.float32), y])
    kept = finals(recognizer, y, rng, long_utterance_seconds=2.0, short_pause_seconds=0.3)
    assert [r.end for r in kept] == [pytest.approx(6.5, abs=0.01)]
    ends = {
        pad: finals(recognizer, y, rng, long_utterance_seconds=2.0, end_pad_seconds=pad)[0].end
        for pad in (0.0, 0.1)
    }
    assert 3.5 - 0.02 <= ends[0.0] <= 3.5 + 0.02
    assert ends[0.1] == pytest.approx(ends[0.0] + 0.1, abs=0.02)
    assert len(finals(recognizer, y, rng, long_utterance_seconds=2.0, end_pad_seconds=0.0)) == 2


def test_the_default_short_pause_is_longer_than_0_12_s(recognizer, rng) -> None:
    """A 0.13 s pause 3 s in: the default (0.14 s, session 12) goes on over it, as the old
    0.12 s rule did not."""
    y = syllabic(6.0, seed=7)
    y[int(3.0 * C.SAMPLE_RATE) : int(3.13 * C.SAMPLE_RATE)] = 0.0
    y = np.concatenate([np.zeros(C.SAMPLE_RATE // 2, np.float32), y])
    assert len(finals(recognizer, y, rng, long_utterance_seconds=2.0)) == 1
    assert (
        len(finals(recognizer, y, rng, long_utterance_seconds=2.0, short_pause_seconds=0.12)) == 2
    )


def test_the_stop_hysteresis_decides_whether_a_quieter_tail_is_speech(recognizer, rng) -> None:
    """Speech, then 1 s of a steady sound at -70 dBFS (under the -65 dBFS start threshold, and
    the floor + 12 dB the noise floor puts it at once the tail is the floor), then silence:
    with 15 dB of hysteresis the tail still counts as speech (the final ends after it), with
    2 dB it is quiet and the final ends soon after the loud part."""
    lead = np.zeros(C.SAMPLE_RATE // 2, np.float32)
    tail = at_dbfs(harmonic(1.0, seed=10, gaps=False), -70.0)
    y = np.concatenate([lead, syllabic(2.0, seed=9), tail, np.zeros(C.SAMPLE_RATE, np.float32)])
    end = {}
    for hyst in (2.0, 15.0):
        cuts = finals(recognizer, y, rng, stop_hysteresis_db=hyst, long_utterance_seconds=60.0)
        end[hyst] = cuts[0].end
    assert end[2.0] <= 2.5 + 0.25 and end[15.0] >= 3.5, end


# ---- partials never change finals ---------------------------------------------------------
def test_partials_do_not_change_finals(recognizer, rng) -> None:
    from tests.speech import speak

    gap = np.zeros(C.SAMPLE_RATE, np.float32)
    x = np.concatenate([speak("good morning to you"), gap, speak("it is raining again"), gap])
    with_partials = finals(recognizer, x, rng, partial_interval_seconds=0.1)
    without = finals(recognizer, x, rng, partial_interval_seconds=0.0)
    assert len(with_partials) == 2
    assert [(r.tokens, r.start, r.end) for r in with_partials] == [
        (r.tokens, r.start, r.end) for r in without
    ]


# ---- no text from unvoiced audio -----------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [dict(endpointing=False), dict(max_utterance_seconds=0.1), dict(start_threshold_dbfs=-100.0)],
)
def test_noise_without_voiced_speech_gives_no_text(recognizer, rng, options) -> None:
    from echo_edge.runtime.stream import StreamOptions

    x = at_dbfs(noise(3.0, "white", seed=6), -30.0)
    stream = recognizer.create_stream(StreamOptions(partial_interval_seconds=0.2, **options))
    assert feed_randomly(stream, x, rng) == []
    assert stream.stats.decoder_calls == 0


def test_a_quieter_tail_after_a_short_pause_end_is_resumed(recognizer, rng) -> None:
    """Under white noise: 3 s of speech 20 dB over it, a 0.2 s pause (a short-pause end), then
    1 s of voice 8 dB over the noise (above the stop threshold, under the start threshold).
    The tail is lost unless resume_after_short_pause lets it start at the stop threshold; after
    a pause longer than the trailing silence it does not start either way."""
    sr = C.SAMPLE_RATE
    floor = -30.0

    def scene(pause: float) -> np.ndarray:
        loud = at_dbfs(syllabic(3.0, seed=7), floor + 20.0)
        tail = at_dbfs(harmonic(1.0, seed=11, gaps=False), floor + 8.0)
        gap = np.zeros(int(pause * sr), np.float32)
        x = np.concatenate(
            [np.zeros(sr, np.float32), loud, gap, tail, np.zeros(3 * sr // 2, np.float32)]
        )
        return x + at_dbfs(noise(len(x) / sr, "white", seed=12), floor)

    options = dict(long_utterance_seconds=2.0, max_utterance_seconds=15.0)
    short = scene(0.2)
    assert [r.end < 4.3 for r in finals(recognizer, short, rng, **options)] == [True]
    first, second = finals(recognizer, short, rng, resume_after_short_pause=True, **options)
    assert first.end < 4.3 and second.start == pytest.approx(first.end, abs=0.3)
    assert second.end >= 5.1, second  # the tail (4.2-5.2 s) is inside the second final
    assert len(finals(recognizer, scene(0.8), rng, resume_after_short_pause=True, **options)) == 1
