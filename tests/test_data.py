"""Manifests, LibriSpeech trees, SpeechDataset and SpeechCollator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from echo_edge.constants import EOS_ID, SAMPLE_RATE
from echo_edge.data import (
    SpeechCollator,
    SpeechDataset,
    read_librispeech,
    read_manifest,
    skipped_summary,
)
from echo_edge.tokenizer import build_char_tokenizer


def tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def librispeech(tmp_path: Path) -> Path:
    """A tiny tree in the LibriSpeech layout: root/subset/speaker/chapter/*.trans.txt + .flac."""
    root = tmp_path / "LibriSpeech" / "dev-clean"
    lines = {
        ("84", "121123"): ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED"],
        ("174", "50561"): ["FORGOTTEN TOO THE NAME OF GILLIAN THE LOVELY CAPTIVE"],
    }
    for (speaker, chapter), texts in lines.items():
        folder = root / speaker / chapter
        folder.mkdir(parents=True)
        trans = []
        for i, text in enumerate(texts):
            utt = f"{speaker}-{chapter}-{i:04d}"
            sf.write(folder / f"{utt}.flac", tone(0.5 + i), SAMPLE_RATE)
            trans.append(f"{utt} {text}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(trans) + "\n")
    return tmp_path / "LibriSpeech"


def test_read_librispeech(librispeech: Path) -> None:
    rows = read_librispeech(librispeech)
    assert len(rows) == 3
    by_id = {r["id"]: r for r in rows}
    row = by_id["84-121123-0001"]
    assert row["text"] == "but in less than five minutes the staircase groaned"
    assert row["speaker"] == "84" and row["chapter"] == "121123"
    assert Path(row["audio"]).is_absolute() and Path(row["audio"]).is_file()
    assert row["duration"] == pytest.approx(1.5, abs=1e-3)
    assert len(read_librispeech(librispeech / "dev-clean")) == 3  # a subset directly


def test_read_librispeech_errors(tmp_path: Path, librispeech: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no LibriSpeech transcripts"):
        read_librispeech(tmp_path / "empty")
    next(librispeech.rglob("*.flac")).unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        read_librispeech(librispeech)


def test_user_jsonl_with_relative_and_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", tone(1.0), SAMPLE_RATE)
    absolute = tmp_path / "b.wav"
    sf.write(absolute, tone(0.25), 8000)
    manifest = tmp_path / "sets" / "mine.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(
        json.dumps({"audio": "../clips/a.wav", "text": "Hello there", "speaker": "x"})
        + "\n\n"
        + json.dumps({"audio_filepath": str(absolute), "text": "General Kenobi!"})
        + "\n"
    )
    rows = read_manifest(manifest)
    assert [Path(r["audio"]).resolve() for r in rows] == [
        (tmp_path / "clips" / "a.wav").resolve(),
        absolute,
    ]
    assert rows[0]["text"] == "Hello there" and rows[0]["speaker"] == "x"


def test_manifest_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"audio": "a.wav", "text": "ok"}) + "\n" + json.dumps({"audio": "b.wav"}) + "\n"
    )
    with pytest.raises(ValueError, match=r"bad.jsonl:2: .*text"):
        read_manifest(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: invalid JSON"):
        read_manifest(bad)
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "absent.jsonl")


def test_bad_rows_can_be_skipped_and_named(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), SAMPLE_RATE)
    ok = json.dumps({"audio": "a.wav", "text": "ok"}).encode()
    lines = [
        b"\xef\xbb\xbf" + ok,  # a UTF-8 byte-order mark on line 1 is fine
        b'{"audio": "a.wav", "text": "caf\xe9"}',  # Latin-1, not UTF-8
        b"[1, 2]",
        json.dumps({"audio": "gone.wav", "text": "x"}).encode(),
        json.dumps({"audio": 7, "text": "x"}).encode(),
        ok,
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ValueError, match=r"m.jsonl:2: not UTF-8"):
        read_manifest(manifest)
    skipped: list[str] = []
    rows = read_manifest(manifest, skipped, check_audio=True)
    assert [r["text"] for r in rows] == ["ok", "ok"]
    assert [s.split(": ", 1)[0] for s in skipped] == [f"{manifest}:{n}" for n in (2, 3, 4, 5)]
    assert "gone.wav: no such file" in skipped[2]
    summary = skipped_summary(skipped, len(lines), manifest)
    assert summary.startswith("skipped 4 of 6 rows (line 2: not UTF-8") and "and 1 more" in summary


def test_dataset_leaves_out_unreadable_audio(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), SAMPLE_RATE)
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + bytes(40))
    rows = [
        {"audio": str(tmp_path / "a.wav"), "text": "ok"},
        {"audio": str(tmp_path / "gone.wav"), "text": "x", "duration": 1.0},
        {"audio": str(tmp_path / "broken.wav"), "text": "x"},
    ]
    ds = SpeechDataset(rows, build_char_tokenizer())
    assert len(ds) == 1 and ds.dropped == 0 and len(ds.unreadable) == 2
    assert "gone.wav" in ds.unreadable[0] and "broken.wav" in ds.unreadable[1]


def test_dataset_items(librispeech: Path) -> None:
    pytest.importorskip(
        "echo_edge.audio", reason="echo_edge.audio (load_audio) is not in this checkout yet"
    )
    tok = build_char_tokenizer()
    rows = read_librispeech(librispeech)
    ds = SpeechDataset(rows, tok)
    assert len(ds) == 3 and ds.lengths == [int(r["duration"] * SAMPLE_RATE) for r in rows]
    item = ds[0]
    assert item["input_values"].dtype == np.float32 and item["input_values"].ndim == 1
    assert item["input_values"].size == ds.lengths[0]
    assert item["labels"][-1] == EOS_ID and tok.decode(item["labels"]) == rows[0]["text"]
    short = SpeechDataset(rows, tok, max_seconds=1.0)
    assert len(short) == 2 and short.dropped == 1


def test_speed_perturbation_draws_a_new_factor_per_read(librispeech: Path) -> None:
    tok = build_char_tokenizer()
    rows = read_librispeech(librispeech)
    plain = SpeechDataset(rows, tok)[0]

    def sizes(seed: int) -> list[int]:
        ds = SpeechDataset(rows, tok, speed_perturb=(0.8, 1.25), seed=seed)
        return [ds[0]["input_values"].size for _ in range(8)]

    drawn = sizes(3)
    n = plain["input_values"].size
    assert all(n / 1.25 - 2 <= k <= n / 0.8 + 2 for k in drawn)  # resampled by the factor
    assert len(set(drawn)) > 4  # a fresh draw on every read, not one per row
    assert min(drawn) < n < max(drawn)  # both faster and slower within 8 draws (seeded)
    assert sizes(3) == drawn and sizes(4) != drawn  # the dataset's seed decides
    ds = SpeechDataset(rows, tok, speed_perturb=(0.8, 1.25))
    assert ds[0]["labels"] == plain["labels"] and ds.lengths == SpeechDataset(rows, tok).lengths
    assert ds.augmenter.config.speed == (0.8, 1.25) and ds.augmenter.config.speed_prob == 1.0
    full = SpeechDataset(rows, tok, speed_perturb=(0.9, 0.95), augment="full").augmenter.config
    assert full.speed == (0.9, 0.95) and full.speed_prob == 1.0 and full.noise_prob > 0
    with pytest.raises(ValueError, match="0 < low <= high"):
        SpeechDataset(rows, tok, speed_perturb=(1.2, 0.9))


def test_join_appends_another_row_after_a_pause_and_joins_the_texts(tmp_path: Path) -> None:
    tok = build_char_tokenizer()
    rows = []
    for i, (seconds, text) in enumerate([(0.5, "one"), (0.7, "two two"), (0.9, "three")]):
        sf.write(tmp_path / f"{i}.wav", tone(seconds, 200.0 + 100 * i), SAMPLE_RATE)
        rows.append({"audio": str(tmp_path / f"{i}.wav"), "text": text})
    plain = SpeechDataset(rows, tok)
    always = SpeechDataset(rows, tok, join_prob=1.0, seed=1)
    texts = {row["text"]: row for row in rows}
    for index in range(3):
        for _ in range(4):
            item = always[index]
            first, _, second = tok.decode(item["labels"]).partition(" ")
            if index == 1:  # "two two": its own text has a space
                first, second = "two two", second.partition(" ")[2]
            assert first == rows[index]["text"] and second in texts and second != first
            other = rows.index(texts[second])
            gap = item["input_values"].size - always.lengths[index] - always.lengths[other]
            assert 0.1 * SAMPLE_RATE - 1 <= gap <= 0.6 * SAMPLE_RATE + 1
            pause = item["input_values"][always.lengths[index] : always.lengths[index] + gap]
            assert np.all(pause == 0)

    # Seeded per (seed, index, read): the same dataset seed replays the same joins.
    def reads(seed: int) -> list[list[int]]:
        ds = SpeechDataset(rows, tok, join_prob=1.0, seed=seed)
        return [ds[0]["labels"] + [len(ds[0]["input_values"])] for _ in range(6)]

    assert reads(1) == reads(1) and reads(1) != reads(5)
    # Nothing joins past max_seconds (0.5 + 0.1 + 0.7 > 1.2), and join_prob 0 changes nothing.
    tight = SpeechDataset(rows[:2], tok, join_prob=1.0, max_seconds=1.2)
    assert tok.decode(tight[0]["labels"]) == "one"
    assert tight[0]["input_values"].size == plain.lengths[0]
    assert [plain[i]["labels"] for i in range(3)] == [
        SpeechDataset(rows, tok, join_prob=0.0)[i]["labels"] for i in range(3)
    ]
    half = SpeechDataset(rows, tok, join_prob=0.5, seed=2)
    joined = sum(" " in tok.decode(half[0]["labels"]) for _ in range(40))
    assert 8 <= joined <= 32  # about half of 40 reads
    with pytest.raises(ValueError, match="join probability"):
        SpeechDataset(rows, tok, join_prob=1.5)


def test_collator_shapes_masks_and_label_padding() -> None:
    features = [
        {"input_values": tone(0.5), "labels": [5, 6, 7, EOS_ID]},
        {"input_values": tone(1.25), "labels": [8, EOS_ID]},
    ]
    batch = SpeechCollator()(features)
    n = int(1.25 * SAMPLE_RATE)
    assert batch["input_values"].shape == (2, n) and batch["input_values"].dtype == torch.float32
    assert batch["attention_mask"].dtype == torch.long
    assert batch["attention_mask"].sum(1).tolist() == [int(0.5 * SAMPLE_RATE), n]
    assert torch.all(batch["input_values"][0, int(0.5 * SAMPLE_RATE) :] == 0)
    assert torch.equal(batch["input_values"][1], torch.from_numpy(features[1]["input_values"]))
    assert batch["labels"].tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, -100, -100]]


def test_collator_pads_and_truncates_to_30_seconds() -> None:
    features = [
        {"input_values": tone(2.0), "labels": [5, EOS_ID]},
        {"input_values": tone(31.0), "labels": [6, EOS_ID]},
    ]
    batch = SpeechCollator(pad_to_seconds=30)(features)
    assert batch["input_values"].shape == (2, 480000)
    assert batch["attention_mask"].sum(1).tolist() == [32000, 480000]
    assert SpeechCollator(pad_to_seconds=30)(features[:1])["input_values"].shape == (1, 480000)


def test_cut_gives_the_words_before_or_after_a_cut_between_two_words(tmp_path: Path) -> None:
    """cut_prob: one side of a cut halfway between two words' times, with those words' text;
    seeded per (seed, index, read); rows without word times (or whose times do not match
    their words) are never cut."""
    tok = build_char_tokenizer()
    # Three "words" of tone, 0.3 s each, 0.2 s of silence between them.
    parts = [tone(0.3, 200.0), np.zeros(3200), tone(0.3, 300.0), np.zeros(3200), tone(0.3, 400.0)]
    sf.write(tmp_path / "a.wav", np.concatenate(parts).astype(np.float32), SAMPLE_RATE)
    words = [[0.0, 0.3], [0.5, 0.8], [1.0, 1.3]]
    rows = [
        {"audio": str(tmp_path / "a.wav"), "text": "One two three", "words": words},
        {"audio": str(tmp_path / "a.wav"), "text": "one two three"},  # no word times
        {"audio": str(tmp_path / "a.wav"), "text": "one two", "words": words},  # do not match
    ]
    whole = SpeechDataset(rows, tok)[0]["input_values"]
    always = SpeechDataset(rows, tok, cut_prob=1.0, seed=1)
    a, b = int(0.4 * SAMPLE_RATE), int(0.9 * SAMPLE_RATE)  # halfway between words
    sides = {"one": whole[:a], "two three": whole[a:], "one two": whole[:b], "three": whole[b:]}
    seen = set()
    for _ in range(24):
        item = always[0]
        text = tok.decode(item["labels"])
        assert np.array_equal(item["input_values"], sides[text]), text
        seen.add(text)
    assert seen == set(sides)  # both cuts, both sides, within 24 reads
    for index in (1, 2):
        assert always[index]["input_values"].size == whole.size
        assert tok.decode(always[index]["labels"]) == rows[index]["text"]

    def reads(seed: int) -> list[int]:
        ds = SpeechDataset(rows, tok, cut_prob=1.0, seed=seed)
        return [ds[0]["input_values"].size for _ in range(8)]

    assert reads(1) == reads(1) and reads(1) != reads(7)
    half = SpeechDataset(rows, tok, cut_prob=0.5, seed=2)
    kept = sum(half[0]["input_values"].size == whole.size for _ in range(40))
    assert 8 <= kept <= 32
    with pytest.raises(ValueError, match="cut probability"):
        SpeechDataset(rows, tok, cut_prob=-0.1)
