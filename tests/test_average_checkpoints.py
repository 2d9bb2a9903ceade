"""bench/average_checkpoints.py: weighted means of float tensors, Trainer names mapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "average_checkpoints.py"


def write(directory: Path, state: dict[str, torch.Tensor]) -> Path:
    directory.mkdir()
    save_file(state, str(directory / "model.safetensors"))
    (directory / "config.json").write_text("{}")
    return directory


def test_a_trainer_checkpoint_averages_with_a_final_model(tmp_path: Path) -> None:
    final = write(tmp_path / "final", {"w": torch.full((2,), 1.0), "n": torch.tensor([3])})
    trainer = write(
        tmp_path / "checkpoint-10", {"echo.w": torch.full((2,), 4.0), "echo.n": torch.tensor([5])}
    )
    out = tmp_path / "avg"
    cmd = [sys.executable, str(SCRIPT), str(final), str(trainer), "--weights", "1", "2"]
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    averaged = load_file(str(out / "model.safetensors"))
    assert set(averaged) == {"w", "n"}
    assert torch.allclose(averaged["w"], torch.full((2,), 3.0))  # (1 * 1 + 2 * 4) / 3
    assert averaged["n"].tolist() == [3]  # integer buffers: the first checkpoint's
    assert (out / "config.json").is_file()


def test_checkpoints_of_different_models_are_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a", {"w": torch.zeros(2)})
    b = write(tmp_path / "b", {"v": torch.zeros(2)})
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(a), str(b), "--out", str(tmp_path / "avg")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "average_checkpoints: the checkpoints hold different tensors"
