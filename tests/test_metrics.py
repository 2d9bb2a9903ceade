"""WER/CER and the seeds' token metrics on hand-made hypotheses."""

from __future__ import annotations

import numpy as np
import pytest

from echo_edge.metrics import TokenStats, char_error_rate, word_error_rate


def test_wer_counts_edits_after_normalisation() -> None:
    refs = ["Turn on the lights.", "call 2 people"]
    hyps = ["turn off the lights", "call two people"]
    # 1 substitution over 4 + 3 = 7 reference words; "2" == "two" after normalisation.
    assert word_error_rate(refs, hyps) == pytest.approx(1 / 7)


def test_cer_and_perfect_match() -> None:
    assert char_error_rate(["abc"], ["abd"]) == pytest.approx(1 / 3)
    assert word_error_rate(["hello world"], ["Hello, world!"]) == 0.0


def test_wer_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        word_error_rate(["a"], ["a", "b"])


def test_token_metrics_exclude_ignored_positions() -> None:
    stats = TokenStats(vocab_size=6)
    labels = np.array([[4, 5, 4, 2, -100, -100]])
    preds = np.array([[4, 4, 4, 2, 5, 5]])  # the two ignored positions are "wrong" on purpose
    stats.update(preds, labels)
    s = stats.summary()
    assert s["token_accuracy"] == pytest.approx(3 / 4)
    # class 4: tp 2, predicted 3, actual 2; class 5: tp 0, predicted 0, actual 1; class 2: exact.
    assert s["token_precision"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s["token_recall"] == pytest.approx((1 + 0 + 1) / 3)
    f1_4 = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert s["token_f1"] == pytest.approx((f1_4 + 0 + 1) / 3)
