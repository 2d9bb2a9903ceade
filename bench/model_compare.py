"""Is a candidate model better than the shipped one on every held-out split?

Each system is a checkpoint directory (scored with the torch reference, `echo-edge eval`'s
search) or an exported bundle (scored one pass with the torch-free runtime, as
`Recognizer.recognize` runs it). Every system transcribes the same rows of every split; the
report gives each system's WER per split and the paired-bootstrap ΔWER of each system over the
first (the baseline), with its 95 % interval, and says whether the candidates beat the baseline
on every split (point estimate lower).

    python bench/model_compare.py \\
        --system shipped=echo_edge/assets candidate=runs/stage5/final \\
        --split synth-test=data/synth10/test.jsonl festival=data/festival/test.jsonl \\
        --limit 300 --out bench/results/model-compare
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from echo_edge.bootstrap import delta_wer, word_errors


def named(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def is_bundle(path: Path) -> bool:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return "format_version" in json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False


def transcriber(path: str):  # -> callable(np.ndarray) -> str
    """A function from 16 kHz float32 audio to text, for a checkpoint or a bundle."""
    p = Path(path)
    if is_bundle(p):
        from echo_edge.runtime import Recognizer

        recognizer = Recognizer.from_bundle(p)
        return lambda audio: recognizer.recognize(audio).text
    import torch

    from echo_edge.checkpoint import load_checkpoint
    from echo_edge.decoding import strip_special

    model, _ = load_checkpoint(path)
    model.eval()
    tok = model.tokenizer

    def run(audio):  # noqa: ANN001, ANN202
        with torch.no_grad():
            ids = model.generate(torch.from_numpy(audio)[None])[0].tolist()
        return tok.decode(strip_special(ids))

    return run


def compare(systems: list[tuple[str, str]], splits: list[tuple[str, str]], limit: int) -> dict:
    from echo_edge.audio import load_audio
    from echo_edge.data import read_manifest

    rows = {
        name: read_manifest(path, skipped=[], check_audio=True)[:limit] for name, path in splits
    }
    audio = {name: [load_audio(r["audio"]) for r in rs] for name, rs in rows.items()}
    report: dict = {"systems": dict(systems), "splits": {}, "limit": limit}
    hyps: dict[str, dict[str, list[str]]] = {}
    for sys_name, path in systems:
        run = transcriber(path)
        hyps[sys_name] = {}
        for split, _ in splits:
            start = time.perf_counter()
            out = [run(a) for a in tqdm(audio[split], desc=f"{sys_name} {split}", unit="utt")]
            hyps[sys_name][split] = out
            seconds = sum(len(a) for a in audio[split]) / 16000
            report.setdefault("rtf", {}).setdefault(sys_name, {})[split] = round(
                (time.perf_counter() - start) / seconds, 4
            )
    base = systems[0][0]
    for split, _ in splits:
        truth = [r["text"] for r in rows[split]]
        errors = {s: word_errors(truth, hyps[s][split]) for s, _ in systems}
        entry: dict = {"utterances": len(truth), "words": int(errors[base].words.sum())}
        for s, _ in systems:
            e = errors[s]
            entry[s] = {"wer": round(100.0 * e.edits.sum() / max(1, e.words.sum()), 2)}
            if s != base:
                entry[s]["delta_vs_" + base] = delta_wer(errors[base], e)
        report["splits"][split] = entry
    report["hypotheses"] = hyps
    report["beats_baseline_everywhere"] = {
        s: all(report["splits"][sp][s]["delta_vs_" + base]["points"] < 0 for sp, _ in splits)
        for s, _ in systems[1:]
    }
    return report


def markdown(report: dict) -> str:
    systems = list(report["systems"])
    base = systems[0]
    head = "| split | utts | words | " + " | ".join(f"{s} WER %" for s in systems)
    head += "".join(f" | {s} − {base} [95 % CI]" for s in systems[1:]) + " |"
    lines = [head, "|" + "---|" * (3 + len(systems) + len(systems) - 1)]
    for split, e in report["splits"].items():
        cells = [split, str(e["utterances"]), str(e["words"])]
        cells += [f"{e[s]['wer']:.1f}" for s in systems]
        for s in systems[1:]:
            d = e[s]["delta_vs_" + base]
            cells.append(f"{d['points']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    verdict = ", ".join(
        f"{s}: {'yes' if ok else 'no'}" for s, ok in report["beats_baseline_everywhere"].items()
    )
    lines += ["", f"Beats {base} on every split (point estimate): {verdict}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", type=named, nargs="+", required=True, help="NAME=checkpoint|bundle")
    p.add_argument("--split", type=named, nargs="+", required=True, help="NAME=manifest.jsonl")
    p.add_argument("--limit", type=int, default=300, help="first N rows of each split")
    p.add_argument("--out", type=Path, help="write compare.json and compare.md here")
    args = p.parse_args(argv)
    if len(args.system) < 2:
        p.error("--system needs a baseline and at least one candidate")
    if args.limit < 1:
        p.error(f"--limit must be at least 1, got {args.limit}")
    try:
        report = compare(args.system, args.split, args.limit)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"model_compare: error: {e}", file=sys.stderr)
        return 1
    text = markdown(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(report, indent=1) + "\n")
        (args.out / "compare.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
