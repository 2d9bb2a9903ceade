"""The bench plots (matplotlib, Agg): encoder latency vs length, size on disk vs WER."""

from __future__ import annotations

from pathlib import Path

from echo_edge.bench.measure import percentile
from echo_edge.bench.report import MB

LATENCY_PLOT = "latency_vs_length.png"
SIZE_PLOT = "size_vs_wer.png"
DPI = 120


def _pyplot():  # noqa: ANN202 - matplotlib.pyplot, imported only when plotting
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def measured(results: dict) -> list[dict]:
    return [s for s in results["systems"] if not s.get("failed")]


def plot_latency(results: dict, path: Path) -> Path:
    """Encoder ms vs utterance length, p50 (solid) and p95 (dashed) per system, log-log axes.

    Log axes keep the 1-2 s points (a few ms) readable next to 30 s (hundreds of ms).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for s in measured(results):
        rows = [e for e in s["encoder"] if e["ms"] is not None]
        if not rows:
            continue
        xs = [e["seconds"] for e in rows]
        p50 = [percentile(e.get("samples_ms") or [e["ms"]], 50) for e in rows]
        p95 = [percentile(e.get("samples_ms") or [e["ms"]], 95) for e in rows]
        (line,) = ax.plot(xs, p50, marker="o", label=f"{s['name']} ({s['device']})")
        ax.plot(xs, p95, linestyle="--", color=line.get_color(), alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    lengths = sorted({e["seconds"] for s in measured(results) for e in s["encoder"]})
    if lengths:
        ax.set_xticks(lengths)
        ax.set_xticklabels([f"{x:g}" for x in lengths])
    ax.set_xlabel("utterance length (s, log scale)")
    ax.set_ylabel("encoder latency (ms, log scale): p50 solid, p95 dashed")
    ax.set_title(
        f"Encoder latency, {results['machine']['slug']}, {results['machine']['threads']} threads"
    )
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def eval_words(results: dict) -> int:
    """Reference words in the eval set (from the first system that kept its transcripts)."""
    for s in measured(results):
        transcripts = s.get("offline", {}).get("transcripts")
        if transcripts:
            return sum(len(t["ref"].split()) for t in transcripts)
    return 0


def plot_size_wer(results: dict, path: Path) -> Path:
    """Size on disk (MB) vs WER in %, one marker per system named in the legend.

    The y axis starts at 0 and the label gives the word count, so a one-word difference
    looks like what it is; a legend instead of point labels, which overlap when systems tie.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    markers = "osD^v<>PX*"
    words = eval_words(results)
    top = 0.0
    for i, s in enumerate(m for m in measured(results) if m.get("size_bytes") is not None):
        x, y = s["size_bytes"] / MB, 100 * s["offline"]["wer"]
        errors = f", {round(y * words / 100)} errors" if words else ""
        label = f"{s['name']}: {y:.1f} %{errors}"
        ax.scatter([x], [y], s=60, marker=markers[i % len(markers)], label=label, alpha=0.8)
        top = max(top, y)
    ax.set_ylim(0, max(10.0, top * 1.3))
    ax.set_xlim(left=0)
    ax.set_xlabel("size on disk (MB)")
    step = f"; one word = {100 / words:.1f} points" if words else ""
    ax.set_ylabel(f"WER % on {words} words{step}")
    n = len(results["eval_set"]["utterances"])
    ax.set_title(f"Size vs WER ({n} eval utterances, {words} words)")
    ax.grid(True, alpha=0.3)
    if ax.collections:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def write_plots(results: dict, out: Path) -> list[Path]:
    return [plot_latency(results, out / LATENCY_PLOT), plot_size_wer(results, out / SIZE_PLOT)]
