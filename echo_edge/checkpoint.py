"""Where models come from: a checkpoint directory, or the shipped default in echo_edge/assets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_CHECKPOINT = ASSETS
UNTRAINED_SEED = 0
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Optional, beside the weights: {"checkpoint_sha256": ..., "keep_float": [module paths],
# "keep_float_symmetric": [...], "ranked_by": {key: command}}: the layers a static int8 export
# of these weights keeps fp32 unless --keep-float says otherwise, one list per activation
# scheme, each ranked under its own (bench/int8_sensitivity.py --write-int8 writes them)
INT8_NAME = "int8.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded, with one line that names the file at fault."""


def _json_object(path: Path) -> dict:
    """A JSON object file's contents; CheckpointError naming the file otherwise."""
    from echo_edge.config import read_json_file

    try:
        data = read_json_file(path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: must be a JSON object, got {type(data).__name__}")
    return data


def read_checkpoint_files(directory: Path, device: str = "cpu") -> tuple[Any, dict]:
    """(config.json's parsed JSON, the safetensors state dict) of a checkpoint directory.

    safetensors only (no pickle). A missing, non-UTF-8, non-JSON or non-object config and a
    truncated or garbage weights file raise CheckpointError naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (config_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"checkpoint {directory} has no {p.name}")
    data = _json_object(config_path)
    try:
        state = load_file(str(weights_path), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        why = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{weights_path}: not a safetensors file ({why})") from None
    return data, state


def check_state(expected: Mapping[str, Any], state: Mapping[str, Any], weights: Path) -> None:
    """Raise CheckpointError with counts and the first mismatch when `state` (the file's
    tensors) does not fit `expected` (the model built from config.json)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or wrong):
        return
    if wrong:
        k = wrong[0]
        first = f"{k} {tuple(state[k].shape)} in the file vs {tuple(expected[k].shape)}"
    else:
        first = f"{(missing or unexpected)[0]} {'missing' if missing else 'unexpected'}"
    raise CheckpointError(
        f"{weights}: weights do not match {CONFIG_NAME} ({len(missing)} missing, "
        f"{len(unexpected)} unexpected, {len(wrong)} wrong shape; first: {first})"
    )


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
        if path.exists():
            raise CheckpointError(f"{path}: not a checkpoint directory")
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


def int8_key(symmetric: bool) -> str:
    """The INT8_NAME list of an activation scheme."""
    return "keep_float_symmetric" if symmetric else "keep_float"


def _int8_file(path: str | Path | None) -> Path:
    directory = Path(path) if path is not None else ASSETS
    return (directory.parent if directory.is_file() else directory) / INT8_NAME


def _read_int8(file: Path) -> dict:
    data = _json_object(file)
    for key in (int8_key(False), int8_key(True)):
        keep = data.get(key, [])
        if not (isinstance(keep, list) and all(isinstance(m, str) and m for m in keep)):
            raise CheckpointError(f"{file}: {key} must be a list of module paths")
    return data


def int8_keep_float(
    path: str | Path | None = None, symmetric: bool = False
) -> tuple[list[str], str]:
    """(module paths, why) a static int8 export of checkpoint `path` (None: the shipped model)
    keeps fp32 by default: its INT8_NAME's list for the activation scheme (int8_key), or none
    when there is no such file or list, or the file was ranked on other weights. A list ranked
    under one scheme is never used for the other (asymmetric's fails symmetric's K/V bound:
    bench/results/verify, "The graphs TensorRT builds from"). A malformed file raises
    CheckpointError."""
    if path is None and not has_default_model():
        return [], "no int8.json (untrained model)"
    file, key = _int8_file(path), int8_key(symmetric)
    if not file.is_file():
        return [], f"no {file}"
    data = _read_int8(file)
    if data.get("checkpoint_sha256") != checkpoint_sha256(path):
        return [], f"{file} was ranked on other weights: ignored"
    if key not in data:
        return [], f"{file} has no {key} (bench/int8_sensitivity.py --write-int8 ranks it)"
    return list(data[key]), f"{key} of {file}"


def write_int8_keep_float(
    path: str | Path | None, symmetric: bool, modules: list[str], command: str
) -> Path:
    """Set one scheme's list in checkpoint `path`'s INT8_NAME (the other scheme's stays when
    the file was ranked on these weights) -> the file."""
    file, key = _int8_file(path), int8_key(symmetric)
    sha = checkpoint_sha256(path)
    data = _read_int8(file) if file.is_file() else {}
    if data.get("checkpoint_sha256") != sha:
        data = {"checkpoint_sha256": sha}
    ranked_by = data.get("ranked_by")
    data[key] = list(modules)
    data["ranked_by"] = {**(ranked_by if isinstance(ranked_by, dict) else {}), key: command}
    file.write_text(json.dumps(data, indent=1) + "\n")
    return file
