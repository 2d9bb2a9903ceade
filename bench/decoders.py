"""Attention greedy, CTC greedy, joint CTC/attention greedy and the word-LM beam search side by
side on one bundle.

Each utterance is encoded once (frontend + encoder, not timed); then every decoder runs on
the same encoder output and its decoding time alone is measured, per utterance and per
decoder call (one call per token, eos included). WER and CER on the festival cross-engine
manifest (by voice) and on verify's default set (by engine and condition).

    python bench/decoders.py --out bench/results/decoders
    python bench/decoders.py --sets verify --weights 0.4 --json   # the runtime's default λ
    python bench/decoders.py --sets dev --weights 0.4 --lm-weights 0.2 0.3 0.4 --baseline joint-0.4

`--lm-weights` adds the runtime's beam search with the word language model (runtime/lm_search.py,
at the runtime's CTC weight and `--beam`) for each LM weight: "lm-α". `dev` is the tuning split
(verify's recipe at seed 16 000 001, 150 utterances), never the verify or festival sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from echo_edge import constants as C

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "echo_edge" / "assets" / "onnx-int8"
DEFAULT_FESTIVAL = ROOT / "data" / "festival" / "test.jsonl"
BASELINE = "attention"  # ΔWER is measured against it unless --baseline names another


def decoders(
    weights: list[float], top_k: int, lm_weights: tuple[float, ...] = (), beam: int = 4,
    vocab: list[str] | None = None,
) -> dict:  # fmt: skip
    """name -> fn(backend, cross, cap) -> (token ids, decoder calls)."""
    from echo_edge.runtime.ctc import ctc_greedy, joint_greedy_decode
    from echo_edge.runtime.decoding import CTC_WEIGHT, greedy_decode
    from echo_edge.runtime.lm import default_lm
    from echo_edge.runtime.lm_search import LMSearchOptions, lm_beam_decode

    out = {
        "attention": lambda b, x, cap: greedy_decode(b, x, cap),
        "ctc": lambda b, x, cap: (ctc_greedy(x.ctc), 0),
    }
    for w in weights:
        out[f"joint-{w:g}"] = lambda b, x, cap, w=w: joint_greedy_decode(b, x, cap, w, top_k)
    for a in lm_weights:
        o = LMSearchOptions(beam=beam, top_k=top_k, ctc_weight=CTC_WEIGHT, lm_weight=a)
        out[f"lm-{a:g}"] = lambda b, x, cap, o=o: lm_beam_decode(b, x, cap, default_lm(), vocab, o)
    return out


def festival_utterances(path: Path, limit: int | None, name: str = "festival") -> list[dict]:
    from echo_edge.audio import load_audio
    from echo_edge.text import normalize_text

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        {"set": name, "id": Path(r["audio"]).stem, "group": r.get("voice", "?"),
         "audio": load_audio(path.parent / r["audio"]), "ref": normalize_text(r["text"])}
        for r in rows[:limit]
    ]  # fmt: skip


def verify_utterances(limit: int | None) -> list[dict]:
    from echo_edge.evalset import verify_set

    return [
        {"set": "verify", "id": u.id, "audio": u.audio, "ref": u.text,
         "group": f"{u.engine} {'clean' if u.condition in ('', 'clean') else 'noisy'}"}
        for u in verify_set(limit)
    ]  # fmt: skip


def dev_utterances(limit: int | None) -> list[dict]:
    from echo_edge.evalset import RECIPE, verify_set

    return [
        {"set": "dev", "id": u.id, "audio": u.audio, "ref": u.text,
         "group": f"{u.engine} {'clean' if u.condition in ('', 'clean') else 'noisy'}"}
        for u in verify_set(rec={**RECIPE, "seed": 16_000_001, "count": 150})[:limit]
    ]  # fmt: skip


def run(
    utterances: list[dict], bundle: Path, weights: list[float], top_k: int,
    lm_weights: tuple[float, ...] = (), beam: int = 4,
) -> list[dict]:  # fmt: skip
    """Every decoder's hypothesis and decoding milliseconds for each utterance."""
    from echo_edge.runtime import Recognizer
    from echo_edge.runtime.decoding import DecodingOptions, token_cap

    recognizer = Recognizer.from_bundle(bundle, threads=1)
    if not recognizer.backend.has_ctc:
        raise SystemExit(f"bundle {bundle} has no CTC log-probs: cannot compare CTC decoding")
    fns = decoders(weights, top_k, lm_weights, beam, recognizer.tokenizer.tokens)
    rows = []
    for u in tqdm(utterances, desc="decoders", unit="utt"):
        seconds = len(u["audio"]) / C.SAMPLE_RATE
        f = recognizer.conditioned_features(u["audio"])
        cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
        cap = token_cap(seconds, DecodingOptions(), recognizer.config)
        row = {k: u[k] for k in ("set", "id", "group", "ref")} | {"seconds": seconds, "hyp": {}}
        row["ms"], row["calls"] = {}, {}
        for name, fn in fns.items():
            t0 = time.perf_counter()
            ids, calls = fn(recognizer.backend, cross, cap)
            row["ms"][name] = 1000 * (time.perf_counter() - t0)
            row["calls"][name] = calls
            row["hyp"][name] = recognizer.tokenizer.decode(ids)
        rows.append(row)
    recognizer.close()
    return rows


def summarise(rows: list[dict], baseline: str = BASELINE) -> dict:
    """set -> group ("all" too) -> decoder -> WER %, CER %, ms per utterance."""
    from echo_edge.bootstrap import delta_wer, word_errors
    from echo_edge.metrics import char_error_rate, word_error_rate

    out: dict = {}
    names = list(rows[0]["hyp"])
    for name_set in sorted({r["set"] for r in rows}):
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["set"] == name_set:
                groups[r["group"]].append(r)
                groups["all"].append(r)
        table = {}
        for group, items in sorted(groups.items()):
            refs = [r["ref"] for r in items]
            table[group] = {"utterances": len(items), "words": sum(len(x.split()) for x in refs)}
            base = word_errors(refs, [r["hyp"][baseline] for r in items])
            for name in names:
                hyps = [r["hyp"][name] for r in items]
                table[group][name] = {
                    "wer": round(100 * word_error_rate(refs, hyps), 1),
                    "cer": round(100 * char_error_rate(refs, hyps), 1),
                    "ms": round(sum(r["ms"][name] for r in items) / len(items), 2),
                    # Decoding ms per decoder call (a token or the final eos); None for CTC
                    # greedy, which makes no decoder call.
                    "ms_per_token": ms_per_call(items, name),
                    # Hypothesis words per reference word: > 1 where a decoder babbles.
                    # Paired bootstrap ΔWER points against the baseline, 95 % interval.
                    "delta": delta_wer(base, word_errors(refs, hyps)),
                    "length": round(
                        sum(len(h.split()) for h in hyps) / max(1, len(" ".join(refs).split())), 2
                    ),
                }
        out[name_set] = table
    return out


def ms_per_call(items: list[dict], name: str) -> float | None:
    """Total decoding ms over total decoder calls of `name` on `items` (None: no calls)."""
    calls = sum(r.get("calls", {}).get(name, 0) for r in items)
    return round(sum(r["ms"][name] for r in items) / calls, 3) if calls else None


def markdown(summary: dict, command: str, machine: str, baseline: str = BASELINE) -> str:
    names = [k for k in next(iter(next(iter(summary.values())).values())) if "-" in k or k in
             ("attention", "ctc")]  # fmt: skip
    head = " | ".join(f"{n} WER / CER / len / ms" for n in names)
    lines = [
        "# Decoders side by side: attention greedy, CTC greedy, joint CTC/attention greedy",
        "",
        f"`{command}`",
        "",
        f"Machine: {machine}.",
        "",
        "WER and CER in %; len = hypothesis words per reference word (> 1: babble); ms =",
        "decoding only, per utterance (frontend and encoder run once per utterance, shared, not",
        "timed), 1 thread. joint-λ: the attention top-5 and eos scored by (1 - λ) attention",
        "log-prob + λ CTC prefix-score gain (runtime/ctc.py); lm-α: beam search over the joint",
        "scores (the runtime's λ) plus α x the word LM (runtime/lm_search.py, runtime/lm.py).",
    ]
    for name_set, table in summary.items():
        lines += ["", f"## {name_set}", "", f"| group | utts | words | {head} |"]
        lines.append("|---|---|---|" + "---|" * len(names))
        for group, row in table.items():
            cells = " | ".join(
                f"{row[n]['wer']} / {row[n]['cer']} / {row[n]['length']} / {row[n]['ms']:.1f}"
                for n in names
            )
            lines.append(f"| {group} | {row['utterances']} | {row['words']} | {cells} |")
        others = [n for n in names if n != baseline]
        lines += ["", f"ΔWER points against {baseline}, paired bootstrap 95 % interval:", ""]
        lines += ["| group | " + " | ".join(others) + " |", "|---|" + "---|" * len(others)]
        for group, row in table.items():
            cells = " | ".join(
                f"{row[n]['delta']['points']:+.1f} [{row[n]['delta']['ci95'][0]:+.1f}, "
                f"{row[n]['delta']['ci95'][1]:+.1f}]"
                for n in others
            )
            lines.append(f"| {group} | {cells} |")
    return "\n".join(lines) + "\n"


def machine_note() -> str:
    from echo_edge.bench.machine import describe_machine, usable_cpus

    m = describe_machine(usable_cpus())
    ort = m["libraries"].get("onnxruntime")
    return (
        f"{m['cpu_model'] or 'unknown CPU'}, {m['logical_cores']} logical CPUs (shared with "
        f"other jobs), {m['os']}, Python {m['python']}, onnxruntime {ort}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle directory")
    parser.add_argument("--festival", type=Path, default=DEFAULT_FESTIVAL, help="JSONL manifest")
    parser.add_argument(
        "--name", default="festival", help="the --festival manifest's name in the tables"
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=("festival", "verify", "dev"),
        default=["festival", "verify"],
        help="the eval sets to decode",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N of each set only")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5], help="CTC λ")
    parser.add_argument("--top-k", type=int, default=5, help="attention candidates per step")
    parser.add_argument("--lm-weights", type=float, nargs="*", default=[], help="word LM α")
    parser.add_argument("--beam", type=int, default=4, help="the LM search's beam")
    parser.add_argument("--baseline", default=BASELINE, help="the decoder ΔWER is taken against")
    parser.add_argument("--out", type=Path, default=None, help="write README.md and report.json")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if "festival" in args.sets and not args.festival.is_file():
        print(f"error: {args.festival} is missing: python bench/peer.py festival --out "
              f"{args.festival.parent} --count 60 --seed 7", file=sys.stderr)  # fmt: skip
        return 1
    utterances = (
        festival_utterances(args.festival, args.limit, args.name) if "festival" in args.sets else []
    )
    utterances += verify_utterances(args.limit) if "verify" in args.sets else []
    utterances += dev_utterances(args.limit) if "dev" in args.sets else []
    lm_weights = tuple(args.lm_weights)
    rows = run(utterances, args.bundle, args.weights, args.top_k, lm_weights, args.beam)
    summary = summarise(rows, args.baseline)
    command = "python bench/decoders.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(summary, command, machine_note(), args.baseline)
    print(json.dumps(summary, indent=2) if args.json else text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"bundle": str(args.bundle), "command": command, "summary": summary}
        report["utterances"] = rows
        (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (args.out / "README.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
