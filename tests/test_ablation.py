"""bench/ablation.py's report and --eval-only (decode the trained variants again)."""

from __future__ import annotations

import json

from bench import ablation

# A trained spectrogram-only row as OUT.json holds it (the figures are arbitrary).
SPECTROGRAM_ROW = {
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


def test_eval_only_keeps_training_figures_and_names_both_commands(tmp_path, monkeypatch) -> None:
    out = tmp_path / "ablation"
    out.with_suffix(".json").write_text(json.dumps({"spectrogram": SPECTROGRAM_ROW}))
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
    assert (
        "Decoded again with `python bench/ablation.py --eval-only --data d`: spectrogram." in report
    )
    assert "| spectrogram | `--features spectrogram` | 95.0 |" in report


def test_a_later_run_adds_its_variants_and_keeps_the_earlier_rows(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "ablation"
    earlier = {
        **SPECTROGRAM_ROW,
        "command": "python bench/ablation.py --data d --only spectrogram",
        "evaluated_by": "python bench/ablation.py --eval-only --data d",
    }
    out.with_suffix(".json").write_text(json.dumps({"spectrogram": earlier}))
    trained = []

    def fake_train(args) -> None:  # noqa: ANN001
        trained.append((args.out, args.features, args.pad_to_seconds))
        final = tmp_path / args.out / "final"
        final.mkdir(parents=True)
        summary = {"parameters": 3912421, "learned": {"blend": {"spectrogram": 0.5}}}
        (final / "train_summary.json").write_text(json.dumps(summary))

    def fake_evaluate(checkpoint, manifest, limit):  # noqa: ANN001, ANN202
        return {"wer": 0.9, "cer": 0.8, "n": limit, "tf_loss": 1.7, "tf_token_accuracy": 0.5}

    monkeypatch.setattr("echo_edge.train.run_train", fake_train)
    monkeypatch.setattr(ablation, "evaluate", fake_evaluate)
    argv = ["--data", "d", "--steps", "2", "--out", str(out), "--only", "blend_pad30"]
    monkeypatch.setattr("sys.argv", ["bench/ablation.py", *argv])
    assert ablation.main(argv) == 0

    assert trained == [("runs/ablation/blend_pad30", ["spectrogram", "waveform"], 30.0)]
    rows = json.loads(out.with_suffix(".json").read_text())
    assert list(rows) == ["spectrogram", "blend_pad30"]
    assert rows["spectrogram"] == earlier
    assert rows["blend_pad30"]["command"].endswith("--only blend_pad30")
    report = out.with_suffix(".md").read_text()
    assert "Command: `python bench/ablation.py --data d --only spectrogram`" in report
    assert "--only blend_pad30` (same data, 2 steps" in report
    assert "--eval-only --data d`: spectrogram." in report  # only the earlier row was re-decoded
    assert (
        "| blend_pad30 | `--features spectrogram waveform --pad-to-seconds 30` | 90.0 |" in report
    )
