"""The feature cache: a cached batch gives the features and the loss of the uncached one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from echo_edge.cli import build_parser, main
from echo_edge.data import SpeechCollator, SpeechDataset, read_manifest
from echo_edge.feature_cache import CachedCollator, CachedFeatureDataset, FeatureCache
from echo_edge.model import Echo
from echo_edge.tokenizer import default_tokenizer
from echo_edge.train import build_trainer
from tests.conftest import harmonic, tiny_config

TEXTS = ["turn on the lights", "call my mother", "what time is it"]
SECONDS = [0.73, 1.31, 0.52]  # unequal, not multiples of a hop: the padding matters


def write_corpus(root) -> str:  # noqa: ANN001
    rows = []
    for i, (text, seconds) in enumerate(zip(TEXTS, SECONDS)):
        path = root / f"u{i}.wav"
        x = harmonic(seconds, f0=110 + 40 * i, seed=i) + 0.02  # a DC offset for the filter
        sf.write(path, x, 16000, subtype="FLOAT")
        rows.append({"audio": path.name, "text": text, "duration": seconds})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(manifest)


def batches(tmp_path):  # noqa: ANN001, ANN201
    """The same three utterances as an uncached and a cached batch, and the model."""
    torch.manual_seed(0)
    model = Echo(tiny_config(features=("spectrogram", "waveform", "pitch"), pitch_theta=True))
    dataset = SpeechDataset(read_manifest(write_corpus(tmp_path)), default_tokenizer())
    cached = CachedFeatureDataset(dataset, FeatureCache(tmp_path / "cache", model.config))
    plain = SpeechCollator()([dataset[i] for i in range(len(dataset))])
    fast = CachedCollator()([cached[i] for i in range(len(cached))])
    return model, plain, fast


def test_cached_features_equal_the_frontend_on_the_padded_batch(tmp_path) -> None:  # noqa: ANN001
    model, plain, fast = batches(tmp_path)
    ref = model.features(plain["input_values"], plain["attention_mask"])
    got = model.features(
        fast["input_values"], fast["attention_mask"], (fast["mel"], fast["pitch"], fast["silence"])
    )
    assert got.mel.shape == ref.mel.shape and got.pitch.shape == ref.pitch.shape
    torch.testing.assert_close(got.mel, ref.mel, atol=2e-4, rtol=0)  # frontend.py: float32
    torch.testing.assert_close(got.pitch, ref.pitch, atol=1e-4, rtol=0)
    assert torch.equal(got.silence, ref.silence)
    assert torch.equal(got.frame_mask, ref.frame_mask)
    # the padded tails (frames past each short item's end) are covered too
    assert (ref.frame_mask == 0).sum() > 50


def test_cached_loss_equals_uncached_loss(tmp_path) -> None:  # noqa: ANN001
    model, plain, fast = batches(tmp_path)
    model.train()
    torch.manual_seed(1)
    ref = model(plain["input_values"], plain["attention_mask"], plain["labels"])["loss"]
    cached = (fast["mel"], fast["pitch"], fast["silence"])
    torch.manual_seed(1)
    got = model(fast["input_values"], fast["attention_mask"], fast["labels"], cached=cached)
    assert torch.isclose(got["loss"], ref, rtol=1e-5, atol=0), (float(got["loss"]), float(ref))


def test_entries_are_reused_and_keyed_by_file_and_settings(tmp_path) -> None:  # noqa: ANN001
    _, plain, _ = batches(tmp_path)
    entries = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(entries) == 3
    cache = FeatureCache(tmp_path / "cache", tiny_config())
    stamp = entries[0].stat().st_mtime_ns
    audio = tmp_path / "u0.wav"
    assert cache.path_for(audio) in entries
    cache.get(audio, np.zeros(10, np.float32))  # read back: the samples are not used
    assert entries[0].stat().st_mtime_ns == stamp
    assert FeatureCache(tmp_path / "c2", tiny_config(f0_min=80.0)).path_for(audio).name not in {
        e.name for e in entries
    }
    sf.write(audio, harmonic(0.4), 16000, subtype="FLOAT")  # the file changes: a new key
    assert cache.path_for(audio) not in entries


def test_trainer_with_cache_trains(tmp_path) -> None:  # noqa: ANN001
    manifest = write_corpus(tmp_path)
    args = build_parser().parse_args(
        ["train", "--train", manifest, "--out", str(tmp_path / "run"), "--max-steps", "2"]
        + ["--batch-size", "2", "--workers", "0", "--feature-cache", str(tmp_path / "cache")]
    )
    trainer = build_trainer(args, config=tiny_config())
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--speed-perturb", "0.9", "1.1"], "--speed-perturb"),
        (["--augment", "light"], "--augment"),
        (["--join-prob", "0.3"], "--join-prob"),
    ],
)
def test_cache_with_waveform_augmentation_is_one_line(tmp_path, capsys, flags, named) -> None:  # noqa: ANN001
    manifest = write_corpus(tmp_path)
    argv = ["train", "--train", manifest, "--out", str(tmp_path / "run")]
    code = main(argv + ["--feature-cache", str(tmp_path / "cache"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and f"--feature-cache cannot be used with {named}" in err[0]
