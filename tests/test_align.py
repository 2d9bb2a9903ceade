"""`echo-edge data align`: word times from a CTC forced alignment of each row's own text,
on the shipped bundle, for training's --cut-prob."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge.constants import SAMPLE_RATE
from tests.conftest import synthesize_calibration


@pytest.fixture(scope="module")
def speech():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return synthesize_calibration(2)


def test_align_writes_each_words_times_and_keeps_rows_it_cannot_align(
    speech, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from echo_edge.cli import main

    (tmp_path / "wav").mkdir()
    rows = []
    for i, utt in enumerate(speech):
        sf.write(tmp_path / "wav" / f"{i}.wav", utt.audio, SAMPLE_RATE)
        rows.append({"audio": f"wav/{i}.wav", "text": utt.text, "voice": f"v{i}"})
    # 0.1 s cannot hold a sentence's tokens: no alignment, the row is kept without words.
    sf.write(tmp_path / "wav" / "short.wav", speech[0].audio[: SAMPLE_RATE // 10], SAMPLE_RATE)
    rows.append({"audio": "wav/short.wav", "text": speech[0].text})
    (tmp_path / "wav" / "broken.wav").write_text("not audio")  # unreadable: kept, no words
    rows.append({"audio": "wav/broken.wav", "text": "broken"})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "aligned" / "out.jsonl"
    args = ["data", "align", "--data", str(tmp_path / "in.jsonl"), "--out", str(out)]
    assert main([*args, "--threads", "1"]) == 0
    said = capsys.readouterr()
    assert "aligned 2 of 4 rows" in said.out
    warning = said.err.strip().splitlines()
    assert len(warning) == 1 and "1 rows with unreadable audio kept" in warning[0]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == 4 and "words" not in got[2] and "words" not in got[3]
    assert got[3] == {**rows[3], "audio": "../wav/broken.wav"}
    for row, utt, written in zip(rows, speech, got):
        assert {k: v for k, v in written.items() if k not in ("audio", "words")} == {
            k: v for k, v in row.items() if k != "audio"
        }
        assert (out.parent / written["audio"]).resolve() == (tmp_path / row["audio"]).resolve()
        spans = np.array(written["words"])  # (words, 2)
        seconds = len(utt.audio) / SAMPLE_RATE
        assert len(spans) == len(utt.text.split())
        assert np.all(spans[:, 1] > spans[:, 0]) and np.all(spans[1:, 0] >= spans[:-1, 1])
        assert 0.0 <= spans[0, 0] and spans[-1, 1] <= seconds
        assert spans[-1, 1] - spans[0, 0] > 0.5 * seconds  # the words span the speech
    # The cut's audio between two words is quieter than the words themselves.
    spans = np.array(got[0]["words"])
    x = speech[0].audio
    rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] ** 2)))  # noqa: E731
    inside = np.median([rms(a, b) for a, b in spans])
    cuts = [(spans[k - 1, 1] + spans[k, 0]) / 2 for k in range(1, len(spans))]
    at_cuts = np.median([rms(c - 0.01, c + 0.01) for c in cuts])
    assert at_cuts < inside
    same = ["data", "align", "--data", str(tmp_path / "in.jsonl"), "--out"]
    assert main([*same, str(tmp_path / "in.jsonl")]) != 0  # never over what it reads
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must not be the manifest it reads" in err[0]
    assert [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()] == rows
