"""One measured system in its own process: `python -m echo_edge.bench.worker SPEC.json`.

The parent (bench/run.py) writes the eval audio (.npz) and a spec (which system, threads,
CPUs, sweep lengths, repeats), starts this worker and reads the JSON result it writes. Its
own process means its own peak RSS and no warm caches from another system. Progress goes to
stderr as "@stage NAME" lines; a crash leaves its error as the last stderr line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from echo_edge.bench.machine import pin
from echo_edge.bench.measure import MeasureOptions, measure_system
from echo_edge.bench.stream_soak import rss_mb
from echo_edge.evalset import EvalUtterance

STAGE_PREFIX = "@stage "


def save_eval_audio(utts: list[EvalUtterance], path: Path) -> None:
    """The eval set as one .npz: audio_<i> arrays plus ids, texts and voices."""
    arrays = {f"audio_{i}": u.audio for i, u in enumerate(utts)}
    meta = [{"id": u.id, "text": u.text, "voice": u.voice} for u in utts]
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load_eval_audio(path: str | Path) -> list[EvalUtterance]:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return [
            EvalUtterance(m["id"], data[f"audio_{i}"].astype(np.float32), m["text"], m["voice"])
            for i, m in enumerate(meta)
        ]


def peak_rss_mb() -> float:
    """This process's peak resident set size (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class Stages:
    """Announces each stage on stderr (the parent's progress line) and times it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def __call__(self, name: str | None) -> None:
        now = time.perf_counter()
        if self._current is not None:
            self.seconds[self._current[0]] = now - self._current[1]
        self._current = (name, now) if name is not None else None
        if name is not None:
            print(STAGE_PREFIX + name, file=sys.stderr, flush=True)


def load_system(spec: dict[str, Any], threads: int) -> Any:
    """The system the spec names; torch is imported only for the reference."""
    if spec["kind"] == "reference":
        from echo_edge.bench.ref_system import ReferenceSystem

        return ReferenceSystem(spec["path"], spec["device"], threads)
    from echo_edge.bench.bundle_system import BundleSystem

    return BundleSystem(spec["path"], threads)


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Pin, load, measure -> the result dict (everything the report needs, raw samples too)."""
    cpus = list(spec["cpus"])
    pin(cpus)  # before any library starts its thread pool
    utts = load_eval_audio(spec["audio"])
    opts = MeasureOptions(tuple(spec["lengths"]), int(spec["repeats"]), int(spec["warmup"]))
    rss_before = rss_mb()
    stage = Stages()
    stage("load")
    system = load_system(spec, len(cpus))
    rss_loaded = rss_mb()
    measurements = measure_system(system, utts, opts, stage)
    stage(None)
    result: dict[str, Any] = {
        "name": spec["name"],
        "kind": spec["kind"],
        "path": spec["path"],
        "device": spec["device"],
        "threads": len(cpus),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        **system.info,
        "load_s": system.load_seconds,
        "size_bytes": system.size_bytes,
        "rss_before_load_mb": rss_before,
        "rss_after_load_mb": rss_loaded,
        **measurements,
        "stage_seconds": stage.seconds,  # wall time of each stage of this worker
    }
    system.close()
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_imported"] = "torch" in sys.modules
    if spec["kind"] == "reference":
        import torch

        result["cuda_available"] = torch.cuda.is_available()
        if result["device"] == "cuda":
            result["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m echo_edge.bench.worker SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    result = run_worker(spec)
    Path(spec["result"]).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
