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

from echo_edge.export.options import check_module_names, check_options, label_of, resolve_quant
from echo_edge.runtime.bundle import (
    GRAPHS,
    MANIFEST_NAME,
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
EXIT_TERMINATED = 128 + signal.SIGTERM  # the shell's status for a process ended by SIGTERM


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
