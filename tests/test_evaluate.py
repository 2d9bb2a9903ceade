"""`echo-edge eval`: WER/CER overall and by group, on hand-made hypotheses."""

from __future__ import annotations

import importlib.util
import json

import pytest
import soundfile as sf
import torch
from conftest import harmonic, tiny_config

from echo_edge import constants as C
from echo_edge.cli import main
from echo_edge.evaluate import evaluate
from echo_edge.model import Echo
from echo_edge.tokenizer import default_tokenizer

# (reference, what the patched model "hears", voice, augment)
ROWS = [
    ("turn the lights on", "turn the lights on", "espeak-ng:en-us+m1", "clean"),
    ("call me at noon", "call me a noon", "espeak-ng:en-gb+f2", "noise=pink@12dB"),
    ("seven thirty", "seven thirty", "flite:slt", "clean"),
    ("open the door please", "open door", "flite:slt", "reverb=0.3"),
]


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A tiny checkpoint, a 4-row manifest, and Echo.generate answering ROWS' hypotheses."""
    torch.manual_seed(0)
    ckpt = tmp_path / "ckpt"
    Echo(tiny_config()).save_pretrained(ckpt)
    lines = []
    for i, (text, _, voice, augment) in enumerate(ROWS):
        sf.write(tmp_path / f"u{i}.wav", harmonic(0.5 + 0.1 * i), C.SAMPLE_RATE)
        lines.append(json.dumps({"audio": f"u{i}.wav", "text": text, "voice": voice,
                                 "augment": augment, "category": "command" if i % 2 else "time"}))  # fmt: skip
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    tok = default_tokenizer()
    heard = iter(hyp for _, hyp, _, _ in ROWS)

    def fake_generate(self, wave, **kwargs):  # noqa: ANN001, ANN003, ANN202
        return torch.tensor([[tok.bos_id, *tok.encode(next(heard)), tok.eos_id]])

    monkeypatch.setattr(Echo, "generate", fake_generate)
    return ckpt, tmp_path / "m.jsonl"


def test_overall_and_grouped_error_rates(corpus) -> None:
    ckpt, manifest = corpus
    report = evaluate(ckpt, manifest, by=("condition", "engine", "voice"))
    # word errors: 0 + 1 sub ("at"->"a") + 0 + 2 del ("the", "please") over 4+4+2+4 words
    assert report["wer"] == pytest.approx(3 / 14)
    assert report["n"] == 4
    # characters, spaces included: 18 + 15, one deleted ("t" of "at")
    assert report["by_engine"]["espeak-ng"] == {"n": 2, "wer": pytest.approx(1 / 8), "cer": 1 / 33}
    assert report["by_engine"]["flite"]["wer"] == pytest.approx(2 / 6)
    assert report["wer_clean"] == 0.0  # rows 0 and 2
    assert report["wer_noisy"] == pytest.approx(3 / 8)  # any augment but "clean" is noisy
    assert report["by_voice"]["flite:slt"]["n"] == 2
    assert [h["hyp"] for h in report["hypotheses"]] == [hyp for _, hyp, _, _ in ROWS]
    assert report["tf_loss"] > 0 and 0 <= report["tf_token_accuracy"] <= 1


def test_limit_takes_the_first_rows(corpus) -> None:
    ckpt, manifest = corpus
    report = evaluate(ckpt, manifest, limit=2, by=("engine",))
    assert report["n"] == 2 and list(report["by_engine"]) == ["espeak-ng"]
    assert report["wer"] == pytest.approx(1 / 8)


def test_cli_prints_groups_and_json(corpus, capsys) -> None:
    ckpt, manifest = corpus
    assert main(["eval", str(ckpt), "--data", str(manifest), "--by", "category"]) == 0
    out = capsys.readouterr().out
    assert "4 utterances: WER 21.4 %" in out
    assert "category command: 2 utts, WER 37.5 %" in out  # rows 1 and 3


def test_cli_bad_input_is_one_line(tmp_path, capsys) -> None:
    assert main(["eval", "--data", str(tmp_path / "missing.jsonl")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("echo-edge: error:") and "missing.jsonl" in err
    assert len(err.splitlines()) == 1
    (tmp_path / "m.jsonl").write_text("")
    with pytest.raises(SystemExit) as e:
        main(["eval", "--data", str(tmp_path / "m.jsonl"), "--limit", "0"])
    assert e.value.code == 2
    assert "argument --limit: must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["eval", "--data", str(tmp_path / "m.jsonl"), "--by", "colour"])
    assert e.value.code == 2


def test_bad_rows_are_skipped_counted_and_named(corpus, capsys) -> None:
    ckpt, manifest = corpus
    good = manifest.read_text().splitlines()
    (manifest.parent / "broken.wav").write_bytes(b"RIFF garbage")
    bad = [
        "{not json",
        json.dumps({"audio": "u0.wav"}),
        json.dumps({"audio": "absent.wav", "text": "gone"}),
        json.dumps({"audio": "broken.wav", "text": "broken"}),
    ]
    mixed = manifest.with_name("mixed.jsonl")
    mixed.write_text("\n".join([good[0], *bad, good[1]]) + "\n")
    report = evaluate(ckpt, mixed, by=("condition",))
    assert report["n"] == 2 and report["skipped"] == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 4 of 6 rows" in err[0]
    assert "mixed.jsonl: skipped" in err[0] and "line 2: invalid JSON" in err[0]
    assert "line 3: a row needs" in err[0] and "absent.wav: no such file" in err[0]


def test_no_usable_row_is_exit_2(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    Echo(tiny_config()).save_pretrained(tmp_path / "ckpt")
    (tmp_path / "m.jsonl").write_text('{"audio": "absent.wav", "text": "x"}\n\n')
    assert main(["eval", str(tmp_path / "ckpt"), "--data", str(tmp_path / "m.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no rows to evaluate" in err and "absent.wav" in err


def test_eval_decodes_with_the_ctc_weight_it_is_given(tmp_path, capsys) -> None:
    """`--ctc-weight` reaches Echo.generate (joint by default where there is a CTC head) and
    the report says which search ran; a checkpoint without a CTC head is attention greedy."""
    from echo_edge.decoding import DecodingOptions
    from echo_edge.runtime.decoding import CTC_WEIGHT

    torch.manual_seed(0)
    model = Echo(tiny_config(ctc_weight=0.3))
    with torch.no_grad():
        model.ctc_head.weight.mul_(30.0)  # peaked: the CTC term changes the search
    ckpt = model.save_pretrained(tmp_path / "ctc")
    Echo(tiny_config()).save_pretrained(tmp_path / "plain")
    sf.write(tmp_path / "a.wav", harmonic(1.5, seed=5), C.SAMPLE_RATE)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio": "a.wav", "text": "a b"}) + "\n")
    manifest = tmp_path / "m.jsonl"
    joint = evaluate(ckpt, manifest)
    assert joint["decoding"]["ctc_weight"] == CTC_WEIGHT and "joint" in joint["decoding"]["search"]
    attention = evaluate(ckpt, manifest, decoding=DecodingOptions(ctc_weight=0.0))
    assert attention["decoding"] == {
        "search": "attention greedy",
        "ctc_weight": 0.0,
        "ctc_top_k": 5,
        "lm_weight": 0.0,
        "beam": 4,
    }
    if importlib.util.find_spec("pocketsphinx"):  # the word-LM search, asked for
        lm = evaluate(ckpt, manifest, decoding=DecodingOptions(lm_weight=0.3))
        assert lm["decoding"]["lm_weight"] == 0.3 and "word LM" in lm["decoding"]["search"]
    assert joint["hypotheses"] != attention["hypotheses"]  # the joint search really ran
    assert evaluate(tmp_path / "plain", manifest)["decoding"]["search"] == "attention greedy"
    assert main(["eval", str(ckpt), "--data", str(manifest), "--ctc-weight", "0"]) == 0
    assert "(attention greedy)" in capsys.readouterr().out
