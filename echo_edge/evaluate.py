"""`echo-edge eval`: a checkpoint's greedy WER/CER on a manifest, split into groups.

Decoding is the runtime's default for finals, joint CTC/attention greedy (`--ctc-weight`,
echo_edge.decoding.DecodingOptions), when the checkpoint has a CTC head; `--ctc-weight 0`
gives attention greedy. The report says which search ran ("decoding").

The figures the README and the ablation report (test WER, clean and noisy halves, by engine)
all come from `evaluate`, so each has one command that reproduces it. Besides WER/CER it gives
the teacher-forced decoder cross-entropy and token accuracy: they still rank models while
free-running WER is saturated early in training.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # torch loads when evaluation runs, not when the CLI starts
    from echo_edge.decoding import DecodingOptions

# Row field -> group key of a manifest row (our corpus manifests carry "voice" and "augment").
GROUPS = {
    "condition": lambda row: "clean" if row.get("augment", "clean") == "clean" else "noisy",
    "engine": lambda row: str(row.get("voice", "unknown")).split(":", 1)[0],
    "voice": lambda row: str(row.get("voice", "unknown")),
    "category": lambda row: str(row.get("category", "unknown")),
}


def evaluate(
    checkpoint: str | Path | None,
    manifest: str | Path,
    limit: int | None = None,
    by: tuple[str, ...] = ("condition",),
    progress: bool = False,
    log: TextIO | None = None,
    decoding: DecodingOptions | None = None,
) -> dict:
    """Greedy decoding of the first `limit` rows: WER/CER overall and per group of each `by`
    key ("wer_clean"/"wer_noisy" for the condition groups), TF loss and accuracy, and the
    hypotheses. Bad rows (bad JSON, missing text or audio, unreadable audio) are skipped and
    counted ("skipped"; one line on `log` names the first few); NoRowsError if none is left.
    `decoding`: the search (default DecodingOptions(): joint CTC/attention greedy where the
    model has a CTC head, attention greedy otherwise)."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from echo_edge.audio import AudioError, load_audio
    from echo_edge.checkpoint import load_checkpoint
    from echo_edge.data import NoRowsError, read_manifest, skipped_summary
    from echo_edge.decoding import DecodingOptions, strip_special
    from echo_edge.metrics import char_error_rate, word_error_rate
    from echo_edge.runtime.decoding import search_name
    from echo_edge.runtime.lm import lm_available
    from echo_edge.tokenizer import default_tokenizer

    unknown = [key for key in by if key not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group {unknown[0]!r}; choose from {', '.join(GROUPS)}")
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    decoding = decoding or DecodingOptions()
    joint = decoding.ctc_weight > 0 and model.ctc_head is not None
    if decoding.lm_weight > 0 and not (joint and lm_available()):
        decoding = replace(decoding, lm_weight=0.0)  # what generate() then runs
    tok = default_tokenizer()
    skipped: list[str] = []
    listed = read_manifest(manifest, skipped, check_audio=True)
    total = len(listed) + len(skipped)
    rows, refs, hyps = [], [], []
    nll = correct = count = 0.0
    with torch.no_grad():
        for row in tqdm(listed[:limit], desc="eval", unit="utt", disable=not progress):
            try:
                audio = load_audio(row["audio"])
            except AudioError as e:  # unreadable audio costs this row only
                skipped.append(str(e))
                continue
            wave = torch.from_numpy(audio)[None]  # (1, N)
            ids = model.generate(wave, options=decoding)[0].tolist()
            hyps.append(tok.decode(strip_special(ids)))
            refs.append(row["text"])
            rows.append(row)
            labels = torch.tensor([tok.encode(row["text"]) + [tok.eos_id]])  # (1, L)
            logits = model(wave, labels=labels)["logits"][0]  # (L, V)
            nll += float(F.cross_entropy(logits.float(), labels[0], reduction="sum"))
            correct += float((logits.argmax(-1) == labels[0]).sum())
            count += labels.shape[1]
    if skipped:
        summary = skipped_summary(skipped, total, manifest)
        print(f"echo-edge: warning: {manifest}: {summary}", file=log or sys.stderr)
    if not rows:
        why = f": {skipped_summary(skipped, total, manifest)}" if skipped else " (it is empty)"
        raise NoRowsError(f"{manifest}: no rows to evaluate{why}")
    out: dict = {
        "wer": word_error_rate(refs, hyps),
        "cer": char_error_rate(refs, hyps),
        "n": len(rows),
        "skipped": len(skipped),
        "tf_loss": nll / count,
        "tf_token_accuracy": correct / count,
        "decoding": {
            "search": search_name(
                decoding.ctc_weight if joint else 0.0, decoding.lm_weight, decoding.beam
            ),
            "ctc_weight": decoding.ctc_weight if joint else 0.0,
            "ctc_top_k": decoding.ctc_top_k,
            "lm_weight": decoding.lm_weight,
            "beam": decoding.beam,
        },
    }
    for key in by:
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(GROUPS[key](row), []).append(i)
        table = {
            name: {
                "n": len(idx),
                "wer": word_error_rate([refs[i] for i in idx], [hyps[i] for i in idx]),
                "cer": char_error_rate([refs[i] for i in idx], [hyps[i] for i in idx]),
            }
            for name, idx in sorted(groups.items())
        }
        if key == "condition":  # the flat keys the ablation report reads
            out.update({f"wer_{name}": r["wer"] for name, r in table.items()})
        out[f"by_{key}"] = table
    out["hypotheses"] = [{"ref": r, "hyp": h} for r, h in zip(refs, hyps)]
    return out


def positive_int(text: str) -> int:
    from echo_edge.cli import number

    return number(1, None, integer=True)(text)


def add_eval_args(p: argparse.ArgumentParser) -> None:
    from echo_edge.cli import add_lm_arguments, number
    from echo_edge.runtime.decoding import CTC_WEIGHT

    p.add_argument("checkpoint", nargs="?", help="checkpoint directory (default: shipped model)")
    p.add_argument("--data", required=True, help="JSONL manifest (ours, or any with audio+text)")
    p.add_argument("--limit", type=positive_int, help="first N rows only")
    p.add_argument(
        "--by",
        nargs="+",
        default=["condition", "engine"],
        choices=sorted(GROUPS),
        help="group the WER/CER by these row fields",
    )
    p.add_argument(
        "--ctc-weight",
        type=number(0.0, 1.0, below=True),
        default=CTC_WEIGHT,
        help="weight of the CTC prefix score in joint CTC/attention greedy decoding, as "
        "`echo-edge transcribe` decodes finals; 0: attention greedy (a checkpoint without a "
        "CTC head always decodes with attention greedy)",
    )
    add_lm_arguments(p, "decode")
    p.add_argument("--json", action="store_true", help="the whole report, hypotheses included")


def run_eval(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    from echo_edge.decoding import DecodingOptions

    decoding = DecodingOptions(ctc_weight=args.ctc_weight, lm_weight=args.lm_weight)
    report = evaluate(
        args.checkpoint, args.data, args.limit, tuple(args.by), progress=True, decoding=decoding
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['n']} utterances: WER {100 * report['wer']:.1f} %  CER {100 * report['cer']:.1f} %"
        f"  TF loss {report['tf_loss']:.3f}  TF acc {report['tf_token_accuracy']:.3f}"
        f"  ({report['decoding']['search']})"
    )
    for key in args.by:
        for name, r in report[f"by_{key}"].items():
            print(
                f"  {key} {name}: {r['n']} utts, WER {100 * r['wer']:.1f} %, "
                f"CER {100 * r['cer']:.1f} %"
            )
    return 0
