"""`echo-edge bench`: the pure helpers, and one small run on a tiny bundle and its checkpoint.

The run measures the tiny random reference and its ONNX fp32 bundle (tests/test_runtime.py
builds and caches both) on 2 synthesised utterances with one repeat: the numbers mean
nothing, the test checks that every metric is there, finite and consistent with the files.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from echo_edge.bench.machine import cpu_flags, cpu_model, machine_slug, read_cpuinfo
from echo_edge.bench.measure import median, percentile
from echo_edge.bench.report import evaluate_targets, markdown_table, wer_cell
from tests.test_runtime import ROOT, tiny_bundle_root

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---- pure functions -----------------------------------------------------------------------
def test_percentiles_interpolate_and_handle_edges() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([0.0, 100.0], 95) == pytest.approx(95.0)
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert math.isnan(percentile([], 50))


def test_machine_slug_is_short_and_filesystem_safe() -> None:
    assert machine_slug("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2) == "xeon-8481c-2core"
    assert machine_slug("AMD EPYC 7B13 64-Core Processor", 4) == "epyc-7b13-4core"
    assert machine_slug("Intel(R) Core(TM) i7-10700K CPU @ 3.80GHz", 16) == "i7-10700k-16core"
    assert machine_slug("NVIDIA Jetson Orin Nano Developer Kit", 6) == "jetson-orin-nano-6core"
    for name in ("", "???", "AMD EPYC"):
        slug = machine_slug(name, 2)
        assert slug.endswith("-2core") and all(c.isalnum() or c == "-" for c in slug), slug


def test_cpuinfo_model_and_flags(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx avx2 fma "
        "avx512f avx512_vnni amx_tile f16c\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
    )
    info = read_cpuinfo(x86)
    assert len(info) == 2 and cpu_model(info) == "AMD EPYC 7B13"
    assert cpu_flags(info) == ["amx_tile", "avx", "avx2", "avx512_vnni", "avx512f", "f16c", "fma"]
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimdhp cpuid\n")
    assert cpu_flags(read_cpuinfo(arm)) == ["asimd", "asimdhp"]
    assert read_cpuinfo(tmp_path / "missing") == []


def hand_made_results() -> dict:
    def system(name: str, kind: str, rtf: float, **extra: object) -> dict:
        lat = {"p50_ms": 10.0, "p95_ms": 20.0, "runs": 2, "without_final_at_end": 0}
        return {
            "name": name,
            "kind": kind,
            "device": "cpu",
            "backend": "onnx" if kind == "bundle" else "pytorch",
            "precision": extra.pop("precision", "fp32"),
            "size_bytes": 2_500_000,
            "load_s": 0.5,
            "peak_rss_mb": 120.0,
            "frontend": {"ms_per_s": 3.25},
            "encoder": [
                {"seconds": 1.0, "ms": 4.0, "reason": None},
                {"seconds": 60.0, "ms": None, "reason": "longer than the bundle's 30 s limit"},
            ],
            "decoder": extra.pop("decoder", {"ms_per_token": 0.75}),
            "final_latency": lat,
            "final_latency_5s": {**lat, "p95_ms": 40.0},
            "offline": {"rtf": rtf, "wer": 0.125},
            **extra,
        }

    return {
        "settings": {"lengths": [1.0, 60.0]},
        "systems": [
            system("ref", "reference", 0.3, speedup=1.0),
            system("int8", "bundle", 0.01, speedup=30.0, precision="int8"),
            system("best", "bundle", 0.02, decoder={"ms_per_token": 0.9, "ms_per_token_best": 0.7}),
            {"name": "broken", "kind": "bundle", "device": "cpu", "failed": True, "error": "boom"},
        ],
    }


def test_markdown_table_has_a_row_per_system() -> None:
    table = markdown_table(hand_made_results())
    lines = table.splitlines()
    assert len(lines) == 2 + 4
    assert lines[0].startswith("| system |") and "enc 1 s ms" in lines[0]
    assert "enc 60 s ms" in lines[0] and "cold start" not in lines[0]
    ref, int8, best, broken = lines[2:]
    assert ref.startswith("| ref | pytorch fp32 | cpu | 2.50 | 0.50 | 120 | 3.25 | 4.0 | - |")
    assert "| 0.75 | 10.0 / 20.0 | 10.0 / 40.0 | 0.01 | 30.00x | 12.5 % |" in int8
    assert "| 0.90 (0.70) | 10.0 / 20.0 |" in best  # median, then best-of in brackets
    assert "FAILED" in broken
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_wer_cell_gives_word_errors_and_reference_words() -> None:
    s = {"offline": {"wer": 0.25, "transcripts": [{"ref": "a b c"}, {"ref": "d e f g h"}]}}
    assert wer_cell(s) == "25.0 % (2/8)"
    assert wer_cell({"offline": {"wer": 0.5}}) == "50.0 %"
    assert wer_cell({"offline": {"wer": None}}) == "-"


def test_targets_compare_the_best_bundle_without_adjusting() -> None:
    targets = {t["key"]: t for t in evaluate_targets(hand_made_results())}
    assert targets["final_5s_p95_ms"]["measured"] == 40.0 and targets["final_5s_p95_ms"]["met"]
    assert targets["rtf"]["measured"] == 0.01 and targets["rtf"]["met"]
    assert targets["speedup"]["measured"] == 30.0 and targets["speedup"]["system"] == "int8"
    assert targets["cold_start_s"]["met"] is None  # not measured, never guessed


# ---- one run on the tiny bundle ------------------------------------------------------------
def bench(*args: str) -> int:
    from echo_edge.bench.run import main

    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.speech import require_espeak

    require_espeak()
    root = tiny_bundle_root()
    out = tmp_path_factory.mktemp("bench")
    # Two repeats, so each utterance's fastest (ms_per_token_best) differs from its median.
    common = ["--lengths", "1", "2", "--repeats", "2", "--warmup", "0", "--limit", "2"]
    status = bench(
        root / "bundle", "--reference", root / "checkpoint", *common, "--out", out, "--cold-start"
    )
    results = json.loads((out / "results.json").read_text())
    return {"status": status, "out": out, "root": root, "results": results}


def test_bench_measures_reference_and_bundle(run: dict) -> None:
    assert run["status"] == 0
    systems = {s["name"]: s for s in run["results"]["systems"]}
    assert {"pytorch-eager-cpu", "bundle"} <= set(systems)
    root = run["root"]
    ref, bundle = systems["pytorch-eager-cpu"], systems["bundle"]
    assert ref["size_bytes"] == (root / "checkpoint" / "model.safetensors").stat().st_size
    on_disk = sum(p.stat().st_size for p in (root / "bundle").iterdir() if p.is_file())
    assert bundle["size_bytes"] == on_disk
    assert bundle["torch_imported"] is False  # an ONNX bundle is measured torch-free
    assert bundle["threads"] == run["results"]["machine"]["threads"] >= 1
    for s in (ref, bundle):
        assert not s.get("failed"), s.get("error")
        assert s["load_s"] > 0 and s["rss_after_load_mb"] > 0
        assert s["peak_rss_mb"] >= s["rss_after_load_mb"] * 0.99
        assert s["frontend"]["ms_per_s"] > 0
        encoder = {e["seconds"]: e["ms"] for e in s["encoder"]}
        assert set(encoder) == {1.0, 2.0} and encoder[2.0] > 0
        dec = s["decoder"]
        assert dec["ms_per_token"] > 0 and all(n >= 1 for n in dec["steps"])
        # Each utterance's fastest repeat: never above its own samples' median.
        repeats = len(dec["samples_ms_per_token"]) // len(dec["steps"])
        assert repeats == 2
        fastest = [
            min(dec["samples_ms_per_token"][i : i + repeats])
            for i in range(0, len(dec["samples_ms_per_token"]), repeats)
        ]
        assert dec["ms_per_token_best"] == pytest.approx(statistics.median(fastest))
        assert 0 < dec["ms_per_token_best"] <= dec["ms_per_token"]
        for key in ("final_latency", "final_latency_5s"):
            lat = s[key]
            assert lat["p50_ms"] > 0 and lat["p95_ms"] >= lat["p50_ms"], (s["name"], key, lat)
        assert s["offline"]["rtf"] > 0 and math.isfinite(s["offline"]["wer"])
        assert len(s["offline"]["transcripts"]) == 2
        assert s["speedup"] > 0
    assert ref["speedup"] == pytest.approx(1.0)
    assert bundle["endpoint_wait_s"] > 0
    cold = bundle["cold_start"]
    assert cold["median_s"] > 0 and len(cold["samples_s"]) == 3 and "transcribe" in cold["command"]
    assert "cold_start" not in ref  # a bundle measure: `echo-edge transcribe --bundle`


def test_bench_writes_report_and_plots(run: dict) -> None:
    out, results = run["out"], run["results"]
    machine = results["machine"]
    assert isinstance(machine["cpu_model"], str) and machine["cpu_model"]
    assert machine["logical_cores"] >= 1 and machine["affinity"]
    md = (out / "results.md").read_text()
    assert results["command"].startswith("echo-edge bench ") and results["command"] in md
    assert machine["cpu_model"] in md and f"{machine['logical_cores']} logical cores" in md
    assert "\n| pytorch-eager-cpu | pytorch fp32 |" in md and "\n| bundle | onnx fp32 |" in md
    assert "## Targets" in md and ("MET" in md or "MISSED" in md)
    for name in ("latency_vs_length.png", "size_vs_wer.png"):
        data = (out / name).read_bytes()
        assert len(data) > len(PNG_MAGIC) and data.startswith(PNG_MAGIC), name


def test_crashing_system_is_reported_and_the_others_still_run(tmp_path: Path, capsys) -> None:
    from echo_edge.runtime.bundle import read_bundle, save_manifest, sha256_file
    from tests.speech import require_espeak

    require_espeak()
    good = tiny_bundle_root() / "bundle"
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / "encoder.onnx").write_bytes(b"not an onnx graph")  # checksums made to agree:
    manifest = read_bundle(broken, check_files=False)  # the parent's check passes,
    manifest.files["encoder.onnx"]["sha256"] = sha256_file(broken / "encoder.onnx")
    manifest.files["encoder.onnx"]["bytes"] = (broken / "encoder.onnx").stat().st_size
    save_manifest(manifest)  # the worker's session load fails
    common = ["--lengths", "1", "--repeats", "1", "--warmup", "0", "--limit", "1"]
    status = bench(broken, good, "--no-reference", *common, "--out", tmp_path / "out")
    assert status == 1
    systems = {
        s["name"]: s for s in json.loads((tmp_path / "out" / "results.json").read_text())["systems"]
    }
    assert systems["broken"]["failed"] and "encoder.onnx" in systems["broken"]["error"]
    assert not systems["bundle"].get("failed") and systems["bundle"]["offline"]["rtf"] > 0
    assert "| broken | FAILED |" in (tmp_path / "out" / "results.md").read_text()
    assert "echo-edge: error: broken:" in capsys.readouterr().err


def test_missing_bundle_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "bench/run.py", str(tmp_path / "nope"), "--no-reference"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("echo-edge: error:") and "nope" in lines[0]
