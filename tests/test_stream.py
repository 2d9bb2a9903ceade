"""Stream: incremental frontend, endpointing, partials and finals, bounded buffers."""

from __future__ import annotations

import numpy as np
import pytest

from echo_edge import constants as C
from tests.conftest import harmonic
from tests.test_runtime import tiny_bundle_root


@pytest.fixture(scope="module")
def recognizer():
    from echo_edge.runtime.recognizer import Recognizer

    return Recognizer.from_bundle(tiny_bundle_root() / "bundle")


def feed_randomly(stream, x: np.ndarray, rng: np.random.Generator, most: int = 4000) -> list:
    """Push x in random chunk sizes (1 .. most samples) and finish -> every result."""
    results, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, most))
        results += stream.accept_waveform(C.SAMPLE_RATE, x[i : i + n])
        i += n
    return results + stream.input_finished()


def test_incremental_frames_equal_offline_frames(recognizer, rng) -> None:
    from echo_edge.runtime.stream import IncrementalFrontend

    x = harmonic(4.2, seed=7)
    offline = recognizer.features(x)
    assert offline.mel.shape == (C.N_MELS, C.num_frames(len(x)))
    for most in (200, 1500, 9000):
        frontend = IncrementalFrontend(recognizer.backend.frontend, *recognizer.context)
        blocks, i = [], 0
        while i < len(x):
            n = int(rng.integers(1, most))
            blocks += list(frontend.push(x[i : i + n]))
            i += n
        blocks += list(frontend.push(np.zeros(0, np.float32), final=True))
        assert [b.first for b in blocks] == list(
            np.cumsum([0] + [b.energy.size for b in blocks[:-1]])
        )
        for name in ("mel", "pitch", "energy", "silence", "wave"):
            streamed = np.concatenate([getattr(b, name) for b in blocks], axis=-1)
            np.testing.assert_allclose(streamed, getattr(offline, name), atol=1e-5, err_msg=name)
        # The frontend keeps only its left context and the undetermined tail.
        assert len(frontend._buf) < recognizer.context[0] + recognizer.context[1] + most + 2 * C.HOP


def test_random_chunks_give_the_whole_file_transcript(recognizer, rng) -> None:
    from echo_edge.runtime.stream import StreamOptions
    from tests.speech import speak

    x = np.concatenate([speak("open the window please"), harmonic(1.5, seed=8)])
    whole = recognizer.recognize(x)
    options = StreamOptions(endpointing=False, partial_interval_seconds=0.3)
    for _ in range(3):
        stream = recognizer.create_stream(options)
        results = feed_randomly(stream, x, rng)
        finals = [r for r in results if r.final]
        assert len(finals) == 1 and finals[0].tokens == whole.tokens
        assert finals[0].text == whole.text
        assert sum(not r.final for r in results) >= 5  # partials every 0.3 s of audio
        assert finals[0].end == pytest.approx(len(x) / C.SAMPLE_RATE)


def test_one_utterance_with_endpointing_equals_its_segment(recognizer, rng) -> None:
    from echo_edge.runtime.stream import StreamOptions
    from tests.speech import speak

    silence = np.zeros(C.SAMPLE_RATE, np.float32)
    x = np.concatenate([silence, speak("what time is it"), silence])
    stream = recognizer.create_stream(StreamOptions(partial_interval_seconds=0.5))
    finals = [r for r in feed_randomly(stream, x, rng) if r.final]
    assert len(finals) == 1
    (final,) = finals
    assert 0.4 <= final.start < 1.0 and final.end < len(x) / C.SAMPLE_RATE
    # Digital silence around the speech: the segment alone gives the same features.
    segment = x[round(final.start * C.SAMPLE_RATE) : round(final.end * C.SAMPLE_RATE)]
    assert recognizer.recognize(segment).tokens == final.tokens


def test_endpointing_splits_utterances(recognizer, rng) -> None:
    from echo_edge.runtime.stream import StreamOptions
    from tests.speech import speak

    gap = np.zeros(int(1.2 * C.SAMPLE_RATE), np.float32)
    parts = [speak("one two three"), gap, speak("four five", voice="en-us+f3"), gap, speak("six")]
    stream = recognizer.create_stream(StreamOptions(trailing_silence_seconds=0.6))
    finals = [r for r in feed_randomly(stream, np.concatenate(parts), rng) if r.final]
    assert [r.utterance for r in finals] == [0, 1, 2]
    assert all(a.end <= b.start for a, b in zip(finals, finals[1:]))
    # A longer trailing silence than the gaps (and no short-pause rule): one utterance.
    options = StreamOptions(trailing_silence_seconds=3.0, long_utterance_seconds=60.0)
    stream = recognizer.create_stream(options)
    assert sum(r.final for r in feed_randomly(stream, np.concatenate(parts), rng)) == 1


def test_silence_gives_no_utterance_and_the_start_threshold_is_a_floor(recognizer, rng) -> None:
    from echo_edge.runtime.stream import StreamOptions

    stream = recognizer.create_stream()
    assert feed_randomly(stream, np.zeros(3 * C.SAMPLE_RATE, np.float32), rng) == []
    quiet = harmonic(2.0, seed=9) * 10 ** (-40 / 20)  # voiced, about -51 dBFS, in silence
    assert sum(r.final for r in feed_randomly(recognizer.create_stream(), quiet, rng)) == 1
    strict = StreamOptions(start_threshold_dbfs=-40.0)  # an absolute floor above it
    assert feed_randomly(recognizer.create_stream(strict), quiet, rng) == []


def test_max_utterance_cuts_and_buffers_stay_bounded(recognizer, rng) -> None:
    from echo_edge.runtime.stream import StreamOptions

    x = harmonic(12.0, seed=10)  # 150 ms gaps: too short to end an utterance
    in_gap = lambda t: (t % 0.5) > 0.35  # noqa: E731
    stream = recognizer.create_stream(
        StreamOptions(endpointing=False, max_utterance_seconds=4.0, partial_interval_seconds=0)
    )
    finals = [r for r in feed_randomly(stream, x, rng, most=20000) if r.final]
    assert len(finals) == 4 and finals[0].start == 0.0
    assert all(r.end - r.start <= 4.0 + 1e-6 for r in finals)
    assert all(
        a.end == pytest.approx(b.start) and in_gap(a.end) for a, b in zip(finals, finals[1:])
    )
    assert stream._frames.size <= stream._frames.capacity
    # The same with endpointing: speech with no pause long enough to end it is cut too.
    x = np.concatenate([np.zeros(C.SAMPLE_RATE, np.float32), x])
    stream = recognizer.create_stream(StreamOptions(max_utterance_seconds=4.0))
    finals = [r for r in feed_randomly(stream, x, rng, most=20000) if r.final]
    assert len(finals) == 4 and all(r.end - r.start <= 4.0 + 1e-6 for r in finals)
    assert all(
        a.end == pytest.approx(b.start) and in_gap(a.end - 1) for a, b in zip(finals, finals[1:])
    )
    assert stream._frames.size <= stream._frames.capacity


def test_other_sample_rates_and_channels(recognizer) -> None:
    import soxr

    x = harmonic(3.0, seed=11, gaps=False)
    t = np.arange(len(x)) / C.SAMPLE_RATE
    x[(t % 0.5) > 0.44] = 0.0  # 60 ms gaps: syllable-like, shorter than any pause that ends speech
    x44 = soxr.resample(x, C.SAMPLE_RATE, 44100).astype(np.float32)
    stereo = np.stack([x44, x44], axis=1)  # (N, 2)
    stream = recognizer.create_stream()
    results = []
    for i in range(0, len(stereo), 4410):
        results += stream.accept_waveform(44100, stereo[i : i + 4410])
    results += stream.input_finished()
    assert stream.seconds == pytest.approx(3.0, abs=0.01)
    # The same segmentation as the 16 kHz mono float signal, whatever the rate, layout or dtype.
    mono = recognizer.create_stream()
    expected = sum(r.final for r in mono.accept_waveform(16000, x) + mono.input_finished())
    assert expected == 1
    assert sum(r.final for r in results) == expected
    int16 = (x * 32767).astype(np.int16)
    stream = recognizer.create_stream()
    finals = sum(r.final for r in stream.accept_waveform(16000, int16) + stream.input_finished())
    assert finals == expected


def test_bad_input_raises_value_errors(recognizer) -> None:
    stream = recognizer.create_stream()
    bad = harmonic(0.5)
    bad[10] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        stream.accept_waveform(16000, bad)
    stream.accept_waveform(16000, harmonic(0.5))
    with pytest.raises(ValueError, match="sample rate changed"):
        stream.accept_waveform(8000, harmonic(0.5))
    stream.input_finished()
    with pytest.raises(ValueError, match="already finished"):
        stream.accept_waveform(16000, harmonic(0.5))


def test_two_minute_soak_has_flat_memory() -> None:
    from bench.stream_soak import soak

    report = soak(tiny_bundle_root() / "bundle", minutes=2.0, speed=0.0, sample_every=10.0)
    assert report["finals"] >= 20
    assert report["partials"] >= report["finals"]  # every utterance gets partials
    assert report["rss_growth_mb"] < 20.0
    assert report["max_buffer_frames"] <= report["buffer_capacity_frames"]


# ---- every entry point checks, scales and clips audio as the file path does -------------------
def entry_points(recognizer) -> dict:
    """Each in-memory entry point as f(samples, rate) -> its finals' token ids."""

    def stream(samples, rate):
        s = recognizer.create_stream()
        results = s.accept_waveform(rate, samples) + s.input_finished()
        return [r.tokens for r in results if r.final]

    def recognize(samples, rate):
        return [recognizer.recognize(samples, sample_rate=rate).tokens]

    def transcribe(samples, rate):
        return [r.tokens for r in recognizer.transcribe_samples(samples, rate).segments]

    return {"stream": stream, "recognize": recognize, "transcribe_samples": transcribe}


ENTRY_POINTS = ["stream", "recognize", "transcribe_samples"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_channels_first_arrays_are_refused(recognizer, entry) -> None:
    x = harmonic(1.0)
    with pytest.raises(ValueError, match="not \\(channels, samples\\)"):
        entry_points(recognizer)[entry](np.stack([x, x]), 16000)  # (2, N)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("dtype", [np.uint8, np.bool_, np.int64, np.complex64])
def test_unsupported_dtypes_are_refused(recognizer, entry, dtype) -> None:
    with pytest.raises(ValueError, match="float or int16/int32"):
        entry_points(recognizer)[entry](np.ones(8000, dtype), 16000)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("rate", [1, 0, -16000, float("inf"), float("nan"), 10**7])
def test_impossible_sample_rates_are_refused(recognizer, entry, rate) -> None:
    with pytest.raises(ValueError, match="sample rate must be"):
        entry_points(recognizer)[entry](harmonic(0.5), rate)


@pytest.mark.parametrize("entry", ["recognize", "transcribe_samples"])
def test_an_empty_array_is_a_clear_error(recognizer, entry) -> None:
    with pytest.raises(ValueError, match="contains no samples"):
        entry_points(recognizer)[entry](np.zeros(0, np.float32), 16000)


def test_an_empty_chunk_in_a_stream_is_nothing(recognizer) -> None:
    stream = recognizer.create_stream()
    assert stream.accept_waveform(16000, np.zeros(0, np.float32)) == []
    assert stream.accept_waveform(16000, np.zeros((0, 2), np.int16)) == []
    assert stream.input_finished() == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_int16_is_scaled_like_float(recognizer, entry) -> None:
    x = harmonic(2.0, seed=12)
    pcm = np.round(x * 32767).astype(np.int16)
    f = entry_points(recognizer)[entry]
    assert f(pcm, 16000) == f(pcm.astype(np.float32) / 32768, 16000)
    assert len(f(pcm, 16000)) == 1


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_samples_above_full_scale_are_clipped(recognizer, entry) -> None:
    loud = harmonic(2.0, seed=13) * 4.0  # peaks near 9x full scale
    f = entry_points(recognizer)[entry]
    assert f(loud, 16000) == f(np.clip(loud, -1, 1), 16000)


def test_recognize_takes_a_sample_rate_and_channels(recognizer) -> None:
    import soxr

    x = harmonic(2.0, seed=14)
    x44 = soxr.resample(x, C.SAMPLE_RATE, 44100, quality="HQ").astype(np.float32)
    at_44k = recognizer.recognize(np.stack([x44, x44], axis=1), sample_rate=44100)
    assert at_44k.end == pytest.approx(2.0, abs=0.01)
    assert at_44k.tokens == recognizer.recognize(soxr.resample(x44, 44100, 16000)).tokens


# ---- joint CTC/attention decoding of finals (DecodingOptions.ctc_weight) ---------------------
def fake_ctc(frames: int, vocab: int) -> np.ndarray:
    """(S, V) log-softmax frames, the same for the same length (the tiny model has no CTC)."""
    x = np.random.default_rng(frames).normal(size=(frames, vocab)) * 3.0
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.fixture
def with_ctc(recognizer, monkeypatch) -> list:
    """The recogniser's encoder returns fake CTC log-probs; the list collects each output."""
    encode = recognizer.backend.encode
    seen: list = []

    def encode_with_ctc(*args, **kwargs):
        cross = encode(*args, **kwargs)
        cross = cross._replace(ctc=fake_ctc(cross.bias.shape[-1], recognizer.tokenizer.vocab_size))
        seen.append(cross)
        return cross

    monkeypatch.setattr(recognizer.backend, "encode", encode_with_ctc)
    return seen


def joint_speech() -> np.ndarray:
    from tests.speech import speak

    gap = np.zeros(int(1.0 * C.SAMPLE_RATE), np.float32)
    return np.concatenate([gap, speak("switch the kitchen light on"), gap, speak("thank you"), gap])


def test_joint_finals_equal_the_joint_search_on_the_same_encoder_output(
    recognizer, with_ctc, rng
) -> None:
    from echo_edge.runtime.ctc import joint_greedy_decode
    from echo_edge.runtime.decoding import DecodingOptions, confidence, greedy_decode, token_cap
    from echo_edge.runtime.stream import StreamOptions

    decoding = DecodingOptions(ctc_weight=0.5)
    stream = recognizer.create_stream(
        StreamOptions(partial_interval_seconds=0.0, decoding=decoding)
    )
    finals = [r for r in feed_randomly(stream, joint_speech(), rng) if r.final]
    assert len(finals) == 2 and len(with_ctc) == 2  # one encoder call per final
    differs = 0
    for r, cross in zip(finals, with_ctc):
        samples = round(r.end * C.SAMPLE_RATE) - round(r.start * C.SAMPLE_RATE)
        cap = token_cap(samples / C.SAMPLE_RATE, decoding, recognizer.config)
        logprobs: list[float] = []
        ids, _ = joint_greedy_decode(recognizer.backend, cross, cap, 0.5, 5, logprobs)
        assert list(r.tokens) == ids
        assert r.confidence == pytest.approx(confidence(logprobs) if ids else None)
        assert r.words == recognizer.word_times(ids, cross.ctc, r.start, r.end)
        differs += ids != greedy_decode(recognizer.backend, cross, cap)[0]
    assert differs >= 1  # the CTC term changed the search: the joint path really ran


def test_joint_finals_do_not_depend_on_partials(recognizer, with_ctc, monkeypatch, rng) -> None:
    import echo_edge.runtime.recognizer as module
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.runtime.stream import StreamOptions

    joint = module.joint_greedy_decode
    calls: list[int] = []
    monkeypatch.setattr(
        module, "joint_greedy_decode", lambda *a, **k: calls.append(1) or joint(*a, **k)
    )
    x = joint_speech()
    finals = {}
    for interval in (0.0, 0.3):
        options = StreamOptions(
            partial_interval_seconds=interval, decoding=DecodingOptions(ctc_weight=0.5)
        )
        stream = recognizer.create_stream(options)
        results = feed_randomly(stream, x, rng)
        finals[interval] = [(r.tokens, r.confidence, r.words) for r in results if r.final]
        assert len(calls) == len(finals[interval])  # partials decode with attention greedy
        calls.clear()
        if interval:
            assert stream.stats.partials >= 5
    assert finals[0.0] == finals[0.3] and len(finals[0.0]) == 2


def test_joint_decoding_without_ctc_falls_back_with_one_warning(rng) -> None:
    import warnings

    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.runtime.recognizer import Recognizer
    from echo_edge.runtime.stream import StreamOptions

    recognizer = Recognizer.from_bundle(tiny_bundle_root() / "bundle")
    assert not recognizer.backend.has_ctc
    x = joint_speech()
    attention = DecodingOptions(ctc_weight=0.0)  # asks for nothing the bundle lacks: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = recognizer.transcribe_samples(
            x, options=StreamOptions(partial_interval_seconds=0.0, decoding=attention)
        )
        plain_one = recognizer.recognize(x, options=attention)
    joint = StreamOptions(partial_interval_seconds=0.0, decoding=DecodingOptions(ctc_weight=0.5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = recognizer.transcribe_samples(x, options=joint)
        second = feed_randomly(recognizer.create_stream(joint), x, rng)
        one = recognizer.recognize(x, options=joint.decoding)
        default = recognizer.transcribe_samples(x)  # the default is joint: the same fallback
    assert [r.tokens for r in first.segments] == [r.tokens for r in plain.segments]
    assert [r.tokens for r in second if r.final] == [r.tokens for r in plain.segments]
    assert [r.tokens for r in default.segments] == [r.tokens for r in plain.segments]
    assert one.tokens == plain_one.tokens
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "no CTC head" in messages[0], messages
    recognizer.close()


@pytest.mark.parametrize("value", ["1", "-0.1", "nan", "inf", "two"])
def test_ctc_weight_flag_is_refused_out_of_range(capsys, value: str) -> None:
    from echo_edge.cli import HelpFormatter, Parser
    from echo_edge.runtime.transcribe import add_transcribe_args

    parser = add_transcribe_args(Parser(prog="echo-edge transcribe", formatter_class=HelpFormatter))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["a.wav", f"--ctc-weight={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "argument --ctc-weight:" in err[0] and value in err[0]


def test_ctc_weight_flag_reaches_the_stream_options() -> None:
    from echo_edge.cli import HelpFormatter, Parser
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.runtime.transcribe import add_transcribe_args, stream_options

    parser = add_transcribe_args(Parser(prog="echo-edge transcribe", formatter_class=HelpFormatter))
    assert stream_options(parser.parse_args(["a.wav"]), live=False).decoding == DecodingOptions()
    args = parser.parse_args(["a.wav", "--ctc-weight", "0.5"])
    assert stream_options(args, live=True).decoding.ctc_weight == 0.5


def test_pause_flags_reach_the_stream_options() -> None:
    from echo_edge.cli import HelpFormatter, Parser
    from echo_edge.runtime.stream import StreamOptions
    from echo_edge.runtime.transcribe import add_transcribe_args, stream_options

    parser = add_transcribe_args(Parser(prog="echo-edge transcribe", formatter_class=HelpFormatter))
    d = StreamOptions()  # since session 12 (stage 8): 7.5 dB and 0.14 s, bench/results/segmentation
    assert (d.stop_hysteresis_db, d.long_utterance_seconds, d.short_pause_seconds) == (
        7.5,
        2.0,
        0.14,
    )
    assert d.end_pad_seconds == 0.2
    default = stream_options(parser.parse_args(["a.wav"]), live=False)
    assert (default.long_utterance_seconds, default.short_pause_seconds) == (2.0, 0.14)
    args = parser.parse_args(["a.wav", "--long-utterance", "3", "--short-pause", "0.2"])
    options = stream_options(args, live=True)
    assert (options.long_utterance_seconds, options.short_pause_seconds) == (3.0, 0.2)


BAD_PAUSE_OPTIONS = [
    (field, value)
    for field in ("stop_hysteresis_db", "short_pause_seconds", "end_pad_seconds")
    for value in (-1.0, float("nan"))
] + [("stop_hysteresis_db", 61.0)]


@pytest.mark.parametrize(("field", "value"), BAD_PAUSE_OPTIONS)
def test_bad_pause_options_are_refused(field: str, value: float) -> None:
    from echo_edge.runtime.stream import StreamOptions

    with pytest.raises(ValueError):
        StreamOptions(**{field: value})


def test_ctc_weight_flag_on_a_bundle_without_ctc_warns_once(tmp_path) -> None:
    from tests.speech import speak_to_file
    from tests.test_runtime import cli

    wav = speak_to_file("open the door", tmp_path / "a.wav")
    bundle = str(tiny_bundle_root() / "bundle")
    plain = cli("--bundle", bundle, "--threads", "1", str(wav), str(wav))
    proc = cli("--bundle", bundle, "--threads", "1", "--ctc-weight", "0.5", str(wav), str(wav))
    assert proc.returncode == 0 and proc.stdout == plain.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("echo-edge: warning:"), lines
    assert "no CTC head" in lines[0]


def test_shipped_bundle_transcribes_with_ctc_weight(tmp_path) -> None:
    import json

    from echo_edge.runtime.recognizer import SHIPPED_BUNDLE
    from tests.speech import speak_to_file
    from tests.test_runtime import cli

    if not (SHIPPED_BUNDLE / "manifest.json").is_file():
        pytest.skip("no shipped bundle in this tree (make bundles builds it)")
    wav = speak_to_file("please turn on the lights in the kitchen", tmp_path / "a.wav")
    proc = cli("--bundle", str(SHIPPED_BUNDLE), "--threads", "1", "--json", "--ctc-weight", "0.5",
               str(wav))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)["files"]
    assert entry["text"].strip()
    words = [w for s in entry["segments"] for w in s.get("words", [])]
    assert words and all(s["confidence"] is not None for s in entry["segments"])
