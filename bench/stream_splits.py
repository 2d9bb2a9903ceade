"""Where the endpointed stream loses words against one pass, from a stored verify report.

    .venv/bin/python bench/stream_splits.py REPORT.json [BUNDLE]

For every utterance whose streamed transcript differs from the bundle's one-pass transcript,
the stream is run again (Recognizer.transcribe_samples, as `echo-edge transcribe` runs it) to
get its segments; the utterances are grouped by segment count and each group's word-error
change (streamed minus one pass, in words) is printed, with the share of each condition. An
utterance that the stream split in two is a sentence the endpointer cut at a short pause,
which the model, trained on one sentence per utterance, reads worse in halves.
"""

import collections
import json
import sys

import jiwer

from echo_edge.evalset import verify_set
from echo_edge.runtime.recognizer import SHIPPED_BUNDLE, Recognizer


def errors(truth: str, hyp: str) -> int:
    out = jiwer.process_words(truth, hyp)
    return out.substitutions + out.deletions + out.insertions


def main() -> None:
    report = json.load(open(sys.argv[1]))
    bundle = sys.argv[2] if len(sys.argv) > 2 else str(SHIPPED_BUNDLE)
    audio = {u.id: u.audio for u in verify_set()}
    recognizer = Recognizer.from_bundle(bundle)
    words = sum(len(u["truth"].split()) for u in report["utterances"])
    count: collections.Counter = collections.Counter()
    delta: collections.Counter = collections.Counter()
    for u in report["utterances"]:
        noisy = "noisy" if u["condition"] != "clean" else "clean"
        segments = len(recognizer.transcribe_samples(audio[u["id"]]).segments)
        count[(segments, noisy, "all")] += 1
        if u["bundle_streaming"] == u["bundle"]:
            continue
        count[(segments, noisy, "differ")] += 1
        delta[(segments, noisy)] += errors(u["truth"], u["bundle_streaming"]) - errors(
            u["truth"], u["bundle"]
        )
    print(f"{sys.argv[1]}: {len(report['utterances'])} utterances, {words} words")
    print("segments condition utterances differ Δerrors(words) Δpoints")
    for segments, noisy in sorted({k[:2] for k in count}):
        d = delta[(segments, noisy)]
        print(
            f"{segments:8d} {noisy:9s} {count[(segments, noisy, 'all')]:10d} "
            f"{count[(segments, noisy, 'differ')]:6d} {d:+16d} {100 * d / words:+7.2f}"
        )


if __name__ == "__main__":
    main()
