"""The bench plots (matplotlib, Agg): encoder latency vs length, size on disk vs WER."""

from __future__ import annotations

from pathlib import Path

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
    """Encoder ms vs utterance length, one line per system (lengths beyond a limit left out)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in measured(results):
        points = [(e["seconds"], e["ms"]) for e in s["encoder"] if e["ms"] is not None]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=f"{s['name']} ({s['device']})")
    ax.set_xlabel("utterance length (s)")
    ax.set_ylabel("encoder latency (ms, median)")
    ax.set_title(
        f"Encoder latency, {results['machine']['slug']}, {results['machine']['threads']} threads"
    )
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_size_wer(results: dict, path: Path) -> Path:
    """Size on disk (MB) vs WER, one labelled point per system."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in measured(results):
        if s.get("size_bytes") is None:
            continue
        x, y = s["size_bytes"] / MB, s["offline"]["wer"]
        ax.scatter([x], [y], s=40)
        ax.annotate(s["name"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("size on disk (MB)")
    ax.set_ylabel("WER")
    ax.set_title(f"Size vs WER ({len(results['eval_set']['utterances'])} eval utterances)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def write_plots(results: dict, out: Path) -> list[Path]:
    return [plot_latency(results, out / LATENCY_PLOT), plot_size_wer(results, out / SIZE_PLOT)]
