"""What the benchmark ran on: CPU, flags, memory, OS, library versions; thread pinning.

Torch-free: library versions come from installed package metadata, not from imports, and the
GPU name from the CUDA reference worker (or nvidia-smi). Linux reads /proc; elsewhere the
fields it cannot read stay empty rather than guessed.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

# CPU flags that decide which kernels ONNX Runtime, XNNPACK and oneDNN can use.
FLAG_PATTERN = re.compile(r"^(avx|avx2|avx512.*|avx_vnni.*|fma|f16c|amx.*|neon|asimd.*|sve.*)$")
LIBRARIES = ("numpy", "torch", "onnxruntime", "executorch", "tensorrt")
# Words a CPU model name carries that say nothing about the part (dropped from the slug).
SLUG_NOISE = {
    "intel", "amd", "arm", "apple", "nvidia", "qualcomm", "cpu", "processor", "core", "tm", "r",
    "platinum", "gold", "silver", "bronze", "with", "radeon", "graphics", "genuine", "model",
}  # fmt: skip
SLUG_WORDS = 3  # at most this many words of the model name in the slug


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical CPU (empty where there is no such file)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip().lower()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def cpu_model(cpuinfo: list[dict[str, str]]) -> str:
    """The CPU's marketing name: cpuinfo's model name, else the board's, else the arch."""
    for entry in cpuinfo:
        for key in ("model name", "cpu model", "hardware"):
            if entry.get(key):
                return entry[key]
    for board in ("/sys/firmware/devicetree/base/model", "/proc/device-tree/model"):
        try:
            name = Path(board).read_text().strip("\x00\n ")
        except OSError:
            continue
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: list[dict[str, str]]) -> list[str]:
    """The SIMD / matrix flags of the first CPU (x86 "flags", ARM "features"), sorted."""
    for entry in cpuinfo:
        flags = entry.get("flags") or entry.get("features")
        if flags:
            return sorted({f for f in flags.split() if FLAG_PATTERN.match(f)})
    return []


def memory_total_mb(meminfo: str | Path = "/proc/meminfo") -> float | None:
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def os_name() -> str:
    """PRETTY_NAME of /etc/os-release, else platform's system and release."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}".strip()


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that run the graphs (None: not installed)."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name by nvidia-smi (None without one)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def usable_cpus() -> list[int]:
    """CPUs this process may run on (its affinity), in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pinned_cpus(threads: int) -> list[int]:
    """The first `threads` usable CPUs (all of them for 0); more than exist is an error."""
    cpus = usable_cpus()
    if threads > len(cpus):
        raise ValueError(f"--threads {threads}: only {len(cpus)} CPUs are usable here")
    return cpus[: threads or len(cpus)]


def pin(cpus: list[int]) -> None:
    """Run this process (and the threads it starts later) on `cpus` only, where supported."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def describe_machine(cpus: list[int]) -> dict[str, object]:
    """Everything the report says about the machine; `cpus` is the affinity the systems got."""
    info = read_cpuinfo()
    model = cpu_model(info)
    logical = len(info) or os.cpu_count() or 1
    return {
        "cpu_model": model,
        "logical_cores": logical,
        "os_cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "affinity": cpus,
        "threads": len(cpus),
        "flags": cpu_flags(info),
        "memory_total_mb": memory_total_mb(),
        "os": os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "gpu": gpu_name(),
        "slug": machine_slug(model, logical),
    }


def machine_slug(model: str, cores: int) -> str:
    """A short, filesystem-safe name: "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2 ->
    "xeon-8481c-2core"."""
    name = re.sub(r"\(r\)|\(tm\)|@.*$", " ", model.lower())
    name = re.sub(r"\b\d+-core\b", " ", name)  # "64-Core Processor": the socket, not ours
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w and w not in SLUG_NOISE]
    base = "-".join(words[:SLUG_WORDS]) or re.sub(r"[^a-z0-9]+", "", platform.machine().lower())
    return f"{base or 'cpu'}-{cores}core"
