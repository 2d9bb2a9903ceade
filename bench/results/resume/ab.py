"""resume_after_short_pause off and on, streamed on verify's default set (250 utterances).

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/results/resume/ab.py [BUNDLE]

transcribe_samples with FILE_OPTIONS (as `echo-edge transcribe FILE` runs), the rule off and
on; WER of each, on all, clean and noisy rows, and on minus off with a paired bootstrap 95 %
interval; the transcripts that changed are printed.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from echo_edge.bootstrap import delta_wer, word_errors
from echo_edge.evalset import verify_set
from echo_edge.metrics import word_error_rate
from echo_edge.runtime import Recognizer
from echo_edge.runtime.recognizer import FILE_OPTIONS, SHIPPED_BUNDLE

bundle = sys.argv[1] if len(sys.argv) > 1 else str(SHIPPED_BUNDLE)
utts = verify_set()
r = Recognizer.from_bundle(bundle, threads=1)
hyps = {
    on: [
        r.transcribe_samples(
            u.audio, options=replace(FILE_OPTIONS, resume_after_short_pause=on)
        ).text
        for u in utts
    ]
    for on in (False, True)
}
print({"bundle": bundle, "utterances": len(utts)})
for name, keep in (
    ("all", lambda u: True),
    ("clean", lambda u: u.condition == "clean"),
    ("noisy", lambda u: u.condition != "clean"),
):
    idx = [i for i, u in enumerate(utts) if keep(u)]
    refs = [utts[i].text for i in idx]
    off, on = ([hyps[k][i] for i in idx] for k in (False, True))
    d = delta_wer(word_errors(refs, off), word_errors(refs, on))
    lo, hi = d["ci95"]
    print(
        f"{name}: off {100 * word_error_rate(refs, off):.2f} %  on {100 * word_error_rate(refs, on):.2f} %"
        f"  on - off {d['points']:+.2f} [{lo:+.2f}, {hi:+.2f}]  ({len(idx)} utterances)"
    )
for u, a, b in zip(utts, hyps[False], hyps[True]):
    if a != b:
        print(f"{u.id} {u.condition}\n  truth {u.text}\n  off   {a}\n  on    {b}")
