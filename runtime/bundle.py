"""The bundle format: a directory of exported graphs described by manifest.json (DESIGN §6).

Torch-free (json, hashlib, pathlib): the device runtime reads bundles with this module and the
exporters write them with it, so both sides agree on one format. A bundle holds

    manifest.json   format version, EchoConfig, frontend constants, special ids, backend,
                    precision, sha256 of every file, exporter versions, source checkpoint
                    sha256, creation time, graph I/O names, and a "verify" slot
    tokenizer.json
    frontend.* encoder.* decoder.*   (ONNX / TensorRT) or model.pte (ExecuTorch, 3 methods)

`read_bundle` checks the manifest's shape and format version, that every file the runtime
reads (tokenizer.json, each graph file, any ONNX external-data file) is listed with a sha256
under a plain name inside the bundle, and every checksum; it raises `BundleError` with a
one-line message on any problem. Checksums catch corruption, not forgery: whoever can edit a
graph can edit its sha256 too. The manifest's own sha256 (`Manifest.manifest_sha256`, printed
by export and verify) pins a whole bundle: `read_bundle(path, expected_sha256=HEX)`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from echo_edge import constants as C

# 2: the encoder graph may return the CTC head's log-probabilities (a fourth output), which a
# version-1 reader cannot unpack; such readers refuse a version-2 bundle in one line. Version-1
# bundles (three encoder outputs) still read here.
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
BACKENDS = ("onnx", "executorch", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
GRAPHS = ("frontend", "encoder", "decoder")
# A bundle's files are flat: plain names (no separator, no leading dot, so no ".." and nothing
# absolute), so none can leave the bundle.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Graph-spec fields that name a file the runtime may read ("onnx": TensorRT's source graph).
GRAPH_FILE_FIELDS = ("file", "onnx")
# manifest.json field -> the JSON types it may hold (the Manifest dataclass below).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "format_version": (int,),
    "config": (dict,),
    "frontend": (dict,),
    "special_ids": (dict,),
    "backend": (str,),
    "precision": (str,),
    "files": (dict,),
    "graphs": (dict,),
    "exporter": (dict,),
    "checkpoint_sha256": (str,),
    "created": (str,),
    "limits": (dict,),
    "quantization": (dict,),
    "source": (dict,),
    "verify": (dict, type(None)),
}
OPTIONAL_FIELDS = ("limits", "quantization", "source", "verify")
# EchoConfig dimensions the runtime sizes its caches and token budget with: positive integers.
CONFIG_DIMS = (
    "d_model",
    "n_heads",
    "encoder_layers",
    "decoder_layers",
    "vocab_size",
    "max_target_len",
)
# Frontend constants the runtime's streaming arithmetic reads: non-negative integers.
FRONTEND_INTS = ("sample_rate", "hop", "left_context", "lookahead")
JSON_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number"}

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
# Outputs a graph has only when the model has the part that computes them; a bundle's
# manifest lists each graph's actual outputs ("outputs" of its graph spec), in order.
CTC_OUTPUT = "ctc_logprobs"  # encoder: (1, S, V) CTC log-softmax per 50 Hz frame, blank = pad
OPTIONAL_OUTPUTS: dict[str, tuple[str, ...]] = {"encoder": (CTC_OUTPUT,)}
# Decoder graph-spec flag: its self_k/self_v take any slot count C from MIN_CACHE_SLOTS to
# max_target_len, so a search starts with a small cache and doubles it as tokens come (a step
# costs with C). Without it (bundles before the flag, TensorRT's fixed profile) C is always
# max_target_len.
GROWING_CACHE = "growing_cache"
MIN_CACHE_SLOTS = 16


def first_slots(cap: int) -> int:
    """The slot count a growing cache starts a search with: MIN_CACHE_SLOTS, at most `cap`
    (max_target_len)."""
    return min(MIN_CACHE_SLOTS, cap)


def grown_slots(have: int, slots: int, cap: int) -> int:
    """The slot count a cache of `have` slots grows to so that it holds `slots`: doubled until
    it does, at most `cap` (max_target_len); `have` when it already holds them."""
    size = have
    while size < slots:
        size *= 2
    return min(size, cap) if size > have else have


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
    exporter: dict  # package -> version ("echo-edge": the tool that wrote the bundle)
    checkpoint_sha256: str
    created: str  # ISO 8601, UTC
    limits: dict = field(default_factory=dict)  # max_samples, max_frames, max_target_len, ...
    quantization: dict = field(default_factory=dict)  # how int8 graphs were made
    source: dict = field(default_factory=dict)  # {"checkpoint": path or "shipped", "trained"}
    verify: dict | None = None  # the verify report of this bundle, added by `echo-edge verify`
    # sha256 of manifest.json as read or last written (not stored in it): pins the bundle.
    manifest_sha256: str = field(default="", compare=False)

    def file(self, name: str) -> Path:
        """Path of one of the bundle's files; only a listed (checksummed) file has one."""
        if name not in self.files:
            raise BundleError(f"bundle {self.path}: {name} is not listed in {MANIFEST_NAME}")
        return self.path / name

    def graph_file(self, graph: str) -> Path:
        """Path of the file holding a graph (frontend, encoder or decoder)."""
        return self.file(self.graphs[graph]["file"])

    def graph_outputs(self, graph: str) -> tuple[str, ...]:
        """A graph's output names in order: the required ones, then any optional ones the
        manifest lists (a bundle from before optional outputs lists none of them)."""
        listed = self.graphs[graph].get("outputs")
        if not isinstance(listed, list):
            listed = []
        required = GRAPH_OUTPUTS[graph]
        optional = [n for n in listed if n in OPTIONAL_OUTPUTS.get(graph, ())]
        return (*required, *optional)

    @property
    def growing_cache(self) -> bool:
        """Whether the decoder graph takes caches smaller than max_target_len (GROWING_CACHE)."""
        return self.graphs["decoder"].get(GROWING_CACHE) is True

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d.pop("manifest_sha256")
        return d


def exporter_version() -> str:
    """The installed echo-edge version, stored in every manifest ("unknown" from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("echo-edge")
    except PackageNotFoundError:
        return "unknown"


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
    """Checksum `files` (names inside `directory`) and write manifest.json -> the Manifest.

    Raises BundleError when the result would not pass read_bundle (an unlisted graph file or
    tokenizer, a name that is not plain), so an exporter cannot write a bundle no runtime reads.
    """
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
        exporter={"echo-edge": exporter_version(), **exporter},
        checkpoint_sha256=checkpoint_sha256,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        limits=limits or {},
        quantization=quantization or {},
        source=source or {},
        verify=verify,
    )
    problem = manifest_problem(manifest.to_json())
    if problem:
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME}: {problem}")
    save_manifest(manifest)
    return manifest


def save_manifest(manifest: Manifest) -> Path:
    """(Re)write manifest.json; the manifest is not among its own checksummed files."""
    path = manifest.path / MANIFEST_NAME
    data = (json.dumps(manifest.to_json(), indent=2) + "\n").encode()
    path.write_bytes(data)
    manifest.manifest_sha256 = hashlib.sha256(data).hexdigest()
    return path


def set_verify_report(path: str | Path, report: dict) -> Manifest:
    """Store a verify report in a bundle's manifest (after checking the bundle).

    This rewrites manifest.json, so the bundle's manifest sha256 changes: the returned
    Manifest carries the new one."""
    manifest = read_bundle(path)
    manifest.verify = report
    save_manifest(manifest)
    return manifest


def is_bundle(path: str | Path) -> bool:
    """True when `path` is a directory with a manifest.json (valid or not)."""
    return (Path(path) / MANIFEST_NAME).is_file()


def foreign_content(path: str | Path) -> str | None:
    """Why directory `path` is not a bundle this tool wrote, which only --force may replace
    (None: a valid manifest of this format version and no file it does not list)."""
    directory = Path(path)
    if not is_bundle(directory):
        return f"it has no {MANIFEST_NAME}"
    try:
        manifest = read_bundle(directory, check_files=False)
    except BundleError as e:
        return str(e).removeprefix(f"bundle {directory}: ")
    ours = {*manifest.files, MANIFEST_NAME}
    other = sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in ours or p.is_symlink() or not p.is_file()
    )
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        return f"it holds {shown}, which its {MANIFEST_NAME} does not list"
    return None


def read_bundle(
    path: str | Path, check_files: bool = True, expected_sha256: str | None = None
) -> Manifest:
    """Read a bundle's manifest, check its shape and format version and (by default) every
    file. `expected_sha256`: the manifest.json sha256 the caller pinned (a hex string)."""
    directory = Path(path)
    manifest_path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise BundleError(f"bundle {directory}: no such directory")
    if not manifest_path.is_file():
        raise BundleError(f"bundle {directory}: file {MANIFEST_NAME} is missing")
    try:
        raw = manifest_path.read_bytes()  # hashed and parsed from the same bytes
    except OSError as e:
        raise BundleError(f"bundle {directory}: cannot read {MANIFEST_NAME} ({e.strerror})") from e
    digest = hashlib.sha256(raw).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise BundleError(
            f"bundle {directory}: {MANIFEST_NAME} has sha256 {digest}, not the expected "
            f"{expected_sha256.strip().lower()}"
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME} is not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME} is not a JSON object")
    problem = manifest_problem(data)
    if problem:
        raise BundleError(f"bundle {directory}: {MANIFEST_NAME}: {problem}")
    manifest = Manifest(path=directory, **data, manifest_sha256=digest)
    if check_files:
        verify_files(manifest)
    return manifest


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _count(value: object, positive: bool = True) -> bool:
    """A JSON integer (not a boolean) above zero, or at least zero."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (value > 0 if positive else value >= 0)


def manifest_problem(data: dict) -> str | None:
    """What makes parsed manifest.json data unusable, in a few words (None: nothing)."""
    version = data.get("format_version")
    if isinstance(version, str):
        number = f"the number {version}" if version.isdigit() else "a number"
        return f"format_version is the string {version!r}, not {number}"
    if version is None:
        return "no format_version"
    if version not in READABLE_FORMAT_VERSIONS or isinstance(version, bool):
        readable = " and ".join(str(v) for v in READABLE_FORMAT_VERSIONS)
        return f"format version {version}, this runtime reads {readable}"
    missing = [k for k in FIELD_TYPES if k not in data and k not in OPTIONAL_FIELDS]
    if missing:
        return f"no {', '.join(missing)}"
    unknown = sorted(set(data) - set(FIELD_TYPES))
    if unknown:
        return f"unknown field {', '.join(map(repr, unknown))}"
    for key, types in FIELD_TYPES.items():
        if key in data and not isinstance(data[key], types):
            want = " or ".join("null" if t is type(None) else JSON_TYPE_NAMES[t] for t in types)
            return f"{key} is {_type_name(data[key])}, not {want}"
    if data["backend"] not in BACKENDS:
        return f"unknown backend {data['backend']!r}"
    if data["precision"] not in PRECISIONS:
        return f"unknown precision {data['precision']!r}"
    return (
        _config_problem(data["config"])
        or _frontend_problem(data["frontend"])
        or _files_problem(data["files"], data["graphs"])
    )


def _config_problem(config: dict) -> str | None:
    for key in CONFIG_DIMS:
        if key not in config:
            return f"config has no {key}"
        if not _count(config[key]):
            return f"config {key} is {config[key]!r}, not a positive integer"
    if config["d_model"] % config["n_heads"]:
        return (
            f"config d_model {config['d_model']} is not a multiple of n_heads {config['n_heads']}"
        )
    rate = config.get("max_tokens_per_second")
    if rate is not None and not (isinstance(rate, (int, float)) and rate > 0):
        return f"config max_tokens_per_second is {rate!r}, not a positive number"
    return None


def _frontend_problem(frontend: dict) -> str | None:
    for key in FRONTEND_INTS:
        if not _count(frontend.get(key), positive=key in ("sample_rate", "hop")):
            return f"frontend {key} is {frontend.get(key)!r}, not a valid sample count"
    return None


def _files_problem(files: dict, graphs: dict) -> str | None:
    """Every name plain, every entry with a sha256; tokenizer and graph files listed."""
    for name, entry in files.items():
        if not plain_name(name):
            return f"file name {name!r} is not a plain name inside the bundle"
        if not isinstance(entry, dict) or not SHA256_HEX.fullmatch(str(entry.get("sha256"))):
            return f"file {name} has no sha256"
        if "bytes" in entry and not _count(entry["bytes"], positive=False):
            return f"file {name} has a size of {entry['bytes']!r} bytes"
    if MANIFEST_NAME in files:
        return f"{MANIFEST_NAME} lists itself"
    if TOKENIZER_NAME not in files:
        return f"{TOKENIZER_NAME} is not listed in files with a sha256"
    for graph in GRAPHS:
        if graph not in graphs:
            return f"graph {graph} is missing from graphs"
    for graph, spec in graphs.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            return f"graph {graph} names no file"
        for key in GRAPH_FILE_FIELDS:
            if key in spec and spec[key] not in files:
                return f"graph {graph} reads {spec[key]!r}, which is not listed in files"
    return None


def plain_name(name: object) -> bool:
    """A file name that stays inside the bundle directory (see PLAIN_NAME)."""
    return isinstance(name, str) and PLAIN_NAME.fullmatch(name) is not None


def verify_files(manifest: Manifest) -> None:
    """Raise BundleError on the first missing file, link out of the bundle or checksum
    mismatch. (The ONNX backend checks that no graph reads an unlisted external-data file.)"""
    root = manifest.path.resolve()
    for name, entry in manifest.files.items():
        p = manifest.path / name
        if not p.is_file():
            raise BundleError(f"bundle {manifest.path}: file {name} is missing")
        if p.resolve().parent != root:
            raise BundleError(f"bundle {manifest.path}: file {name} is a link out of the bundle")
        if sha256_file(p) != entry["sha256"]:
            raise BundleError(f"bundle {manifest.path}: checksum mismatch for {name}")
