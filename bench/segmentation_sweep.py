"""The endpointer's short-pause rule swept on a dev set (never the verify set) and a long reading.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/segmentation_sweep.py [BUNDLE] [L,PAUSE,HYST[,PAD[,RESUME]]] ...

Dev set: verify's recipe with another seed (16 000 001) and 150 utterances, so tuning never
sees the gate's audio. For each (long_utterance_seconds, short_pause_seconds,
stop_hysteresis_db[, end_pad_seconds[, resume_after_short_pause 0/1]]) of StreamOptions (default: the grid below; BUNDLE
default: the shipped one) it prints the streamed WER on the dev set (all, noisy half) and the
WER of bench/long_audio.py's 5-minute reading as one file, as it is and under pink noise at
10 dB SNR (the same reading: a setting that never ends an utterance in noise shows there, not
on the dev set's one-sentence files); the one-pass WER is the baseline.
"""

import sys
import time
from dataclasses import replace

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import long_audio
import numpy as np

from echo_edge.corpus.augment import add_noise
from echo_edge.evalset import RECIPE, verify_set
from echo_edge.metrics import word_error_rate
from echo_edge.runtime.recognizer import FILE_OPTIONS, SHIPPED_BUNDLE, Recognizer

NOISY_READING_SNR_DB = 10.0  # the reading again under pink noise at this SNR
GRID = [
    (2.0, 0.12, 6.0),
    (2.0, 0.2, 6.0),
    (3.0, 0.12, 6.0),
    (3.0, 0.2, 6.0),
    (2.0, 0.12, 3.0),
    (2.0, 0.16, 6.0),
]
bundle = sys.argv[1] if len(sys.argv) > 1 else str(SHIPPED_BUNDLE)
grid = [tuple(map(float, a.split(","))) for a in sys.argv[2:]] or GRID
defaults = (FILE_OPTIONS.end_pad_seconds, float(FILE_OPTIONS.resume_after_short_pause))
grid = [(*g, *defaults[len(g) - 3 :])[:5] for g in grid]
dev = verify_set(rec={**RECIPE, "seed": 16_000_001, "count": 150})
r = Recognizer.from_bundle(bundle, threads=1)
refs = [u.text for u in dev]
one = [r.recognize(u.audio).text for u in dev]
whole, clips, lrefs = long_audio.reading(5.0)
lref = " ".join(lrefs)
noisy_whole = add_noise(whole, NOISY_READING_SNR_DB, "pink", np.random.default_rng(16_000_002))
out = {"one_pass_dev": 100 * word_error_rate(refs, one)}
noisy = [i for i, u in enumerate(dev) if i % 2 == 1]
out["one_pass_dev_noisy"] = 100 * word_error_rate([refs[i] for i in noisy], [one[i] for i in noisy])
print(out, flush=True)
print({"bundle": bundle}, flush=True)
for L, pause, hyst, pad, resume in grid:
    opts = replace(
        FILE_OPTIONS,
        long_utterance_seconds=L,
        short_pause_seconds=pause,
        stop_hysteresis_db=hyst,
        end_pad_seconds=pad,
        resume_after_short_pause=bool(resume),
    )
    t0 = time.perf_counter()
    st = [r.transcribe_samples(u.audio, options=opts).text for u in dev]
    lg = r.transcribe_samples(whole, options=opts)
    ln = r.transcribe_samples(noisy_whole, options=opts)
    row = {
        "L": L,
        "pause": pause,
        "hyst": hyst,
        "pad": pad,
        "resume": bool(resume),
        "stream_dev": round(100 * word_error_rate(refs, st), 2),
        "stream_dev_noisy": round(
            100 * word_error_rate([refs[i] for i in noisy], [st[i] for i in noisy]), 2
        ),
        "long": round(100 * word_error_rate([lref], [lg.text]), 2),
        "long_utts": len(lg.segments),
        "long_noisy": round(100 * word_error_rate([lref], [ln.text]), 2),
        "long_noisy_utts": len(ln.segments),
        "s": round(time.perf_counter() - t0, 1),
    }
    print(row, flush=True)
