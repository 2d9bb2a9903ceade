"""The synthetic corpus: what the manifests say is on disk, held-out voices and sentences,
reproducibility, and the augmentation it uses."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus import synth
from echo_edge.corpus.augment import (
    Effect,
    add_noise,
    apply_chain,
    describe,
    reverberate,
    sample_chain,
    speed_perturb,
    telephone,
)
from echo_edge.text import normalize_text

AUGMENT = re.compile(
    r"^(clean|((speed|reverb|noise|telephone|gain)[^,]*)(,(speed|reverb|noise|telephone|gain)[^,]*)*)$"
)


def require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def read_rows(corpus: Path) -> list[dict]:
    return [json.loads(line) for split in synth.SPLITS for line in open(corpus / f"{split}.jsonl")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_espeak()
    out = tmp_path_factory.mktemp("corpus")
    synth.synthesize_corpus(out, hours=0.01, seed=11, workers=2, progress=False)
    return out


def test_manifest_matches_files(corpus: Path) -> None:
    rows = read_rows(corpus)
    assert {r["split"] for r in rows} == set(synth.SPLITS)
    for row in rows:
        assert set(row) >= {"audio", "text", "duration", "voice", "augment", "split", "settings"}
        assert row["engine"] in ("espeak-ng", "flite") and row["voice"].startswith(row["engine"])
        assert row["licence"] == synth.engines.get(row["engine"]).licence
        info = sf.info(corpus / row["audio"])
        assert info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.frames / SAMPLE_RATE - row["duration"]) < 0.010
        assert 0.3 < row["duration"] <= synth.MAX_SECONDS
        assert row["text"] and row["text"] == normalize_text(row["text"])
        assert row["text"] == normalize_text(row["raw"])
        assert AUGMENT.match(row["augment"]), row["augment"]
    summary = json.loads((corpus / "synth.json").read_text())
    assert sum(s["utterances"] for s in summary["splits"].values()) == len(rows)


def test_audio_is_speech_with_short_margins(corpus: Path) -> None:
    for row in read_rows(corpus):
        if row["augment"] != "clean":
            continue
        x, _ = sf.read(corpus / row["audio"], dtype="float32")
        assert np.sqrt(np.mean(x**2)) > 0.005 and np.max(np.abs(x)) <= 1.0
        lead = np.flatnonzero(np.abs(x) > 0.01)
        assert 0.05 < lead[0] / SAMPLE_RATE < 0.45  # ~0.1-0.3 s of silence kept
        assert 0.05 < (x.size - lead[-1]) / SAMPLE_RATE < 0.45


def test_splits_hold_out_voices_and_sentences(corpus: Path) -> None:
    rows = read_rows(corpus)
    voices = {s: {r["voice"] for r in rows if r["split"] == s} for s in synth.SPLITS}
    texts = {s: {r["text"] for r in rows if r["split"] == s} for s in synth.SPLITS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not voices[a] & voices[b], (a, b)
        assert not texts[a] & texts[b], (a, b)
    test = [r for r in rows if r["split"] == "test"]
    assert any(r["augment"] == "clean" for r in test) and any(r["augment"] != "clean" for r in test)


def test_voice_pool_is_large_and_split_by_speaker() -> None:
    require_espeak()
    voices = synth.espeak_voices()
    assert len(voices) >= 100
    variant_split: dict[str, set[str]] = {}
    for v in voices:
        variant_split.setdefault(v.label.partition("+")[2], set()).add(v.split)
    assert all(len(splits) == 1 for splits in variant_split.values())  # a speaker has one split
    assert {v.split for v in voices} == set(synth.SPLITS)


def test_same_seed_same_manifests(corpus: Path, tmp_path: Path) -> None:
    synth.synthesize_corpus(tmp_path / "again", hours=0.01, seed=11, workers=1, progress=False)
    for split in synth.SPLITS:
        assert (tmp_path / "again" / f"{split}.jsonl").read_text() == (
            corpus / f"{split}.jsonl"
        ).read_text()
    other = synth.plan_corpus(0.01, seed=12)
    assert [u.text for u in other] != [
        json.loads(r)["text"] for r in (corpus / "test.jsonl").open()
    ]


def test_bad_arguments_raise_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Path
) -> None:
    for hours in (0.0, -1.0, float("nan"), float("inf")):  # inf planned forever, nan nothing
        with pytest.raises(RuntimeError, match="--hours"):
            synth.plan_corpus(hours)
    with pytest.raises(RuntimeError, match="--workers"):
        synth.synthesize_corpus(tmp_path / "w", hours=0.01, workers=10_000, progress=False)
    with pytest.raises(RuntimeError, match="--overwrite"):
        synth.synthesize_corpus(corpus, hours=0.01, progress=False)
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    synth.espeak_voices.cache_clear()
    try:
        with pytest.raises(
            RuntimeError, match="espeak-ng is not installed: apt-get install espeak-ng"
        ) as err:
            synth.synthesize_corpus(tmp_path / "x", hours=0.01, progress=False)
        assert "\n" not in str(err.value)
    finally:
        synth.espeak_voices.cache_clear()


def test_trim_silence_margins() -> None:
    speech = np.sin(np.linspace(0, 800 * np.pi, SAMPLE_RATE)).astype(np.float32)
    padded = np.concatenate([np.zeros(SAMPLE_RATE), speech, np.zeros(SAMPLE_RATE // 50)]).astype(
        np.float32
    )
    out = synth.trim_silence(padded, (0.2, 0.1))
    assert out.size == pytest.approx(SAMPLE_RATE * 1.3, abs=SAMPLE_RATE * 0.011)


def test_noise_hits_requested_snr() -> None:
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(SAMPLE_RATE) * 0.05).astype(np.float32) * 0.3
    for kind in ("white", "pink", "brown", "babble"):
        y = add_noise(x, 10.0, kind, rng)
        snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert snr == pytest.approx(10.0, abs=0.1), kind


def test_speed_reverb_telephone() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    assert speed_perturb(x, 1.1, SAMPLE_RATE).size == pytest.approx(SAMPLE_RATE / 1.1, abs=2)
    assert speed_perturb(x, 0.9, SAMPLE_RATE).size == pytest.approx(SAMPLE_RATE / 0.9, abs=2)
    wet = reverberate(x, 0.5, SAMPLE_RATE, rng)
    assert wet.size == x.size and np.sqrt(np.mean(wet**2)) == pytest.approx(0.1, rel=0.05)
    phone = telephone(x, SAMPLE_RATE)
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(phone.size, 1 / SAMPLE_RATE)
    in_band = spectrum[(freqs > 500) & (freqs < 3000)].mean()
    assert spectrum[freqs > 4200].mean() < 1e-3 * in_band
    assert spectrum[freqs < 150].mean() < 1e-2 * in_band


def test_chains_are_described_and_bounded() -> None:
    rng = random.Random(0)
    chains = [sample_chain(rng, noisy=True) for _ in range(200)]
    assert all(any(e.name == "noise" for e in c) for c in chains)
    assert describe([]) == "clean"
    assert (
        describe([Effect("speed", 0.95), Effect("noise", 12, "pink")])
        == "speed=0.95,noise=pink@12dB"
    )
    loud = apply_chain(
        np.full(100, 0.5, np.float32), [Effect("gain", 12)], SAMPLE_RATE, np.random.default_rng(0)
    )
    assert np.max(np.abs(loud)) <= 0.99 + 1e-6
