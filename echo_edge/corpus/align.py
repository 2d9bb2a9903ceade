"""Word times for a corpus manifest: `echo-edge data align`.

Each row's own text is aligned to its audio by a CTC forced alignment (runtime/alignment.py)
on a bundle's encoder (the shipped one by default), and the row gets "words": one
[start, end] in seconds per word of its normalised text. Training's --cut-prob uses them to
cut an item between two words (data.SpeechDataset): a stream's endpointer cuts long
utterances at short pauses, often inside a sentence, and a model trained on whole sentences
only reads those halves worse than the sentence (bench/results/cut-halves).

A row that cannot be aligned (unreadable audio, no CTC head, more tokens than frames, a text
whose words the alignment does not give back one for one) is written without "words" and
counted; its audio and text are kept, and nothing else of the row changes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from echo_edge import constants as C


def word_spans(recognizer, tokenizer, samples: np.ndarray, text: str) -> list[list[float]] | None:  # noqa: ANN001
    """[start, end] seconds of each word of `text` (normalised as the tokenizer does) in
    `samples` (16 kHz mono), or None where the alignment cannot give one per word."""
    from echo_edge.runtime.alignment import word_times

    f = recognizer.conditioned_features(samples)
    cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
    if cross.ctc is None:
        return None
    ids = tokenizer.encode(text)
    words = word_times(
        ids, recognizer.tokenizer.tokens, cross.ctc, 0.0, len(samples) / C.SAMPLE_RATE
    )
    names = tokenizer.decode(ids).split()
    if len(words) != len(names) or [w.text for w in words] != names:
        return None
    return [[round(w.start, 3), round(w.end, 3)] for w in words]


def add_align_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="JSONL manifest to align")
    p.add_argument(
        "--out",
        required=True,
        help="JSONL manifest to write: the rows with their word times (audio paths relative to "
        "its directory); it must not be --data",
    )
    p.add_argument(
        "--bundle", default=None, help="bundle whose CTC head aligns (default: the shipped one)"
    )
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: all cores)")


def run_align(args: argparse.Namespace) -> int:
    """`echo-edge data align`: exit 0 when written (some rows may lack words), 2 if no rows."""
    from tqdm import tqdm

    from echo_edge.audio import AudioError, load_audio
    from echo_edge.data import NoRowsError, read_manifest
    from echo_edge.runtime import Recognizer
    from echo_edge.tokenizer import EchoTokenizer

    src, out = Path(args.data), Path(args.out)
    if out.resolve() == src.resolve():
        raise ValueError(f"--out {out}: must not be the manifest it reads (--data)")
    rows = read_manifest(src)
    if not rows:
        raise NoRowsError(f"{src}: no rows")
    recognizer = (
        Recognizer.from_bundle(args.bundle, threads=args.threads)
        if args.bundle
        else Recognizer.default(threads=args.threads)
    )
    tokenizer = EchoTokenizer.from_file(Path(recognizer.manifest.path) / "tokenizer.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    base = out.resolve().parent
    aligned, unreadable = 0, []
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in tqdm(rows, desc="align", unit="row", disable=not sys.stderr.isatty()):
            try:
                samples = load_audio(row["audio"])
            except AudioError as e:
                unreadable.append(str(e))
                spans = None
            else:
                spans = word_spans(recognizer, tokenizer, samples, row["text"])
            written = {**row, "audio": os.path.relpath(row["audio"], base)}
            if spans is not None:
                written["words"] = spans
                aligned += 1
            f.write(json.dumps(written) + "\n")
    tmp.replace(out)
    if unreadable:
        print(f"echo-edge: warning: {len(unreadable)} rows with unreadable audio kept without "
              f"word times (first: {unreadable[0]})", file=sys.stderr)  # fmt: skip
    print(f"aligned {aligned} of {len(rows)} rows -> {out}")
    return 0
