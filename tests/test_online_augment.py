"""The online waveform chain (echo_edge.corpus.online): each effect, seeding, the dataset."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus.online import (
    PRESETS,
    AugmentConfig,
    Augmenter,
    augment_config,
    gain,
    lossy,
    reverberate,
    rir_bank,
    rms_dbfs,
    telephone,
)
from echo_edge.data import SpeechDataset
from echo_edge.tokenizer import build_char_tokenizer
from tests.conftest import harmonic

pytest.importorskip("pyroomacoustics", reason="the train extra's pyroomacoustics builds RIRs")

SMALL_FULL = replace(PRESETS["full"], rir_bank=4)  # a 4-room bank keeps tests fast
TONES_HZ = [250.0, 410.0, 630.0, 870.0, 1130.0, 1370.0, 1610.0, 1890.0, 2170.0]


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def only(**fields: object) -> AugmentConfig:
    """A config where only the named effects fire."""
    return replace(AugmentConfig(rir_bank=4), **fields)


def band_energy(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_presets_parse_and_match_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from echo_edge.cli import build_parser

    assert augment_config("none").active is False
    assert augment_config("light").active and augment_config("full").active
    assert augment_config("full").gain_db == (-30.0, 30.0)
    assert augment_config("full").noise_snr_db == (0.0, 30.0)
    with pytest.raises(ValueError, match="unknown augmentation preset 'loud'"):
        augment_config("loud")
    with pytest.raises(ValueError, match="noise_prob"):
        AugmentConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="unknown noise kind or codec: gsm"):
        AugmentConfig(telephone_codecs=("gsm",))
    parser = build_parser()
    base = ["train", "--train", "t.jsonl"]
    assert parser.parse_args(base).augment == "none"  # existing commands keep their meaning
    for name in PRESETS:
        assert parser.parse_args(base + ["--augment", name]).augment == name
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert "--augment {" + ",".join(PRESETS) + "}" in capsys.readouterr().out  # no other choice


def test_cli_refuses_an_unknown_preset(capsys: pytest.CaptureFixture[str]) -> None:
    from echo_edge.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--train", "t.jsonl", "--augment", "loud"])
    assert exit_info.value.code != 0
    assert "invalid choice: 'loud'" in capsys.readouterr().err


def test_gain_changes_rms_by_the_drawn_db() -> None:
    x = tone(440.0, amplitude=0.1 * np.sqrt(2))  # RMS -20 dBFS
    assert rms_dbfs(x) == pytest.approx(-20.0, abs=0.01)
    y, db = gain(x, -12.5)
    assert db == -12.5 and rms_dbfs(y) == pytest.approx(-32.5, abs=0.01)
    y, db = gain(x, -50.0, min_rms_dbfs=-60.0)  # the floor: never below -60 dBFS RMS
    assert db == pytest.approx(-40.0) and rms_dbfs(y) == pytest.approx(-60.0, abs=0.01)
    augmenter = Augmenter(only(gain_prob=1.0, gain_db=(-30.0, 0.0)), seed=1)
    drawn = []
    for draw in range(6):
        y, steps = augmenter(x, 0, draw)
        assert [s.name for s in steps] == ["gain"]
        assert rms_dbfs(y) - rms_dbfs(x) == pytest.approx(steps[0].value, abs=0.01)
        drawn.append(steps[0].value)
    assert max(drawn) - min(drawn) > 5  # drawn anew, across the range


def test_loud_gain_is_limited_not_clipped() -> None:
    x = tone(440.0, amplitude=0.5)
    y, steps = Augmenter(only(gain_prob=1.0, gain_db=(20.0, 30.0)), seed=0)(x, 0, 0)
    assert steps[0].value >= 20 and np.max(np.abs(y)) == pytest.approx(0.99, abs=1e-6)
    assert np.allclose(y, x * (0.99 / 0.5), atol=1e-5)  # a scale of the input: no clipping


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_noise_hits_the_drawn_snr(kind: str) -> None:
    x = harmonic(2.0, seed=3) * 0.1  # quiet enough that the limiter never acts
    augmenter = Augmenter(only(noise_prob=1.0, noise_kinds=(kind,)), seed=2)
    snrs = []
    for draw in range(5):
        y, steps = augmenter(x, 0, draw)
        assert [(s.name, s.kind) for s in steps] == [("noise", kind)]
        noise = y.astype(np.float64) - x
        measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
        assert measured == pytest.approx(steps[0].value, abs=0.5)
        snrs.append(steps[0].value)
    assert min(snrs) >= 0 and max(snrs) <= 30 and len(set(snrs)) == 5
    if kind != "white":  # coloured: more power below 500 Hz than above 4 kHz per hertz
        assert band_energy(noise, 20, 500) / 480 > 10 * band_energy(noise, 4000, 8000) / 4000


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_telephone_removes_energy_above_3400_hz(codec: str) -> None:
    x = (np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE) * 0.1).astype(np.float32)
    y = telephone(x, codec)
    assert y.shape == x.shape and y.dtype == np.float32
    assert band_energy(y, 3600, 8000) < 1e-3 * band_energy(x, 3600, 8000)  # -30 dB and more
    kept = band_energy(y, 500, 3000) / band_energy(x, 500, 3000)
    assert 0.5 < kept < 2.0  # the voice band passes
    assert band_energy(y, 0, 150) < 1e-2 * band_energy(x, 0, 150)  # and the hum band goes
    assert not np.array_equal(telephone(x, "ulaw"), telephone(x, "alaw"))


@pytest.mark.parametrize("codec", ["vorbis", "mp3"])
def test_lossy_codec_keeps_length_and_the_signal(codec: str) -> None:
    x = harmonic(1.0, seed=1, gaps=False) * 0.5
    y = lossy(x, codec, 0.5)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert not np.array_equal(x, y)
    correlation = np.corrcoef(x, y)[0, 1]
    assert correlation > 0.9  # aligned (no codec delay) and close to the input


def test_reverb_lengthens_the_energy_decay() -> None:
    bank = rir_bank(6, seed=0, rt60_s=(0.3, 0.9))
    assert rir_bank(2, seed=0, rt60_s=(0.3, 0.9))[1].tobytes() == bank[1].tobytes()  # seeded
    assert not np.array_equal(rir_bank(1, seed=1, rt60_s=(0.3, 0.9))[0][:500], bank[0][:500])
    assert len({h.size for h in bank}) > 1  # rooms differ
    x = np.zeros(SAMPLE_RATE, dtype=np.float32)
    x[1600:3200] = np.random.default_rng(0).standard_normal(1600).astype(np.float32) * 0.3
    end = 3200
    tail = slice(end + 800, end + 4800)  # 50-300 ms after the burst stops
    for h in bank:
        y = reverberate(x, h)
        assert y.shape == x.shape
        assert np.sum(y[tail] ** 2) > 1e-3 * np.sum(y[:end] ** 2)  # the room still rings
    assert np.sum(x[tail] ** 2) == 0.0  # the dry signal is silent there


def test_babble_is_made_of_other_rows() -> None:
    rows = [{"audio": f"row{i}", "hz": f} for i, f in enumerate(TONES_HZ)]

    def load(row: dict) -> np.ndarray:
        return tone(row["hz"], seconds=0.7)

    config = only(babble_prob=1.0, babble_snr_db=(10.0, 10.0))
    augmenter = Augmenter(config, seed=5, rows=rows, load=load)
    x = tone(TONES_HZ[0], seconds=2.0)
    seen = set()
    for draw in range(4):
        y, steps = augmenter(x, 0, draw)
        talkers = steps[0].talkers
        assert steps[0].name == "babble" and 3 <= len(talkers) <= 7
        assert 0 not in talkers and len(set(talkers)) == len(talkers)
        seen.update(talkers)
        mix = y.astype(np.float64) - x
        snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(mix**2))
        assert snr == pytest.approx(10.0, abs=0.1)  # quiet: speech 10 dB over babble
        for j, hz in enumerate(TONES_HZ):
            energy = band_energy(mix, hz - 30, hz + 30) / band_energy(mix, 0, 8000)
            assert (energy > 0.05) == (j in talkers), (j, talkers)  # those rows and no other
    assert len(seen) > 4  # different talkers per draw


def test_the_same_seed_index_and_draw_give_the_same_audio() -> None:
    rows = [{"audio": f"row{i}", "hz": f} for i, f in enumerate(TONES_HZ)]
    x = harmonic(1.5, seed=4) * 0.3

    def augmenter(seed: int) -> Augmenter:
        return Augmenter(SMALL_FULL, seed=seed, rows=rows, load=lambda r: tone(r["hz"]))

    first, again = augmenter(7), augmenter(7)
    for draw in range(6):
        a, steps_a = first(x, 3, draw)
        b, steps_b = again(x, 3, draw)
        assert steps_a == steps_b and np.array_equal(a, b)
    outs = [first(x, 3, d)[0] for d in range(4)] + [augmenter(8)(x, 3, 0)[0], first(x, 4, 0)[0]]
    for i in range(len(outs)):
        for j in range(i):
            assert outs[i].shape != outs[j].shape or not np.array_equal(outs[i], outs[j])


def write_rows(root: Path, count: int = 6) -> list[dict]:
    rows = []
    for i in range(count):
        path = root / f"u{i}.wav"
        sf.write(path, harmonic(0.8 + 0.1 * i, f0=120 + 20 * i, seed=i) * 0.4, SAMPLE_RATE)
        rows.append({"audio": str(path), "text": f"row {i}", "duration": 0.8 + 0.1 * i})
    return rows


class EpochOrder:
    """A sampler whose order changes per epoch (the main process sets it)."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, 0

    def __iter__(self):  # noqa: ANN204
        return iter(np.random.default_rng(self.epoch).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def epochs_of_audio(rows: list[dict], workers: int, epochs: int = 2) -> list[dict[int, bytes]]:
    """Audio of every item per epoch, read through a DataLoader with `workers` workers that
    persist across epochs (the case a per-worker epoch would get wrong)."""
    from torch.utils.data import DataLoader

    ds = SpeechDataset(rows, build_char_tokenizer(), augment=SMALL_FULL, seed=11)
    sampler = EpochOrder(len(ds))
    loader = DataLoader(
        ds,
        batch_size=2,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=lambda items: [i["input_values"].tobytes() for i in items],
    )
    out = []
    for epoch in range(epochs):
        sampler.epoch = epoch
        ds.set_epoch(epoch)
        order = list(sampler)
        audio = [a for batch in loader for a in batch]
        out.append(dict(zip(order, audio)))
    return out


def test_augmented_audio_does_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    rows = write_rows(tmp_path)
    alone = epochs_of_audio(rows, workers=0)
    assert epochs_of_audio(rows, workers=2) == alone
    assert all(alone[0][i] != alone[1][i] for i in alone[0])  # every epoch hears new audio


def test_set_epoch_resumes_the_draws(tmp_path: Path) -> None:
    rows = write_rows(tmp_path, 3)
    ds = SpeechDataset(rows, build_char_tokenizer(), augment=SMALL_FULL, seed=11)
    from echo_edge.audio import load_audio

    ds.set_epoch(3)  # a run resumed in epoch 3: its reads are draws 3, 4, ...
    for draw in (3, 4):
        expected, _ = ds.augmenter(load_audio(rows[1]["audio"]), 1, draw)
        assert np.array_equal(ds[1]["input_values"], expected)
    ds.set_epoch(2)  # never back: a counter only moves forward
    assert int(ds.draws[1]) == 5


def test_dataset_with_full_augmentation_returns_valid_audio(tmp_path: Path) -> None:
    rows = write_rows(tmp_path)
    tok = build_char_tokenizer()
    plain = SpeechDataset(rows, tok)
    ds = SpeechDataset(rows, tok, augment=SMALL_FULL, seed=0)
    assert plain.augmenter is None and ds.lengths == plain.lengths
    assert ds.augmenter.rows == ds.rows  # babble draws from the dataset's rows
    for _ in range(4):
        for i in range(len(ds)):
            item = ds[i]
            audio = item["input_values"]
            assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0
            assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
            assert item["labels"] == plain[i]["labels"]
    assert SpeechDataset(rows, tok, augment="light").augmenter.config == PRESETS["light"]
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        SpeechDataset(rows, tok, augment="loud")


def test_train_wires_augment_and_seed_into_the_training_set(tmp_path: Path) -> None:
    from echo_edge.cli import build_parser
    from echo_edge.train import build_trainer
    from tests.conftest import tiny_config

    rows = write_rows(tmp_path, 4)
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = build_parser().parse_args(
        ["train", "--train", str(manifest), "--dev", str(manifest), "--out", str(tmp_path / "r")]
        + ["--augment", "full", "--seed", "9", "--workers", "0", "--batch-size", "2"]
    )
    trainer = build_trainer(args, config=tiny_config())
    train_ds = trainer.train_dataset
    assert train_ds.augmenter.config == PRESETS["full"] and train_ds.augmenter.seed == 9
    assert trainer.eval_dataset.augmenter is None  # dev audio stays clean
    trainer.get_train_dataloader().set_epoch(2)  # what Trainer does before epoch 2
    assert train_ds.draws.tolist() == [2, 2, 2, 2]  # accelerate forwards it to the dataset
