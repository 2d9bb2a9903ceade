"""Word errors per utterance and a paired bootstrap interval for a WER difference (numpy only).

ΔWER = 100 * (bundle edits - reference edits) / reference words, summed over an eval set. Its
interval resamples utterances with replacement (the same draw for both systems: paired), so
the correlation between the two systems' errors on one utterance is kept, and takes the
2.5th and 97.5th percentiles of the resampled ΔWER (the percentile method).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import numpy as np

from echo_edge.text import normalize_text

# Bootstrap draws. Over 20 seeds the bounds of the shipped int8 bundle's interval on the
# default set moved by 0.06-0.12 points (sd): a tenth of the interval's half-width.
RESAMPLES = 1000
SEED = 0  # a fixed draw: the same report for the same transcripts
CONFIDENCE = 0.95


@dataclass(frozen=True)
class WordErrors:
    """Per utterance: reference words and edits (substitutions + deletions + insertions)."""

    words: np.ndarray  # (U,) int64
    edits: np.ndarray  # (U,) int64


def word_errors(truth: Sequence[str], hypotheses: Sequence[str]) -> WordErrors:
    """Edits of each hypothesis against its truth after normalisation, as metrics' corpus WER
    counts them (sum(edits) / sum(words) is word_error_rate); an empty truth counts 0 and 0."""
    if len(truth) != len(hypotheses):
        raise ValueError(f"{len(truth)} references but {len(hypotheses)} hypotheses")
    words, edits = [], []
    for t, h in zip(truth, hypotheses):
        t, h = normalize_text(t), normalize_text(h)
        if not t:
            words.append(0)
            edits.append(0)
            continue
        out = jiwer.process_words(t, h)
        words.append(len(t.split()))
        edits.append(out.substitutions + out.deletions + out.insertions)
    return WordErrors(np.asarray(words, np.int64), np.asarray(edits, np.int64))


def delta_wer(
    reference: WordErrors,
    bundle: WordErrors,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict:
    """ΔWER points of `bundle` over `reference` (same utterances, same truth) with its paired
    bootstrap interval -> {"points", "ci95": [lo, hi], "words", "utterances"}."""
    words = reference.words
    if not np.array_equal(words, bundle.words):
        raise ValueError("the two systems were scored on different references")
    total = int(words.sum())
    if total == 0:
        raise ValueError("no reference words to score")
    diff = (bundle.edits - reference.edits).astype(np.float64)  # (U,)
    points = 100.0 * float(diff.sum()) / total
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(words), size=(resamples, len(words)))  # (B, U)
    drawn_words = words[idx].sum(axis=1)  # (B,)
    # A draw of only empty references has no words: it says nothing, leave it out.
    keep = drawn_words > 0
    drawn = 100.0 * diff[idx].sum(axis=1)[keep] / drawn_words[keep]  # (B',)
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    lo, hi = np.percentile(drawn, [tail, 100.0 - tail])
    return {
        "points": round(points, 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "words": total,
        "utterances": int(len(words)),
    }


def wer_report(
    truth: Sequence[str], reference: Sequence[str], bundle: Sequence[str], streamed: Sequence[str]
) -> dict:
    """WER of the reference, the bundle in one pass and the bundle streamed, on one group of
    utterances, and both ΔWERs with their intervals (rates as fractions, ΔWER in points)."""
    ref = word_errors(truth, reference)
    one_pass, stream = word_errors(truth, bundle), word_errors(truth, streamed)
    offline, streaming = delta_wer(ref, one_pass), delta_wer(ref, stream)
    words = offline["words"]
    return {
        "utterances": offline["utterances"],
        "words": words,
        "reference": round(float(ref.edits.sum()) / words, 4),
        "bundle": round(float(one_pass.edits.sum()) / words, 4),
        "bundle_streaming": round(float(stream.edits.sum()) / words, 4),
        "delta_wer": offline,
        "streaming_delta_wer": streaming,
    }


def wer_by(
    groups: Sequence[str],
    truth: Sequence[str],
    reference: Sequence[str],
    bundle: Sequence[str],
    streamed: Sequence[str],
) -> dict[str, dict]:
    """wer_report per group label (e.g. engine), in sorted order; groups without words left out."""
    out = {}
    for group in sorted(set(groups)):
        pick = [i for i, g in enumerate(groups) if g == group]
        rows = [[seq[i] for i in pick] for seq in (truth, reference, bundle, streamed)]
        if any(normalize_text(t) for t in rows[0]):
            out[group] = wer_report(*rows)
    return out
