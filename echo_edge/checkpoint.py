"""Where models come from: a checkpoint directory, or the shipped default in echo_edge/assets."""

from __future__ import annotations

import hashlib
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_CHECKPOINT = ASSETS
UNTRAINED_SEED = 0


def has_default_model() -> bool:
    return (ASSETS / "model.safetensors").is_file() and (ASSETS / "config.json").is_file()


def load_checkpoint(path: str | Path | None = None):  # -> tuple[Echo, bool]
    """Load an Echo checkpoint directory (default: the shipped model) -> (model, trained).

    Without a shipped model, returns a randomly initialised tiny model (trained=False), and
    every caller says so plainly."""
    import torch

    from echo_edge.config import preset
    from echo_edge.model import Echo

    if path is None:
        if has_default_model():
            return Echo.from_pretrained(ASSETS), True
        torch.manual_seed(UNTRAINED_SEED)
        return Echo(preset("tiny")).eval(), False
    path = Path(path)
    if path.is_file() and path.name == "model.safetensors":
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    return Echo.from_pretrained(path), True


def checkpoint_sha256(path: str | Path | None = None) -> str:
    """sha256 of a checkpoint's weights file ('untrained' for the random default)."""
    directory = Path(path) if path is not None else ASSETS
    weights = directory / "model.safetensors" if directory.is_dir() else directory
    if not weights.is_file():
        return "untrained"
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
