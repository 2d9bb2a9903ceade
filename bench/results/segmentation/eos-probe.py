"""The eos log-probability of each streamed final on the dev set: segments cut inside a
sentence against sentence ends (README.md, "Does the decoder know a sentence has not ended?").

    PYTHONPATH=. python bench/results/segmentation/eos-probe.py
"""

from __future__ import annotations

import numpy as np

from echo_edge.evalset import RECIPE, verify_set
from echo_edge.runtime import Recognizer
from echo_edge.runtime.recognizer import FILE_OPTIONS

DEV = {**RECIPE, "seed": 16_000_001, "count": 150}  # bench/segmentation_sweep.py's dev set


def main() -> None:
    recognizer = Recognizer.default(threads=1)
    decode = recognizer.decode_utterance
    eos: list[float] = []  # the eos log-prob of each final of the utterance being streamed

    def recording(*args, logprobs=None, final=True, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = decode(*args, logprobs=logprobs, final=final, **kw)
        if final and logprobs:
            eos.append(logprobs[-1])
        return out

    recognizer.decode_utterance = recording
    groups: dict[str, list[float]] = {"inside": [], "last of split": [], "whole": []}
    for utt in verify_set(rec=DEV):
        eos.clear()
        n = len(recognizer.transcribe_samples(utt.audio, options=FILE_OPTIONS).segments)
        for i, value in enumerate(eos[:n]):
            group = "whole" if n == 1 else "last of split" if i == n - 1 else "inside"
            groups[group].append(value)
    for group, values in groups.items():
        q = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]) if values else []
        print(f"{group:14s} {len(values):4d}  " + " / ".join(f"{v:.3f}" for v in q))


if __name__ == "__main__":
    main()
