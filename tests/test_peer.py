"""bench/peer.py score: echo-edge and PocketSphinx on one manifest, side by side (#12 §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from speech import speak_to_file

from echo_edge.metrics import word_error_rate

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "peer.py"
# PocketSphinx's acoustic model hears espeak-ng's male voices badly ("open the door and turn
# on the light" -> "oh and war and there but i"); its female variant f2 it mostly follows.
SENTENCES = {
    "a": ("the cat sat on the mat", "en-us+f2"),
    "b": ("open the door and turn on the light", "en-us+f2"),
    "c": ("seven green boats are in the harbour", "en-us"),
}


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
    refs = [u["ref"] for u in utterances]
    for system, key in (("echo-edge", "echo_edge_wer"), ("pocketsphinx", "pocketsphinx_wer")):
        expected = round(100 * word_error_rate(refs, [u[system] for u in utterances]), 1)
        assert whole[key] == expected
    # Both recognisers really heard the audio (a wrong rate or byte order reads ~100 %):
    # echo-edge gets most words right, PocketSphinx most of the f2 voice's.
    assert whole["echo_edge_wer"] < 50, report
    assert report["by_voice"]["en-us+f2"]["pocketsphinx_wer"] < 50, report
    assert report["rtf"]["echo-edge"] > 0 and report["rtf"]["pocketsphinx"] > 0
    assert "| all | 3 | 21 |" in (out / "report.md").read_text()
