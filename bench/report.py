"""The bench report: one markdown table row per system, the targets, results.md.

Pure functions over the results dict that bench/run.py writes to results.json, so a table can
be rebuilt (or unit-tested) from a results file alone. Numbers are reported as measured;
targets are compared, never adjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MB = 1e6  # sizes in the table are decimal megabytes (bytes / 1e6)


@dataclass(frozen=True)
class Target:
    """A goal from the issue: `measure` of the best qualifying system against `limit`."""

    key: str
    text: str
    op: str  # "<=" or ">="
    limit: float
    unit: str


TARGETS = (
    Target("final_5s_p95_ms", "end of speech -> final text, 5 s utterance, p95, best int8 bundle", "<=", 50.0, "ms"),
    Target("rtf", "offline real-time factor, best bundle", "<=", 0.02, ""),
    Target("speedup", "best bundle vs PyTorch eager on the CPU, end to end (RTF ratio)", ">=", 3.0, "x"),
    Target("cold_start_s", "cold start to first result (python start included), best bundle", "<=", 1.5, "s"),
)  # fmt: skip

MEASURED = """\
- **size**: bytes on disk (bundle: every file in its directory; reference: model.safetensors).
- **load**: Recognizer.from_bundle (checksums, sessions, tokenizer) / load_checkpoint + tokenizer.
- **threads**: the reference runs torch with N threads; a bundle gets N intra-op threads for
  its frontend and encoder (ONNX Runtime runs decoder steps on 1 thread by design, see
  runtime/backend.py DECODER_THREADS).
- **peak RSS**: ru_maxrss of the system's own process at the end (RSS after load is in
  results.json); every system runs in a fresh subprocess pinned to the CPUs above.
- **frontend**: ms of frontend per second of eval audio (bundle: Recognizer.features, the
  streaming frontend; reference: Echo.features).
- **enc N s**: one encoder call on N s of eval speech, features precomputed (median of the
  repeats); "-" where the length is beyond the bundle's limit or the call failed (see notes).
- **dec ms/tok**: time in decoder steps / steps of the greedy loop, median over utterances and
  repeats; in brackets the median over utterances of each one's fastest repeat, which a busy
  neighbour on a shared CPU disturbs least.
- **final p50/p95**: end of speech -> final text through the streaming runtime: each eval
  utterance goes into a Stream (live options: endpointing and partial results on) in 100 ms
  blocks without sleeping; the time from `input_finished()` (end of speech signalled) to the
  final result it returns, or, when the endpointer ends the last utterance at a pause in the
  audio, the duration of the `accept_waveform()` call that returned that final. The pause the
  endpointer waits for comes on top: the short pause once an utterance is long, else the
  trailing silence, both stated above.
  Reference: features + encoder + greedy decoding of the whole utterance. **final 5 s**: the
  same on 5 s of eval speech.
- **RTF**: offline transcription, processing time / audio time over the eval set (bundle:
  Recognizer.transcribe_samples with the file options; reference: Echo.generate incl. features).
- **speedup**: reference (CPU) RTF / system RTF. **WER**: offline transcripts vs references.
- **cold start**: `echo-edge transcribe --bundle B --threads N FILE` on one eval utterance
  (16-bit wav) as a fresh, pinned process, from spawn to its first line of output (python
  start, imports, bundle checks and loading included); median of 3.
"""


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing or non-finite values as "-"."""
    if value is None or isinstance(value, bool):
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def sig(value: Any) -> str:
    """Small ratios (RTF) with 3 significant digits."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3g}"


def describe_kind(s: dict) -> str:
    scheme = f" {s['quantization']}" if s.get("quantization") else ""
    return f"{s.get('backend', '?')} {s.get('precision', '?')}{scheme}"


def pair(d: dict | None) -> str:
    if not d or d.get("p50_ms") is None:
        return "-"
    return f"{d['p50_ms']:.1f} / {d['p95_ms']:.1f}"


def markdown_table(results: dict) -> str:
    """One row per system: size, load, RSS, frontend, encoder sweep, decoder, latency, RTF, WER."""
    systems = results["systems"]
    lengths = results["settings"]["lengths"]
    cold = any("cold_start" in s for s in systems)
    head = ["system", "kind", "device", "size MB", "load s", "peak RSS MB", "frontend ms/s"]
    head += [f"enc {x:g} s ms" for x in lengths]
    head += ["dec ms/tok", "final p50/p95 ms", "final 5 s p50/p95 ms", "RTF", "speedup", "WER"]
    head += ["cold start s"] if cold else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in systems:
        if s.get("failed"):
            row = [s["name"], "FAILED", s.get("device", "-")] + ["-"] * (len(head) - 3)
            lines.append("| " + " | ".join(row) + " |")
            continue
        size = s["size_bytes"] / MB if s.get("size_bytes") is not None else None
        encoder = {e["seconds"]: e["ms"] for e in s["encoder"]}
        row = [s["name"], describe_kind(s), s["device"], fmt(size, 2), fmt(s["load_s"], 2)]
        row += [fmt(s["peak_rss_mb"], 0), fmt(s["frontend"]["ms_per_s"], 2)]
        row += [fmt(encoder.get(x), 1) for x in lengths]
        row += [decoder_cell(s["decoder"]), pair(s["final_latency"])]
        row += [pair(s["final_latency_5s"]), sig(s["offline"]["rtf"])]
        row += [fmt(s.get("speedup"), 2) + ("x" if s.get("speedup") else ""), wer_cell(s)]
        if cold:
            row.append(fmt((s.get("cold_start") or {}).get("median_s"), 2))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def decoder_cell(decoder: dict) -> str:
    """ms per token, median (best): "0.78 (0.70)"; older results have the median only."""
    best = decoder.get("ms_per_token_best")
    cell = fmt(decoder["ms_per_token"], 2)
    return cell + (f" ({fmt(best, 2)})" if best is not None else "")


def wer_cell(s: dict) -> str:
    """WER in % with its word errors and reference words: "27.3 % (18/66)"."""
    wer = s["offline"].get("wer")
    transcripts = s["offline"].get("transcripts") or []
    words = sum(len(t["ref"].split()) for t in transcripts)
    if wer is None:
        return "-"
    return f"{100 * wer:.1f} % ({round(wer * words)}/{words})" if words else f"{100 * wer:.1f} %"


LEGEND = (
    "Columns: size on disk; load time; peak resident memory; frontend ms per second of audio; "
    "encoder ms for one call on N s of speech (median); decoder ms per token; end of speech -> "
    "final text, p50/p95 (all eval utterances, and 5 s of speech); offline real-time factor; "
    "speedup over the PyTorch reference; WER with word errors / reference words; cold start "
    "of `echo-edge transcribe` to its first line. Definitions in full under "
    '"What is measured".'
)


def notes(results: dict) -> list[str]:
    """Failures, skipped encoder lengths and streams whose final came before the end."""
    out = []
    for s in results["systems"]:
        if s.get("failed"):
            out.append(f"{s['name']}: FAILED: {s.get('error', 'unknown error')}")
            continue
        for e in s["encoder"]:
            if e["ms"] is None:
                out.append(f"{s['name']}: encoder {e['seconds']:g} s not measured: {e['reason']}")
        for key in ("final_latency", "final_latency_5s"):
            lat = s[key]
            if lat.get("without_final_at_end"):
                out.append(
                    f"{s['name']}: {key}: {lat['without_final_at_end']} of {lat['runs']} streams "
                    f"had no final at input_finished() (the endpointer emitted "
                    f"{lat['finals_before_end']} finals before the end); excluded from p50/p95"
                )
        cold = s.get("cold_start") or {}
        if cold.get("error"):
            out.append(f"{s['name']}: cold start failed: {cold['error']}")
    return out


def _value(s: dict, key: str) -> float | None:
    if key == "final_5s_p95_ms":
        return s["final_latency_5s"].get("p95_ms")
    if key == "rtf":
        return s["offline"]["rtf"]
    if key == "cold_start_s":
        return (s.get("cold_start") or {}).get("median_s")
    return s.get(key)


def evaluate_targets(results: dict) -> list[dict]:
    """Each target against the best bundle that qualifies: measured, met (None: not measured)."""
    bundles = [s for s in results["systems"] if s["kind"] == "bundle" and not s.get("failed")]
    out = []
    for t in TARGETS:
        pool = [s for s in bundles if t.key != "final_5s_p95_ms" or s.get("precision") == "int8"]
        scored = [(v, s["name"]) for s in pool if (v := _value(s, t.key)) is not None]
        entry = {"key": t.key, "target": t.text, "op": t.op, "limit": t.limit, "unit": t.unit}
        if not scored:
            why = {
                "final_5s_p95_ms": "no int8 bundle measured",
                "speedup": "needs the reference and a bundle",
                "cold_start_s": "pass --cold-start",
            }.get(t.key, "no bundle measured")
            out.append({**entry, "measured": None, "system": None, "met": None, "why": why})
            continue
        value, name = min(scored) if t.op == "<=" else max(scored)
        met = value <= t.limit if t.op == "<=" else value >= t.limit
        out.append({**entry, "measured": value, "system": name, "met": met})
    return out


def target_lines(targets: list[dict]) -> list[str]:
    lines = []
    for t in targets:
        goal = f"target {t['op']} {t['limit']:g}{t['unit'] and ' ' + t['unit']}"
        if t["met"] is None:
            lines.append(f"- {t['target']}: not measured ({t['why']}) vs {goal}")
            continue
        value = f"{t['measured']:.3g}{t['unit'] and ' ' + t['unit']}"
        verdict = "MET" if t["met"] else "MISSED"
        lines.append(f"- {t['target']}: {value} ({t['system']}) vs {goal}: {verdict}")
    return lines


def machine_lines(m: dict) -> list[str]:
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    return [
        f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores "
        f"(os.cpu_count {m['os_cpu_count']}, usable {m['usable_cpus']})",
        f"- threads: {m['threads']}, pinned to CPUs {m['affinity']}",
        f"- flags: {' '.join(m['flags']) or 'none found'}",
        f"- memory: {fmt(m['memory_total_mb'], 0)} MB",
        f"- OS: {m['os']}, kernel {m['kernel']}, {m['arch']}",
        f"- Python {m['python']}; {libs}",
        f"- GPU: {m['gpu'] or 'none'}",
    ]


def results_markdown(results: dict) -> str:
    """The whole results.md: command, machine, eval set, table, notes, targets, definitions."""
    ev = results["eval_set"]
    st = results["settings"]
    parts = [
        f"# echo-edge bench: {results['machine']['slug']}",
        "",
        f"`{results['command']}`  ({results['created']})",
        "",
        "## Machine",
        *machine_lines(results["machine"]),
        "",
        "## Audio",
        f"{len(ev['utterances'])} utterances, {ev['seconds']:.1f} s: {ev['source']}. "
        f"Repeats {st['repeats']}, warm-up {st['warmup']}. Trailing silence wait of the "
        f"endpointer (StreamOptions.trailing_silence_seconds): {st['endpoint_wait_s']:g} s"
        + (
            f"; past {st['long_utterance_s']:g} s of speech a {st['short_pause_s']:g} s pause "
            "(short_pause_seconds) ends an utterance."
            if "short_pause_s" in st
            else "."
        ),
        "",
        "## Results",
        markdown_table(results),
        "",
        LEGEND,
        "",
    ]
    extra = notes(results)
    if extra:
        parts += ["Notes:", *[f"- {n}" for n in extra], ""]
    parts += ["## Targets", *target_lines(results["targets"]), "", "## What is measured", MEASURED]
    return "\n".join(parts)
