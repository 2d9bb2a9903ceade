"""The prebuilt bundle in the package stays in step with the shipped weights.

echo_edge/assets/onnx-int8 is what a device install (no torch) transcribes with. It is built
from echo_edge/assets/model.safetensors by `make bundles`; when the weights change and the
bundle is not rebuilt, these tests fail.
"""

from __future__ import annotations

import json
from pathlib import Path

from echo_edge.checkpoint import ASSETS, checkpoint_sha256, int8_keep_float
from echo_edge.runtime.bundle import CTC_OUTPUT, FORMAT_VERSION, read_bundle

SHIPPED = ASSETS / "onnx-int8"
ASSET_LIMIT_MB = 25.0  # checkpoint + bundle, all files under echo_edge/assets


def test_shipped_bundle_is_built_from_the_shipped_weights() -> None:
    manifest = read_bundle(SHIPPED)  # format version and every file's sha256
    assert manifest.checkpoint_sha256 == checkpoint_sha256(ASSETS), (
        "echo_edge/assets/onnx-int8 was built from other weights: run `make bundles`"
    )
    assert (manifest.backend, manifest.precision) == ("onnx", "int8")
    assert manifest.format_version == FORMAT_VERSION
    assert CTC_OUTPUT in manifest.graph_outputs("encoder")  # word times in the results
    assert manifest.source.get("checkpoint") in (None, "shipped")


def test_shipped_bundle_tokenizer_and_config_are_the_checkpoints() -> None:
    manifest = read_bundle(SHIPPED)
    assert (SHIPPED / "tokenizer.json").read_bytes() == (ASSETS / "tokenizer.json").read_bytes()
    config = json.loads((ASSETS / "config.json").read_text())
    for key in ("d_model", "n_heads", "encoder_layers", "decoder_layers", "vocab_size"):
        assert manifest.config[key] == config[key], key


def test_assets_stay_small() -> None:
    total = sum(p.stat().st_size for p in Path(ASSETS).rglob("*") if p.is_file())
    assert total / 1e6 < ASSET_LIMIT_MB, f"assets are {total / 1e6:.1f} MB"


def test_shipped_int8_json_was_ranked_on_the_shipped_weights() -> None:
    """Static int8 exports of the shipped model keep its int8.json layers fp32; a new model
    needs its own ranking (bench/int8_sensitivity.py --write-int8 6)."""
    import torch

    from echo_edge.config import EchoConfig
    from echo_edge.model import Echo

    config = EchoConfig.from_dict(json.loads((ASSETS / "config.json").read_text()))
    with torch.device("meta"):
        modules = dict(Echo(config).named_modules())
    for symmetric, key in ((False, "keep_float"), (True, "keep_float_symmetric")):
        keep, why = int8_keep_float(None, symmetric)
        assert keep and why.startswith(f"{key} of "), why
        assert all(isinstance(modules.get(m), (torch.nn.Linear, torch.nn.Conv1d)) for m in keep)
