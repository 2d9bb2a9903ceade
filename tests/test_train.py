"""Seq2SeqTrainer on CPU: two steps, finite loss, metrics from real greedy decoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from echo_edge.cli import build_parser
from echo_edge.train import build_trainer, flatten
from tests.conftest import harmonic, tiny_config

TEXTS = ["turn on the lights", "call my mother", "what time is it", "open the door"]


def write_corpus(root) -> str:  # noqa: ANN001
    rows = []
    for i, text in enumerate(TEXTS):
        path = root / f"u{i}.wav"
        sf.write(path, harmonic(0.6 + 0.2 * i, f0=110 + 30 * i, seed=i), 16000)
        rows.append({"audio": path.name, "text": text, "duration": 0.6 + 0.2 * i})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(manifest)


def test_two_trainer_steps_and_generate_metrics(tmp_path) -> None:  # noqa: ANN001
    manifest = write_corpus(tmp_path)
    args = build_parser().parse_args(
        ["train", "--train", manifest, "--dev", manifest, "--out", str(tmp_path / "run")]
        + ["--max-steps", "2", "--batch-size", "2", "--workers", "0", "--eval-steps", "2"]
        + ["--features", "spectrogram", "waveform", "pitch", "--pitch-theta", "--score", "blend"]
        + ["--speed-perturb", "0.9", "1.1"]
    )
    cfg = tiny_config(
        features=("spectrogram", "waveform", "pitch"), pitch_theta=True, score="blend"
    )
    trainer = build_trainer(args, config=cfg)
    assert trainer.train_dataset.speed_perturb == (0.9, 1.1)  # training items only
    assert trainer.eval_dataset.speed_perturb is None
    result = trainer.train()
    assert math.isfinite(result.training_loss)
    metrics = trainer.evaluate()
    for key in ("eval_loss", "eval_wer", "eval_cer", "eval_token_accuracy", "eval_token_f1"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics["eval_wer"] >= 0.0
    assert 0.0 <= metrics["eval_token_accuracy"] <= 1.0
    learned = flatten(trainer.model.echo.learned_report())
    assert np.isclose(
        learned["blend.spectrogram"] + learned["blend.waveform"] + learned["blend.pitch"], 1
    )
    assert "pitch.gamma" in learned


def test_trainer_checkpoint_loads_with_real_frontend_buffers(tmp_path) -> None:  # noqa: ANN001
    """A Trainer checkpoint (HF wrapper, "echo."-prefixed weights) loads with every buffer
    computed: transformers' meta-device loading once left the mel filters NaN."""
    import torch

    from echo_edge.hf import EchoForSpeechSeq2Seq, EchoHFConfig
    from echo_edge.model import Echo

    torch.manual_seed(0)
    wrapped = EchoForSpeechSeq2Seq(EchoHFConfig(echo=tiny_config().to_dict())).eval()
    wrapped.save_pretrained(tmp_path / "checkpoint-1")  # transformers' format, as Trainer saves
    wave = torch.from_numpy(harmonic(0.5, f0=140, seed=3))[None]  # (1, N)
    expected = wrapped.echo.features(wave, None).mel
    for loaded in (
        EchoForSpeechSeq2Seq.from_pretrained(tmp_path / "checkpoint-1").echo,
        Echo.from_pretrained(tmp_path / "checkpoint-1"),
    ):
        mel = loaded.features(wave, None).mel
        assert torch.isfinite(mel).all()
        assert torch.equal(mel, expected)
        for name, value in wrapped.echo.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], value), name


def test_several_manifests_and_held_out_texts(tmp_path, capsys) -> None:  # noqa: ANN001
    """--train takes several manifests; --hold-out drops rows whose text another split has
    (a second synthesised corpus shares sentences with the first one's test split)."""
    from echo_edge.train import training_rows

    first = write_corpus(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    second = other / "train.jsonl"
    rows = [{"audio": "a.wav", "text": "Call my MOTHER!"}, {"audio": "b.wav", "text": "go home"}]
    second.write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"audio": "t.wav", "text": "call my mother"}) + "\n")

    kept = training_rows([first, str(second)], [])
    assert len(kept) == len(TEXTS) + 2
    assert kept[-1]["audio"] == str((other / "b.wav").resolve())  # each resolved on its own
    kept = training_rows([first, str(second)], [str(test)])
    assert sorted(r["text"] for r in kept) == sorted(
        [t for t in TEXTS if t != "call my mother"] + ["go home"]
    )
    assert "dropped 2 held out" in capsys.readouterr().out
    args = build_parser().parse_args(
        ["train", "--train", first, str(second), "--hold-out", str(test)]
    )
    assert args.train == [first, str(second)] and args.hold_out == [str(test)]


def test_nothing_left_to_train_on_is_one_line(tmp_path) -> None:  # noqa: ANN001
    """An empty manifest, or one whose every text is held out, is NoRowsError (exit 2)."""
    from echo_edge.data import NoRowsError
    from echo_edge.train import training_rows

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(NoRowsError, match="empty.jsonl: no training rows") as error:
        training_rows([str(empty)], [])
    assert error.value.exit_status == 2
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"audio": "a.wav", "text": "go home"}) + "\n")
    with pytest.raises(NoRowsError, match="all 1 have a text in --hold-out"):
        training_rows([str(rows)], [str(rows)])
