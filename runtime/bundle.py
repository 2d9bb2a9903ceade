"""The bundle format: a directory of exported graphs described by manifest.json (DESIGN §6).

Torch-free (json, hashlib, pathlib): the device runtime reads bundles with this module and the
exporters write them with it, so both sides agree on one format. A bundle holds

    manifest.json   format version, EchoConfig, frontend constants, special ids, backend,
                    precision, sha256 of every file, exporter versions, source checkpoint
                    sha256, creation time, graph I/O names, and a "verify" slot
    tokenizer.json
    frontend.* encoder.* decoder.*   (ONNX / TensorRT) or model.pte (ExecuTorch, 3 methods)

`read_bundle` checks the format version and every checksum and raises `BundleError` with a
one-line message on any mismatch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from echo_edge import constants as C

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
BACKENDS = ("onnx", "executorch", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
GRAPHS = ("frontend", "encoder", "decoder")

# Input and output names of the three graphs, shared by every exporter and backend.
# ONNX forbids an output named like an input, hence the "_out" on the returned caches.
GRAPH_INPUTS: dict[str, tuple[str, ...]] = {
    "frontend": ("samples",),  # (1, N) float32 in [-1, 1]
    "encoder": ("mel", "pitch", "silence", "wave", "frame_mask"),
    "decoder": ("tokens", "offset", "self_k", "self_v", "cross_k", "cross_v", "cross_bias"),
}
GRAPH_OUTPUTS: dict[str, tuple[str, ...]] = {
    "frontend": ("mel", "pitch", "energy", "silence"),
    "encoder": ("cross_k", "cross_v", "cross_bias"),
    "decoder": ("logits", "self_k_out", "self_v_out"),
}


class BundleError(ValueError):
    """A bundle that cannot be used as it is: missing or altered file, wrong format version."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frontend_constants(config: dict) -> dict[str, float | int]:
    """Everything a runtime needs to reproduce the frontend's framing and streaming arithmetic."""
    f0_min = float(config.get("f0_min", C.F0_MIN))
    left, ahead = C.frontend_context(f0_min)
    return {
        "sample_rate": C.SAMPLE_RATE,
        "n_fft": C.N_FFT,
        "hop": C.HOP,
        "n_mels": C.N_MELS,
        "encoder_stride": C.ENCODER_STRIDE,
        "left_context": left,  # samples before a frame's centre that it reads
        "lookahead": ahead,  # samples after a frame's centre that it reads
        "f0_min": f0_min,
        "f0_max": float(config.get("f0_max", C.F0_MAX)),
        "silence_dbfs": float(config.get("silence_dbfs", C.SILENCE_DBFS)),
    }


def special_ids() -> dict[str, int]:
    return {"pad": C.PAD_ID, "bos": C.BOS_ID, "eos": C.EOS_ID, "unk": C.UNK_ID}


@dataclass
class Manifest:
    """manifest.json as read back, plus the bundle directory it came from."""

    path: Path  # the bundle directory
    format_version: int
    config: dict  # EchoConfig.to_dict(); rebuild with EchoConfig.from_dict
    frontend: dict  # frontend_constants()
    special_ids: dict  # pad, bos, eos, unk
    backend: str
    precision: str
    files: dict  # file name -> {"sha256": str, "bytes": int}
    graphs: dict  # graph name -> {"file", "method"?, "inputs", "outputs", ...}
    exporter: dict  # package -> version
    checkpoint_sha256: str
    created: str  # ISO 8601, UTC
    limits: dict = field(default_factory=dict)  # max_samples, max_frames, max_target_len, ...
    quantization: dict = field(default_factory=dict)  # how int8 graphs were made
    source: dict = field(default_factory=dict)  # {"checkpoint": path or "shipped", "trained"}
    verify: dict | None = None  # the verify report of this bundle, added by `echo-edge verify`

    def file(self, name: str) -> Path:
        """Path of one of the bundle's files."""
        return self.path / name

    def graph_file(self, graph: str) -> Path:
        """Path of the file holding a graph (frontend, encoder or decoder)."""
        return self.path / self.graphs[graph]["file"]

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("path")
        return d


def write_manifest(
    directory: str | Path,
    *,
    config: dict,
    backend: str,
    precision: str,
    files: list[str],
    graphs: dict,
    exporter: dict[str, str],
    checkpoint_sha256: str,
    limits: dict | None = None,
    quantization: dict | None = None,
    source: dict | None = None,
    verify: dict | None = None,
) -> Manifest:
    """Checksum `files` (names inside `directory`) and write manifest.json -> the Manifest."""
    directory = Path(directory)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    entries = {}
    for name in sorted(files):
        p = directory / name
        if not p.is_file():
            raise BundleError(f"bundle {directory}: file {name} is missing")
        entries[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    manifest = Manifest(
        path=directory,
        format_version=FORMAT_VERSION,
        config=config,
        frontend=frontend_constants(config),
        special_ids=special_ids(),
        backend=backend,
        precision=precision,
        files=entries,
        graphs=graphs,
        exporter=exporter,
        checkpoint_sha256=checkpoint_sha256,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        limits=limits or {},
        quantization=quantization or {},
        source=source or {},
        verify=verify,
    )
    save_manifest(manifest)
    return manifest


def save_manifest(manifest: Manifest) -> Path:
    """(Re)write manifest.json; the manifest is not among its own checksummed files."""
    path = manifest.path / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    return path


def set_verify_report(path: str | Path, report: dict) -> Manifest:
    """Store a verify report in a bundle's manifest (after checking the bundle)."""
    manifest = read_bundle(path)
    manifest.verify = report
    save_manifest(manifest)
    return manifest


def is_bundle(path: str | Path) -> bool:
    """True when `path` is a directory with a manifest.json (valid or not)."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_bundle(path: str | Path, check_files: bool = True) -> Manifest:
    """Read a bundle's manifest, check its format version and (by default) every checksum."""
    directory = Path(path)
    manifest_path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise BundleError(f"bundle {directory}: no such directory")
    if not manifest_path.is_file():
        raise BundleError(f"bundle {directory}: file {MANIFEST_NAME} is missing")
    try:
        data = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME} is not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME} is not a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"bundle {directory}: format version {version}, this runtime reads {FORMAT_VERSION}"
        )
    try:
        manifest = Manifest(path=directory, **data)
    except TypeError as e:
        raise BundleError(f"bundle {directory}: malformed {MANIFEST_NAME} ({e})") from e
    if check_files:
        verify_files(manifest)
    return manifest


def verify_files(manifest: Manifest) -> None:
    """Raise BundleError on the first missing file or checksum mismatch."""
    for name, entry in manifest.files.items():
        p = manifest.path / name
        if not p.is_file():
            raise BundleError(f"bundle {manifest.path}: file {name} is missing")
        if sha256_file(p) != entry["sha256"]:
            raise BundleError(f"bundle {manifest.path}: checksum mismatch for {name}")
    for graph, spec in manifest.graphs.items():
        if spec.get("file") not in manifest.files:
            raise BundleError(f"bundle {manifest.path}: graph {graph} has no checksummed file")
