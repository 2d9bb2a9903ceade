"""bench/peer.py score: echo-edge and PocketSphinx on one manifest, side by side (#12 §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from speech import speak_to_file

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "peer.py"
# PocketSphinx's acoustic model hears espeak-ng's male voices badly ("open the door and turn
# on the light" -> "oh and war and there but i"); its female variant f2 it mostly follows.
SENTENCES = {
    "a": ("the cat sat on the mat", "en-us+f2"),
    "b": ("open the door and turn on the light", "en-us+f2"),
    "c": ("seven green boats are in the harbour", "en-us"),
}


def edits(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def test_the_edit_distance_is_right_on_hand_made_cases() -> None:
    assert edits("a b c".split(), "a b c".split()) == 0
    assert edits("a b c".split(), "a x c d".split()) == 2
    assert edits("a b c".split(), []) == 3 and edits([], "a".split()) == 1


def manifest(tmp_path: Path) -> Path:
    rows = []
    for name, (text, voice) in SENTENCES.items():
        speak_to_file(text, tmp_path / f"{name}.wav", voice)
        rows.append({"audio": f"{name}.wav", "text": text, "voice": voice})
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_runs_both_recognisers_and_its_table_matches_their_transcripts(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pocketsphinx")
    from runtime.recognizer import SHIPPED_BUNDLE

    out = tmp_path / "report"
    cmd = [sys.executable, str(SCRIPT), "score", "--data", str(manifest(tmp_path))]
    done = subprocess.run(
        [*cmd, "--bundle", str(SHIPPED_BUNDLE), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    utterances = report["utterances"]
    assert [u["ref"] for u in utterances] == [t for t, _ in SENTENCES.values()]
    assert set(report["by_voice"]) == {"all", "en-us", "en-us+f2"}
    whole = report["by_voice"]["all"]
    assert whole["utterances"] == 3 and whole["words"] == 21
    for system, key in (("echo-edge", "echo_edge_wer"), ("pocketsphinx", "pocketsphinx_wer")):
        # A word edit distance written here, not the scorer the script uses (jiwer).
        errors = sum(edits(u["ref"].split(), u[system].split()) for u in utterances)
        assert whole[key] == pytest.approx(100 * errors / 21, abs=0.05)
    # Both recognisers really heard the audio (a wrong rate or byte order reads ~100 %):
    # echo-edge gets most words right, PocketSphinx most of the f2 voice's.
    assert whole["echo_edge_wer"] < 50, report
    assert report["by_voice"]["en-us+f2"]["pocketsphinx_wer"] < 50, report
    assert report["rtf"]["echo-edge"] > 0 and report["rtf"]["pocketsphinx"] > 0
    assert "| all | 3 | 21 |" in (out / "report.md").read_text()
