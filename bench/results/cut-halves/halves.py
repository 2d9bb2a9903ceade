"""The shipped model on halves of sentences it was trained on: each row cut at its middle
word boundary (word times from `echo-edge data align`), both sides recognised alone.

    PYTHONPATH=. python bench/results/cut-halves/halves.py data/synth10/train-words.jsonl 100 [BUNDLE]
"""

from __future__ import annotations

import sys

from echo_edge.audio import load_audio
from echo_edge.constants import SAMPLE_RATE
from echo_edge.data import read_manifest
from echo_edge.metrics import word_error_rate
from echo_edge.runtime import Recognizer


def halves(manifest: str, count: int, bundle: str | None = None, keep: bool = False) -> dict:
    """WER % of the whole rows and of each half, on the first `count` rows with >= 4 words
    ({"whole" | "first half" | "second half": WER}); with `keep`, the names prefixed "synth dev "
    for the whole and (references, transcripts) instead of the WER."""
    rows = [r for r in read_manifest(manifest) if len(r.get("words", ())) >= 4][:count]
    recognizer = (
        Recognizer.from_bundle(bundle, threads=1) if bundle else Recognizer.default(threads=1)
    )
    refs: dict[str, list[str]] = {"whole": [], "first half": [], "second half": []}
    hyps: dict[str, list[str]] = {k: [] for k in refs}
    for row in rows:
        x, spans, words = load_audio(row["audio"]), row["words"], row["text"].split()
        k = len(spans) // 2
        at = int((spans[k - 1][1] + spans[k][0]) / 2 * SAMPLE_RATE)
        for name, audio, text in (
            ("whole", x, words),
            ("first half", x[:at], words[:k]),
            ("second half", x[at:], words[k:]),
        ):
            refs[name].append(" ".join(text))
            hyps[name].append(recognizer.recognize(audio).text)
    if keep:
        return {("synth dev whole" if n == "whole" else n): (refs[n], hyps[n]) for n in refs}
    return {name: 100 * word_error_rate(refs[name], hyps[name]) for name in refs}


if __name__ == "__main__":
    for name, wer in halves(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4]).items():
        print(f"{name:12s} WER {wer:.1f} %")
