"""bench/ablation.py's report and --eval-only (decode the trained variants again)."""

from __future__ import annotations

import json

from bench import ablation


def test_eval_only_keeps_training_figures_and_names_both_commands(tmp_path, monkeypatch) -> None:
    out = tmp_path / "ablation"
    trained = {
        "command": "python bench/ablation.py --data d --steps 800",
        "flags": "--features spectrogram",
        "train_seconds": 556.6,
        "parameters": 3724452,
        "learned": {"blend": {"spectrogram": 1.0}},
        "wer": 2.73,
        "cer": 1.74,
        "tf_loss": 1.66,
        "tf_token_accuracy": 0.505,
    }
    out.with_suffix(".json").write_text(json.dumps({"spectrogram": trained}))
    decoded = []

    def fake_evaluate(checkpoint, manifest, limit):  # noqa: ANN001, ANN202
        decoded.append((str(checkpoint), str(manifest), limit))
        return {"wer": 0.95, "cer": 0.61, "n": limit, "tf_loss": 1.66, "tf_token_accuracy": 0.505}

    monkeypatch.setattr(ablation, "evaluate", fake_evaluate)
    monkeypatch.setattr("sys.argv", ["bench/ablation.py", "--eval-only", "--data", "d"])
    args = ["--data", "d", "--steps", "800", "--test-limit", "7", "--out", str(out), "--eval-only"]
    assert ablation.main(args) == 0

    assert decoded == [("runs/ablation/spectrogram/final", "d/test.jsonl", 7)]
    row = json.loads(out.with_suffix(".json").read_text())["spectrogram"]
    assert row["wer"] == 0.95 and row["train_seconds"] == 556.6 and row["parameters"] == 3724452
    report = out.with_suffix(".md").read_text()
    assert "`python bench/ablation.py --data d --steps 800`" in report  # how it was trained
    assert "Decoded again with `python bench/ablation.py --eval-only --data d`" in report
    assert "| spectrogram | `--features spectrogram` | 95.0 |" in report
