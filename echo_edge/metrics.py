"""Recognition metrics: WER/CER after the one text normaliser, and the seeds' token metrics.

Token accuracy / precision / recall / F1 are computed the way the seed papers meant them but
correctly: teacher-forced logits at position i are compared with label i (the decoder input is
already shifted right), and ignored positions (-100) are excluded. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jiwer
import numpy as np

from echo_edge.text import normalize_text

IGNORE_INDEX = -100


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER (edits / reference words) after normalisation; empty references skipped."""
    return _error_rate(references, hypotheses, jiwer.wer)


def char_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    return _error_rate(references, hypotheses, jiwer.cer)


def _error_rate(refs: Sequence[str], hyps: Sequence[str], fn) -> float:  # noqa: ANN001
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    pairs = [(normalize_text(r), normalize_text(h)) for r, h in zip(refs, hyps)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        raise ValueError("no non-empty references to score")
    return float(fn([r for r, _ in pairs], [h for _, h in pairs]))


@dataclass
class TokenStats:
    """Accumulates teacher-forced token predictions over an evaluation."""

    vocab_size: int
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.confusion = np.zeros((self.vocab_size, self.vocab_size), dtype=np.int64)

    def update(self, predictions: np.ndarray, labels: np.ndarray) -> None:
        """predictions, labels (B, L) aligned (prediction i is for label i); -100 is ignored."""
        keep = labels != IGNORE_INDEX
        np.add.at(self.confusion, (labels[keep], predictions[keep]), 1)

    def summary(self) -> dict[str, float]:
        """Accuracy and macro precision / recall / F1 over the token classes that occur."""
        cm = self.confusion
        total = cm.sum()
        tp = np.diag(cm).astype(np.float64)
        predicted, actual = cm.sum(0), cm.sum(1)
        present = (predicted + actual) > 0
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
        return {
            "token_accuracy": float(tp.sum() / total) if total else 0.0,
            "token_precision": float(precision[present].mean()) if present.any() else 0.0,
            "token_recall": float(recall[present].mean()) if present.any() else 0.0,
            "token_f1": float(f1[present].mean()) if present.any() else 0.0,
        }
