"""`echo-edge bench`: the PyTorch reference and every bundle given, on the same audio.

    echo-edge bench [BUNDLE ...] [--reference CKPT] [--no-reference] [--data MANIFEST]
                    [--limit N] [--threads N] [--repeats N] [--warmup N]
                    [--lengths 1 2 5 10 20 30] [--out DIR] [--cold-start]
    python bench/run.py ...          (the same parser)

Each system runs in its own subprocess (bench/worker.py) pinned to the first N CPUs, so its
peak RSS is its own; a system that crashes is reported as failed and the others still run.
Writes results.json (raw samples included), results.md and two PNG plots to --out (default
bench/results/<machine>), prints the table and the targets; exit 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

from echo_edge.bench.args import add_bench_args, check_bench_args
from echo_edge.bench.machine import describe_machine, pin, pinned_cpus

# Default output: under the current directory, never inside the installed package (a checkout
# commits its figures with --out bench/results/<machine slug>).
RESULTS_DIR = Path("bench-results")
COLD_START_RUNS = 3  # fresh `echo-edge transcribe` processes per bundle (median reported)
COLD_START_TIMEOUT = 300.0  # seconds one of them may take
ERROR_TAIL = 20  # stderr lines of a worker kept for its failure message


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, ... when a system of that name is already listed."""
    i = 1
    candidate = name
    while candidate in taken:
        i += 1
        candidate = f"{name}-{i}"
    return candidate


def check_systems(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Worker specs (name, kind, path, device) after checking every path: one-line errors."""
    from echo_edge.runtime.bundle import BundleError, read_bundle

    specs: list[dict[str, Any]] = []
    if not args.no_reference:
        if args.reference is not None:
            ref = Path(args.reference)
            ref = ref.parent if ref.name == "model.safetensors" else ref
            for name in ("config.json", "model.safetensors"):
                if not (ref / name).is_file():
                    raise FileNotFoundError(f"reference checkpoint {ref}: no {name}")
        specs.append(
            {
                "name": "pytorch-eager-cpu",
                "kind": "reference",
                "path": args.reference,
                "device": "cpu",
            }
        )
    for bundle in args.bundles:
        try:
            manifest = read_bundle(bundle)
        except BundleError as e:
            raise ValueError(str(e)) from e
        name = unique_name(Path(bundle).resolve().name, {s["name"] for s in specs})
        device = "gpu" if manifest.backend == "tensorrt" else "cpu"
        specs.append({"name": name, "kind": "bundle", "path": str(bundle), "device": device})
    return specs


def command_line(args: argparse.Namespace, threads: int, out: Path) -> str:
    """The run as one explicit command (every setting spelled out), for the report."""
    parts = ["echo-edge", "bench", *args.bundles]
    if args.no_reference:
        parts.append("--no-reference")
    elif args.reference:
        parts += ["--reference", args.reference]
    if args.data:
        parts += ["--data", args.data]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    parts += ["--threads", str(threads), "--repeats", str(args.repeats)]
    parts += ["--warmup", str(args.warmup), "--lengths", *(f"{x:g}" for x in args.lengths)]
    parts += ["--out", str(out)] + (["--cold-start"] if args.cold_start else [])
    return shlex.join(parts)


def run_system(spec: dict[str, Any], work: Path, progress: Any) -> dict[str, Any]:
    """Run one worker subprocess -> its result, or {"failed": True, "error": last stderr line}."""
    from echo_edge.bench.worker import STAGE_PREFIX

    spec_path = work / f"{spec['name']}.spec.json"
    spec["result"] = str(work / f"{spec['name']}.result.json")
    spec_path.write_text(json.dumps(spec))
    threads = str(len(spec["cpus"]))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    cmd = [sys.executable, "-m", "echo_edge.bench.worker", str(spec_path)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    tail: deque[str] = deque(maxlen=ERROR_TAIL)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(STAGE_PREFIX):
            progress(f"{spec['name']}: {line[len(STAGE_PREFIX) :].strip()}")
        elif line.strip():
            tail.append(line.strip())
    rc = proc.wait()
    result_path = Path(spec["result"])
    if rc != 0 or not result_path.is_file():
        error = tail[-1] if tail else f"exit status {rc}"
        keep = {k: spec[k] for k in ("name", "kind", "path", "device")}
        return {
            **keep,
            "failed": True,
            "error": error,
            "exit_status": rc,
            "stderr_tail": list(tail),
        }
    return json.loads(result_path.read_text())


def transcribe_command(bundle: str, wav: Path, threads: int) -> list[str]:
    """`echo-edge transcribe --bundle B FILE` with this interpreter's entry point."""
    exe = Path(sys.executable).with_name("echo-edge")
    head = [str(exe)] if exe.is_file() else [sys.executable, "-m", "echo_edge.cli"]
    return [*head, "transcribe", "--bundle", bundle, "--threads", str(threads), str(wav)]


def cold_start(bundle: str, wav: Path, cpus: list[int]) -> dict[str, Any]:
    """Fresh process start -> first line of output, COLD_START_RUNS times (median)."""
    from echo_edge.bench.measure import median

    cmd = transcribe_command(bundle, wav, len(cpus))
    samples: list[float] = []
    first = ""
    for _ in range(COLD_START_RUNS):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=partial(pin, cpus),
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        seconds = time.perf_counter() - t0
        try:
            _, err = proc.communicate(timeout=COLD_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0 or not first:
            lines = [x for x in err.splitlines() if x.strip()]
            error = lines[-1].strip() if lines else f"exit status {proc.returncode}"
            return {
                "median_s": None,
                "samples_s": samples,
                "error": error,
                "command": shlex.join(cmd),
            }
        samples.append(seconds)
    return {
        "median_s": median(samples),
        "samples_s": samples,
        "first_line": first.strip(),
        "command": shlex.join(cmd),
    }


def finite(obj: Any) -> Any:
    """The results with NaN / infinity as null, so results.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def add_speedups(systems: list[dict[str, Any]]) -> None:
    """speedup = CPU reference RTF / system RTF (None without a reference)."""
    ref = next((s for s in systems if s["kind"] == "reference" and s["device"] == "cpu"), None)
    base = None if ref is None or ref.get("failed") else ref["offline"]["rtf"]
    for s in systems:
        if not s.get("failed"):
            rtf = s["offline"]["rtf"]
            s["speedup"] = base / rtf if base and rtf else None


def measure_all(specs: list[dict[str, Any]], common: dict[str, Any], work: Path) -> list[dict]:
    """Every system in turn, a CUDA reference after the CPU one when CUDA is there."""
    from tqdm import tqdm

    results: list[dict[str, Any]] = []
    queue = list(specs)
    with tqdm(total=len(queue), unit="system", file=sys.stderr, dynamic_ncols=True) as bar:
        while queue:
            spec = {**queue.pop(0), **common}
            t0 = time.perf_counter()
            bar.set_postfix_str(f"{spec['name']}: starting")
            result = run_system(spec, work, bar.set_postfix_str)
            status = f"FAILED: {result['error']}" if result.get("failed") else "done"
            bar.write(f"{spec['name']}: {status} ({time.perf_counter() - t0:.1f} s)", sys.stderr)
            bar.update(1)
            results.append(result)
            if (
                result["kind"] == "reference"
                and result["device"] == "cpu"
                and result.get("cuda_available")
            ):
                queue.insert(0, {**spec, "name": "pytorch-eager-cuda", "device": "cuda"})
                bar.total += 1
                bar.refresh()
    return results


def run_bench(args: argparse.Namespace) -> int:
    """The bench subcommand -> exit status (1 if a system or a cold start failed). --json:
    stdout is one JSON object (the paths written, the targets, the failed systems)."""
    import soundfile as sf

    from echo_edge import constants as C
    from echo_edge.bench.plots import write_plots
    from echo_edge.bench.report import (
        evaluate_targets,
        markdown_table,
        results_markdown,
        target_lines,
    )
    from echo_edge.bench.worker import save_eval_audio
    from echo_edge.evalset import eval_set
    from echo_edge.runtime.stream import StreamOptions

    check_bench_args(args)
    specs = check_systems(args)
    cpus = pinned_cpus(args.threads)
    machine = describe_machine(cpus)
    out = Path(args.out) if args.out else RESULTS_DIR / machine["slug"]
    out.mkdir(parents=True, exist_ok=True)
    source = args.data or "synthesised with held-out espeak-ng voices (echo_edge.evalset)"
    print(f"eval audio: {source}", file=sys.stderr, flush=True)
    utts = eval_set(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="echo-edge-bench-") as tmp:
        work = Path(tmp)
        save_eval_audio(utts, work / "eval.npz")
        common = {"cpus": cpus, "audio": str(work / "eval.npz"), "lengths": list(args.lengths)}
        common.update(repeats=args.repeats, warmup=args.warmup)
        systems = measure_all(specs, common, work)
        if args.cold_start:
            wav = work / f"{utts[0].id}.wav"
            sf.write(wav, utts[0].audio, C.SAMPLE_RATE, subtype="PCM_16")
            for s in systems:
                if s["kind"] == "bundle" and not s.get("failed"):
                    print(f"{s['name']}: cold start", file=sys.stderr, flush=True)
                    s["cold_start"] = cold_start(s["path"], wav, cpus)
    add_speedups(systems)
    gpu = next((s.get("gpu") for s in systems if s.get("gpu")), None)
    machine["gpu"] = machine["gpu"] or gpu
    results: dict[str, Any] = {
        "command": command_line(args, len(cpus), out),
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine,
        "settings": {
            "threads": len(cpus),
            "affinity": cpus,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "lengths": list(args.lengths),
            "stream_block_seconds": 0.1,
            "endpoint_wait_s": StreamOptions().trailing_silence_seconds,
            "short_pause_s": StreamOptions().short_pause_seconds,
            "long_utterance_s": StreamOptions().long_utterance_seconds,
        },
        "eval_set": {
            "source": source,
            "seconds": sum(u.seconds for u in utts),
            "utterances": [
                {"id": u.id, "seconds": u.seconds, "text": u.text, "voice": u.voice} for u in utts
            ],
        },
        "systems": systems,
    }
    results["targets"] = evaluate_targets(results)
    results = finite(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    (out / "results.md").write_text(results_markdown(results))
    plots = write_plots(results, out)
    failed = [s for s in systems if s.get("failed") or (s.get("cold_start") or {}).get("error")]
    if args.json:
        written = {"results": str(out / "results.json"), "report": str(out / "results.md")}
        written |= {"plots": [str(p) for p in plots], "targets": results["targets"]}
        written["failed"] = [s["name"] for s in failed]
        print(json.dumps(written, indent=2), flush=True)
    else:
        print(markdown_table(results))
        print()
        print("\n".join(target_lines(results["targets"])))
    print(f"\nwrote {out}/results.json, results.md and plots", file=sys.stderr)
    for s in failed:
        print(
            f"echo-edge: error: {s['name']}: {s.get('error') or s['cold_start']['error']}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python bench/run.py`): the CLI's parser and its one-line errors."""
    from echo_edge.cli import HelpFormatter, Parser, run

    parser = Parser(prog="bench/run.py", formatter_class=HelpFormatter)
    parser.set_defaults(command="bench")  # run() checks the bench extras are installed
    args = add_bench_args(parser).parse_args(argv)
    return run(run_bench, args)


if __name__ == "__main__":
    sys.exit(main())
