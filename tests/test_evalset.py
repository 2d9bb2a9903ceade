"""verify's default eval set: enough held-out speech to resolve ΔWER, made once, then read.

The recipe is planned (texts, voices, draws) without rendering: that is cheap and shows the
set's size and hold-out. Rendering is tested on a 6-utterance recipe (both engines, clean
and noisy) in a temporary cache directory.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from echo_edge import evalset
from echo_edge.corpus import synth
from echo_edge.evalset import (
    CALIBRATION_COUNT,
    RECIPE,
    SCORING_SEED,
    SENTENCES,
    SET_MANIFEST,
    calibration_recipe,
    plan_verify_set,
    recipe_key,
    training_texts,
    verify_set,
    verify_set_dir,
)
from echo_edge.runtime.recognizer import CACHE_ENV
from echo_edge.text import normalize_text

SMALL = {**RECIPE, "count": 6}  # utterance 4 is flite's, 1, 3 and 5 are noisy


def require_engines() -> None:
    for exe in ("espeak-ng", "flite"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} is not installed: the default set cannot be made")


@pytest.fixture(scope="module")
def plan() -> list[synth.Utterance]:
    require_engines()
    return plan_verify_set(RECIPE)


def describe(plan: list[synth.Utterance]) -> list[tuple]:
    return [(u.text, u.spoken, u.voice.id, u.rate, u.pitch, u.margins, u.chain) for u in plan]


def test_default_set_can_resolve_a_word(plan: list[synth.Utterance]) -> None:
    words = sum(len(u.text.split()) for u in plan)
    assert len(plan) == RECIPE["count"] >= 200 and words >= 2000  # a word < 0.05 points
    assert len({u.text for u in plan}) == len(plan)  # every sentence once
    assert all(u.text for u in plan)
    # Both engines, clean and noisy at the recipe's SNRs.
    engines = [u.voice.engine for u in plan]
    assert engines.count("flite") == len(plan) // RECIPE["flite_every"]
    assert {"espeak-ng", "flite"} == set(engines)
    noise = [u.chain for u in plan if u.chain]
    assert len(noise) == len(plan) // 2
    low, high = RECIPE["snr_db"]
    assert all(len(c) == 1 and c[0].name == "noise" and low <= c[0].value <= high for c in noise)
    assert {c[0].kind for c in noise} == set(RECIPE["noise_kinds"])


def test_default_set_voices_are_all_held_out(plan: list[synth.Utterance]) -> None:
    """By the corpus's own split rule (synth._split_of for espeak-ng variants, FLITE_SPLITS)."""
    voices = synth.espeak_voices() + synth.flite_voices()
    trained = {v.id for v in voices if v.split != "test"}
    held_out = {v.id for v in voices if v.split == "test"}
    used = {u.voice.id for u in plan}
    assert used <= held_out and not used & trained
    assert {u.voice.name for u in plan if u.voice.engine == "flite"} == {"slt"}
    for u in plan:
        if u.voice.engine == "espeak-ng":
            assert synth._split_of(u.voice.name.split("+")[1]) == "test"
    assert len(used) > 50  # the espeak-ng test voices are cycled through, not one reused


def test_default_set_sentences_are_held_out(plan: list[synth.Utterance]) -> None:
    from tests.conftest import CALIBRATION_SENTENCES

    texts = {u.text for u in plan}
    assert not texts & training_texts(tuple(RECIPE["train_seeds"]), RECIPE["train_draws"])
    assert not texts & {normalize_text(s) for s in CALIBRATION_SENTENCES}
    assert {normalize_text(s) for s in SENTENCES} <= texts


def test_calibration_sentences_are_none_of_the_gates() -> None:
    """export's default int8 calibration reads other sentences than verify's set (and than
    training), in the set's voices and conditions."""
    rec = calibration_recipe()
    gate = {u.text for u in plan_verify_set(rec["apart_from"])}  # type: ignore[arg-type]
    calibration = plan_verify_set(rec)
    texts = {u.text for u in calibration}
    assert len(texts) == CALIBRATION_COUNT == len(calibration)
    assert len(gate) == RECIPE["count"] and not texts & gate
    assert not texts & training_texts(tuple(RECIPE["train_seeds"]), RECIPE["train_draws"])
    assert "handwritten" not in {u.category for u in calibration}
    assert {bool(u.chain) for u in calibration} == {True, False}  # clean and noisy
    # The sensitivity report scores on other sentences than it calibrates on.
    scoring = {u.text for u in plan_verify_set(calibration_recipe(SCORING_SEED))}
    assert len(scoring) == CALIBRATION_COUNT and not scoring & texts and not scoring & gate


def test_plan_is_deterministic(plan: list[synth.Utterance]) -> None:
    assert describe(plan_verify_set(dict(RECIPE))) == describe(plan)
    other = plan_verify_set({**RECIPE, "seed": RECIPE["seed"] + 1})
    assert describe(other) != describe(plan)
    assert recipe_key(dict(RECIPE)) == recipe_key(RECIPE) != recipe_key(SMALL)


def audio_digests(root: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("audio/*.wav"))]


def test_set_is_made_once_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_engines()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "a"))
    made = verify_set(rec=SMALL)
    root = verify_set_dir(SMALL)
    assert root == tmp_path / "a" / "evalset" / recipe_key(SMALL)
    assert (root / SET_MANIFEST).is_file() and len(audio_digests(root)) == 6
    assert [u.engine for u in made] == ["espeak-ng"] * 4 + ["flite", "espeak-ng"]
    assert [u.condition == "clean" for u in made] == [True, False] * 3
    assert all(u.condition.startswith("noise=") for u in made[1::2])
    assert all(0.5 < u.seconds < synth.MAX_SECONDS for u in made)

    def no_synthesis(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached set was synthesised again")

    monkeypatch.setattr(synth, "_synthesise", no_synthesis)
    monkeypatch.setattr(evalset, "build_verify_set", no_synthesis)
    again = verify_set(rec=SMALL)
    assert [u.id for u in again] == [u.id for u in made]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(again, made))
    assert [u.text for u in verify_set(2, rec=SMALL)] == [u.text for u in made[:2]]
    with pytest.raises(ValueError, match="at least one"):
        verify_set(0, rec=SMALL)


def test_same_recipe_same_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two caches made apart from the same recipe hold the same bytes (noise included)."""
    require_engines()
    digests = []
    for name in ("a", "b"):
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / name))
        verify_set(rec=SMALL)
        digests.append(audio_digests(verify_set_dir(SMALL)))
        manifest = (verify_set_dir(SMALL) / SET_MANIFEST).read_text()
    assert digests[0] == digests[1] and len(set(digests[0])) == 6
    assert manifest == (tmp_path / "a" / "evalset" / recipe_key(SMALL) / SET_MANIFEST).read_text()


def test_no_calibration_set_without_espeak_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export's default calibration on a machine without espeak-ng (and no cached set): one
    line naming both ways out, not verify's --data hint."""
    import echo_edge.export.quantize as Q

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(evalset.shutil, "which", lambda name: None)
    monkeypatch.setattr(Q.shutil, "which", lambda name: None)
    with pytest.raises(
        ValueError, match=r"^no calibration data: install espeak-ng .*--calibration"
    ):
        Q.load_calibration(None)
