"""The cut A/B's bundles side by side: one pass and streamed on the dev set (verify's recipe,
seed 16 000 001, 150 utterances) and on verify's default set (250), and the halves of 100
held-out synth10 dev rows (halves.py); paired bootstrap 95 % intervals against a baseline.

    PYTHONPATH=. python bench/results/cut-halves/compare.py run DIR NAME=BUNDLE ...
    PYTHONPATH=. python bench/results/cut-halves/compare.py table DIR BASELINE NAME ...

`run` writes DIR/NAME.json (every line's references and transcripts); `table` prints WER per
line and each NAME's ΔWER against BASELINE.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from echo_edge.bootstrap import delta_wer, word_errors
from echo_edge.evalset import RECIPE, verify_set
from echo_edge.metrics import word_error_rate
from echo_edge.runtime import Recognizer
from echo_edge.runtime.recognizer import FILE_OPTIONS

sys.path.insert(0, str(Path(__file__).parent))
from halves import halves  # noqa: E402

SETS = {"dev": {**RECIPE, "seed": 16_000_001, "count": 150}, "verify": None}
LINES = (
    "dev one pass",
    "dev streamed",
    "verify one pass",
    "verify streamed",
    "synth dev whole",
    "first half",
    "second half",
)


def run(out: Path, pairs: list[str]) -> None:
    sets = {name: verify_set(rec=rec) for name, rec in SETS.items()}
    out.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        name, _, bundle = pair.partition("=")
        r = Recognizer.from_bundle(bundle, threads=1)
        lines = {}
        for set_name, utts in sets.items():
            refs = [u.text for u in utts]
            lines[f"{set_name} one pass"] = (refs, [r.recognize(u.audio).text for u in utts])
            streamed = [r.transcribe_samples(u.audio, options=FILE_OPTIONS).text for u in utts]
            lines[f"{set_name} streamed"] = (refs, streamed)
        lines.update(halves("data/synth10/dev-words.jsonl", 100, bundle, keep=True))
        (out / f"{name}.json").write_text(json.dumps({"bundle": bundle, "lines": lines}))


def table(out: Path, baseline: str, names: list[str]) -> None:
    runs = {n: json.loads((out / f"{n}.json").read_text())["lines"] for n in [baseline, *names]}
    print(
        "| line | "
        + " | ".join(runs)
        + " | "
        + " | ".join(f"{n} − {baseline}" for n in names)
        + " |"
    )
    print("|---" * (1 + len(runs) + len(names)) + "|")
    for line in LINES:
        cells = [f"{100 * word_error_rate(*runs[n][line]):.2f}" for n in runs]
        base = word_errors(*runs[baseline][line])
        for n in names:
            d = delta_wer(base, word_errors(*runs[n][line]))
            lo, hi = d["ci95"]
            cells.append(f"{d['points']:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        words = int(base.words.sum())
        print(f"| {line} ({words} words) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "run":
        run(out, sys.argv[3:])
    else:
        table(out, sys.argv[3], sys.argv[4:])
