"""`echo-edge export`: a checkpoint -> a self-describing bundle directory (DESIGN §6).

    echo-edge export [CHECKPOINT] --backend {onnx,executorch,tensorrt}
                     --precision {fp32,fp16,int8} --out BUNDLE [--calibration DATA]
                     [--quant {dynamic,static}] [--calibrator {minmax,percentile}]
                     [--activations {asymmetric,symmetric}]
                     [--keep-float MODULE ...] [--from-onnx BUNDLE] [--timing-cache FILE]
                     [--force] [--no-verify] [--json]

The bundle is built in a staging directory next to --out and moved into place only when
complete, so a failed, interrupted (Ctrl-C) or terminated (SIGTERM) export never leaves half a
bundle. An existing --out is replaced only if it is a bundle this tool wrote (a valid manifest
and no file it does not list); anything else needs --force. Unsupported combinations fail
before any work with one line (ValueError). The finished bundle is then verified against
the checkpoint on a few synthesised utterances (echo_edge.verify) and the report stored in
its manifest; a failed verification is reported, never a reason to delete the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from echo_edge.runtime.bundle import (
    BACKENDS,
    GRAPHS,
    MANIFEST_NAME,
    PRECISIONS,
    TOKENIZER_NAME,
    BundleError,
    foreign_content,
    read_bundle,
    sha256_file,
    write_manifest,
)

if TYPE_CHECKING:  # torch-free at import: the exporters load torch when they run
    from echo_edge.export.graphs import BackendExport
    from echo_edge.model import Echo
    from echo_edge.tokenizer import EchoTokenizer

Log = Callable[[str], None]
SUPPORTED: dict[str, tuple[str, ...]] = {
    "onnx": ("fp32", "fp16", "int8"),
    "executorch": ("fp32", "int8"),  # XNNPACK on our CPUs: no fp16 path worth shipping
    "tensorrt": ("fp32", "fp16", "int8"),
}
QUANT_MODES: dict[str, tuple[str, ...]] = {
    "onnx": ("dynamic", "static"),
    "executorch": ("static",),  # PT2E with calibration
    "tensorrt": ("static",),  # explicit Q/DQ graphs
}
EXIT_TERMINATED = 128 + signal.SIGTERM  # the shell's status for a process ended by SIGTERM


# How ONNX int8 static sets activation ranges: export.quantize.CALIBRATORS' keys (not imported
# here: that module pulls in torch and onnxruntime, and a refused export must stay quick).
CALIBRATOR_NAMES = ("minmax", "percentile")
# int8 static activations: asymmetric (a zero point per tensor: ONNX Runtime's default) or
# symmetric (zero point 0: what TensorRT builds from; its exports are always symmetric)
ACTIVATIONS = ("asymmetric", "symmetric")


def resolve_quant(
    backend: str, precision: str, quant: str | None, calibration: str | Path | None
) -> str | None:
    """Check backend x precision x quant -> the int8 scheme (None for float precisions).
    A combination that does not exist is a UsageError (a ValueError: exit status 2)."""
    from echo_edge.cli import UsageError

    if backend not in SUPPORTED:
        raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision not in SUPPORTED[backend]:
        choices = " or ".join(SUPPORTED[backend])
        raise UsageError(f"{backend} does not support {precision}: use --precision {choices}")
    if precision != "int8":
        if quant is not None:
            raise UsageError(f"--quant applies to int8 only, not {precision}")
        return None
    if quant is None:
        return "dynamic" if backend == "onnx" and calibration is None else "static"
    if quant not in QUANT_MODES[backend]:
        raise UsageError(f"{backend} int8 is {' or '.join(QUANT_MODES[backend])}, not {quant}")
    return quant


def check_out(out: Path, force: bool) -> None:
    """Refuse to replace anything but an empty directory or a bundle this tool wrote, unless
    forced; a file is never replaced."""
    if out.is_symlink() and not force:
        raise ValueError(f"--out {out} is a symbolic link: pass --force to replace the link")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a bundle directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot create it ({e.strerror or e})") from None
    if out.is_dir() and not out.is_symlink() and any(out.iterdir()) and not force:
        why = foreign_content(out)
        if why is not None:
            raise ValueError(
                f"--out {out} is not a bundle echo-edge wrote ({why}): pass --force to replace it"
            )


def replace_dir(staging: Path, out: Path, force: bool) -> None:
    """Move a finished staging directory to `out`, replacing what check_out allows (checked
    again: files may have appeared during the export)."""
    check_out(out, force)
    if not out.exists() and not out.is_symlink():
        staging.rename(out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    try:
        staging.rename(out)
    except BaseException:
        old.rename(out)
        raise
    if old.is_symlink():
        old.unlink()
    else:
        shutil.rmtree(old)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM ends the process through SystemExit, so every cleanup (finally, except) runs,
    as on Ctrl-C; the previous handler comes back afterwards. Main thread only (Python's rule)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(EXIT_TERMINATED)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except SystemExit as e:
        if e.code == EXIT_TERMINATED:
            print("echo-edge: export terminated (SIGTERM): no partial bundle left", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def load_tokenizer(checkpoint: str | Path | None, vocab_size: int) -> EchoTokenizer:
    """The checkpoint's tokenizer.json if it has one, else the shipped tokenizer."""
    from echo_edge.tokenizer import EchoTokenizer, default_tokenizer

    directory = Path(checkpoint) if checkpoint is not None else None
    if directory is not None and directory.is_file():
        directory = directory.parent
    own = directory / TOKENIZER_NAME if directory is not None else None
    tokenizer = EchoTokenizer.from_file(own) if own and own.is_file() else default_tokenizer()
    if tokenizer.vocab_size != vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} ids but the model has vocab_size {vocab_size}: "
            f"put the training tokenizer.json next to the checkpoint"
        )
    return tokenizer


def traced_graphs(bundle: str | Path, config: dict, checkpoint: str) -> dict[str, Path]:
    """The fp32 graphs of an onnx bundle made from the same checkpoint (checked)."""
    try:
        m = read_bundle(bundle)
    except BundleError as e:
        raise ValueError(str(e)) from e
    if (m.backend, m.precision) != ("onnx", "fp32"):
        raise ValueError(f"--from-onnx {bundle} is {m.backend} {m.precision}, not onnx fp32")
    if m.config != config or m.checkpoint_sha256 != checkpoint:
        raise ValueError(f"--from-onnx {bundle} was exported from another checkpoint")
    return {g: m.graph_file(g) for g in GRAPHS}


def export_bundle(
    checkpoint: str | Path | None,
    backend: str,
    precision: str,
    out: str | Path,
    calibration: str | Path | None = None,
    quant: str | None = None,
    force: bool = False,
    timing_cache: str | Path | None = None,
    onnx_from: str | Path | None = None,
    log: Log = print,
    verify: bool = True,
    keep_float: Sequence[str] | None = None,
    calibrator: str = "minmax",
    activations: str = "asymmetric",
) -> Path:
    """Export a checkpoint (None: the shipped model) to a bundle directory -> its path.

    `keep_float`: module paths (e.g. encoder.blocks.0.mlp.fc2) an int8 export leaves in fp32
    beside the frontend and the waveform stem; the manifest's quantization section lists them.
    None: the checkpoint's int8.json list for static int8 (checkpoint.int8_keep_float), none
    for dynamic. `calibration` None: the calibration set (export.quantize.load_calibration).
    `calibrator`: how ONNX int8 static sets activation ranges ("minmax" or "percentile");
    `activations`: "symmetric" int8 activations (zero point 0), as TensorRT builds from them.

    `onnx_from`: an onnx fp32 bundle of the same checkpoint whose graphs are converted (onnx)
    or built (tensorrt) instead of tracing the model again. `verify`: check the bundle
    against the checkpoint afterwards and store the report in its manifest."""
    start = time.perf_counter()
    quant = resolve_quant(backend, precision, quant, calibration)
    given = keep_float is not None
    keep_float = list(dict.fromkeys(keep_float or ()))  # once each, in the order given
    check_options(
        backend, precision, quant, calibrator, keep_float if given else None, onnx_from, activations
    )
    if backend == "tensorrt":
        from echo_edge.export.tensorrt import require_tensorrt

        require_tensorrt()  # fail before any work when the library is missing
    out = Path(out)
    check_out(out, force)

    from echo_edge.checkpoint import (
        INT8_NAME,
        checkpoint_sha256,
        int8_keep_float,
        int8_key,
        load_checkpoint,
    )
    from echo_edge.export.graphs import limits

    log(f"[1/4] loading {checkpoint or 'the shipped model'}")
    try:
        model, trained = load_checkpoint(checkpoint)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from e
    model = model.eval()
    if not trained:
        log("  no trained model is shipped: exporting a randomly initialised tiny model")
    tokenizer = load_tokenizer(checkpoint, model.config.vocab_size)
    log(f"  {model.num_parameters() / 1e6:.2f} M parameters, {model.config.features}")
    kept_by = {"keep_float": keep_float, "keep_float_from": "--keep-float"} if given else {}
    if not given and quant == "static":
        symmetric = backend == "tensorrt" or activations == "symmetric"
        keep_float, why = int8_keep_float(checkpoint, symmetric)
        log(f"  static int8 keeps {len(keep_float)} layers fp32 ({why}; --keep-float overrides)")
        source = f"{INT8_NAME} {int8_key(symmetric)}" if keep_float else f"none: {why}"
        kept_by = {"keep_float": keep_float, "keep_float_from": source}
    check_module_names(model, keep_float)
    fp32_graphs = None
    if onnx_from is not None:
        fp32_graphs = traced_graphs(
            onnx_from, model.config.to_dict(), checkpoint_sha256(checkpoint)
        )
        log(f"  fp32 graphs from {onnx_from}")

    inputs, calibrated = None, {}
    if quant == "static":
        from echo_edge.evalset import calibration_recipe, recipe_key
        from echo_edge.export.quantize import calibration_inputs, load_calibration

        utterances = load_calibration(calibration, log=log)
        source = str(calibration or f"calibration set {recipe_key(calibration_recipe())}")
        calibrated = {"calibration_data": source, "calibration_utterances": len(utterances)}
        log(f"[2/4] calibrating on {len(utterances)} utterances from {source}")
        inputs = calibration_inputs(model, utterances, tokenizer)
    else:
        log("[2/4] no calibration needed")

    label = label_of(backend, precision, quant)
    log(f"[3/4] exporting {label} graphs")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    with sigterm_raises():  # SIGTERM, like Ctrl-C, removes the staging directory
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            with toolchain_errors(label):
                result = _run_exporter(
                    model,
                    staging,
                    backend,
                    precision,
                    quant,
                    inputs,
                    timing_cache,
                    fp32_graphs,
                    log,
                    keep_float,
                    calibrator,
                    activations == "symmetric",
                )
            tokenizer.save(staging / TOKENIZER_NAME)
            log(f"[4/4] writing {MANIFEST_NAME}")
            write_manifest(
                staging,
                config=model.config.to_dict(),
                backend=backend,
                precision=precision,
                files=[*result.files, TOKENIZER_NAME],
                graphs=result.graphs,
                exporter=result.exporter,
                checkpoint_sha256=checkpoint_sha256(checkpoint),
                limits=limits(model),
                quantization={
                    **result.quantization,
                    **calibrated,
                    **(kept_by if precision == "int8" else {}),
                },
                source={"checkpoint": str(checkpoint or "shipped"), "trained": trained},
                verify=None if verify else {"skipped": "exported with --no-verify"},
            )
            replace_dir(staging, out, force)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if verify:
        from echo_edge.verify import verify_at_export

        verify_at_export(out, checkpoint, log)
    # Sizes after verify stored its report: the manifest is final now.
    files = bundle_files(out)
    total = sum(size for _, size in files)
    for name, size in files:
        log(f"  {name:<16} {human_size(size):>9}")
    elapsed = time.perf_counter() - start
    log(
        f"exported {label} bundle {out}: {len(files)} files, {human_size(total)} in {elapsed:.1f} s"
    )
    # Pins the whole bundle (the manifest holds every file's sha256): verify --expect-sha256.
    log(f"manifest sha256 {sha256_file(out / MANIFEST_NAME)}")
    return out


def bundle_files(bundle: Path) -> list[tuple[str, int]]:
    """(name, bytes) of every file of a finished bundle, by name."""
    return [(p.name, p.stat().st_size) for p in sorted(bundle.iterdir()) if p.is_file()]


def export_summary(bundle: Path) -> dict:
    """What `echo-edge export --json` prints: the bundle, its files and sizes, the manifest's
    sha256 and the verify verdict stored in it (pass: true/false, or null when not verified)."""
    manifest = read_bundle(bundle)
    files = bundle_files(bundle)
    report = manifest.verify or {}
    verdict = {"pass": report.get("pass")}
    for key in ("skipped", "error"):
        if key in report:
            verdict[key] = report[key]
    if "checks" in report:
        from echo_edge.verify import failures, summary_line

        verdict.update(summary=summary_line(report), failed=failures(report))
    return {
        "bundle": str(bundle),
        "backend": manifest.backend,
        "precision": manifest.precision,
        "files": [{"name": name, "bytes": size} for name, size in files],
        "total_bytes": sum(size for _, size in files),
        "manifest_sha256": manifest.manifest_sha256,
        "verify": verdict,
    }


class ExportError(RuntimeError):
    """The export toolchain raised: one line for the CLI, the cause chained."""


@contextmanager
def toolchain_errors(label: str) -> Iterator[None]:
    """A failure inside the toolchain (torch.export, ONNX, XNNPACK lowering, TensorRT) as an
    ExportError naming the export; our own errors (ValueError, OSError, a missing module,
    KeyboardInterrupt and SIGTERM) pass as they are."""
    try:
        yield
    except (ValueError, OSError, ImportError, MemoryError):
        raise
    except Exception as e:
        from echo_edge.cli import one_line

        raise ExportError(
            f"{label} export failed in the toolchain: {type(e).__name__}: {one_line(e)} "
            "(ECHO_EDGE_DEBUG=1 shows the traceback)"
        ) from e


def check_options(
    backend: str,
    precision: str,
    quant: str | None,
    calibrator: str,
    keep_float: Sequence[str] | None,
    onnx_from: str | Path | None,
    activations: str = "asymmetric",
) -> None:
    """A UsageError for an option the export would not use, before any work (`keep_float`
    None: --keep-float not given)."""
    from echo_edge.cli import UsageError

    label = label_of(backend, precision, quant)
    if calibrator not in CALIBRATOR_NAMES:
        raise UsageError(f"unknown calibrator {calibrator!r}: {' or '.join(CALIBRATOR_NAMES)}")
    if calibrator != "minmax" and not (backend == "onnx" and quant == "static"):
        raise UsageError(f"--calibrator applies to onnx int8 static exports, not {label}")
    if activations not in ACTIVATIONS:
        raise UsageError(f"unknown activations {activations!r}: {' or '.join(ACTIVATIONS)}")
    if activations != "asymmetric" and not (backend == "onnx" and quant == "static"):
        raise UsageError(
            f"--activations applies to onnx int8 static exports, not {label}"
            + (" (always symmetric)" if backend == "tensorrt" else "")
        )
    if keep_float is not None and precision != "int8":
        raise UsageError(f"--keep-float applies to int8 exports, not {precision}")
    if onnx_from is not None and backend == "executorch":
        raise UsageError("--from-onnx applies to onnx and tensorrt exports, not executorch")


def label_of(backend: str, precision: str, quant: str | None) -> str:
    """e.g. "onnx int8 (static)": how logs and errors name an export."""
    return f"{backend} {precision}" + (f" ({quant})" if quant else "")


def _run_exporter(
    model: Echo,
    staging: Path,
    backend: str,
    precision: str,
    quant: str | None,
    inputs: dict | None,
    timing_cache: str | Path | None,
    fp32_graphs: dict[str, Path] | None,
    log: Log,
    keep_float: Sequence[str] = (),
    calibrator: str = "minmax",
    symmetric: bool = False,
) -> BackendExport:
    """Dispatch to the backend's exporter (imported lazily: each pulls in its toolchain)."""
    if backend == "onnx":
        from echo_edge.export.onnx import export_onnx

        return export_onnx(
            model,
            staging,
            precision,
            quant,
            inputs,
            log,
            fp32_graphs,
            keep_float=keep_float,
            calibrator=calibrator,
            symmetric=symmetric,
        )
    if backend == "executorch":
        from echo_edge.export.executorch import export_executorch

        return export_executorch(model, staging, precision, inputs, log, keep_float)
    from echo_edge.export.tensorrt import DEFAULT_TIMING_CACHE, export_tensorrt

    cache = Path(timing_cache) if timing_cache else DEFAULT_TIMING_CACHE
    return export_tensorrt(model, staging, precision, inputs, cache, log, fp32_graphs, keep_float)


def check_module_names(model: Echo, modules: Sequence[str]) -> None:
    """A UsageError naming each of `modules` the model has no module of that path."""
    from echo_edge.cli import UsageError

    known = {name for name, _ in model.named_modules()}
    unknown = [m for m in modules if m not in known]
    paths = [m for m in unknown if Path(m).exists()]
    if paths:  # `--keep-float ... CHECKPOINT`: the list took the positional argument
        raise UsageError(
            f"--keep-float took {paths[0]} as a module path: put the checkpoint before "
            "--keep-float (or end the list with --)"
        )
    if unknown:
        raise UsageError(
            f"--keep-float: the model has no module {', '.join(unknown)} "
            "(paths look like encoder.blocks.0.mlp.fc2; bench/int8_sensitivity.py ranks them)"
        )


def add_export_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of `echo-edge export` (the CLI owns the parser and its formatter)."""
    parser.add_argument(
        "checkpoint",
        nargs="?",
        default=None,
        help="checkpoint directory (config.json + model.safetensors); default: the shipped model",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="target runtime")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="numeric precision")
    parser.add_argument(
        "--out", default=None, help="bundle directory to write (default: bundles/BACKEND-PRECISION)"
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="DATA",
        help="JSONL manifest ({audio, text}) of calibration speech for int8 static; "
        "default: a cached calibration set of 8 utterances like verify's (espeak-ng and flite "
        "test voices, clean and noisy, none of verify's sentences)",
    )
    parser.add_argument(
        "--quant",
        choices=("dynamic", "static"),
        default=None,
        help="int8 scheme; default: static with --calibration or for executorch/tensorrt, "
        "else dynamic",
    )
    parser.add_argument(
        "--calibrator",
        choices=CALIBRATOR_NAMES,
        default="minmax",
        help="onnx int8 static: activation ranges span every calibration value (minmax) or "
        "the central 99.99 %% of them (percentile)",
    )
    parser.add_argument(
        "--activations",
        choices=ACTIVATIONS,
        default="asymmetric",
        help="onnx int8 static: int8 activations with a zero point (asymmetric) or without "
        "(symmetric: the graphs a tensorrt int8 export builds its engines from)",
    )
    parser.add_argument(
        "--keep-float",
        nargs="*",
        default=None,
        metavar="MODULE",
        help="int8: module paths to leave in fp32 besides the frontend and waveform stem, "
        "e.g. encoder.blocks.0.mlp.fc2 (recorded in the manifest); default for static int8: "
        "the checkpoint's int8.json list; --keep-float with no path: none",
    )
    parser.add_argument(
        "--timing-cache", default=None, help="TensorRT timing cache file (kept across builds)"
    )
    parser.add_argument(
        "--from-onnx",
        default=None,
        metavar="BUNDLE",
        help="onnx fp32 bundle of the same checkpoint to convert or build engines from, "
        "instead of tracing the model again (e.g. on a Jetson)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a non-empty --out that is not a bundle echo-edge wrote",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip checking the bundle against the checkpoint on synthesised speech",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (bundle, files and sizes, manifest sha256, verify verdict) "
        "on stdout; progress goes to stderr",
    )


def run_export(args: argparse.Namespace) -> int:
    """Entry point of `echo-edge export`; errors propagate as ValueError/RuntimeError."""
    out = args.out or f"bundles/{args.backend}-{args.precision}"
    as_json = getattr(args, "json", False)

    def log(line: str) -> None:
        print(line, file=sys.stderr if as_json else sys.stdout, flush=True)

    bundle = export_bundle(
        args.checkpoint,
        args.backend,
        args.precision,
        out,
        calibration=args.calibration,
        quant=args.quant,
        force=args.force,
        timing_cache=args.timing_cache,
        onnx_from=args.from_onnx,
        log=log,
        verify=not args.no_verify,
        keep_float=args.keep_float,
        calibrator=args.calibrator,
        activations=args.activations,
    )
    if as_json:
        print(json.dumps(export_summary(bundle), indent=2), flush=True)
    return 0
