"""Evaluation speech for `echo-edge verify` and `echo-edge bench`, torch-free.

Two synthesised sets, both from voices the corpus holds out for its test split (so the
shipped model never trained on them):
- verify's default set (`verify_set`, DEFAULT_COUNT utterances, >= 2000 words, so one word
  is under 0.05 ΔWER points): espeak-ng and flite test voices reading sentences no training
  corpus holds, half of them with noise; rendered once by `echo-edge data synth`'s own
  renderer into the cache (16-bit WAVs + a JSONL manifest, under a hash of RECIPE) and only
  read afterwards;
- a quick set synthesised on the spot (`synthesize_eval_set`, QUICK_COUNT by default) for
  export-time verification, bench and tests.
A JSONL manifest (ours, or any a user writes) can stand in for either.
`utterance_of_length` glues eval speech into audio of an exact length for latency sweeps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from echo_edge.text import normalize_text

DEFAULT_COUNT = 250  # utterances in verify's default set (RECIPE)
QUICK_COUNT = 8  # utterances synthesised on the spot by default (eval_set, bench)
SYNTH_GAIN = 0.5  # -6 dB: espeak-ng speaks near full scale, a microphone rarely does
GAP_SECONDS = 0.3  # silence between utterances glued by `utterance_of_length`
# Held-out sentences: none is a calibration sentence (export/quantize.py) or a demo sentence.
SENTENCES = (
    "turn off the radio in the living room",
    "what time does the last train leave tonight",
    "my brother bought four green apples at the market",
    "open the window and let some fresh air in",
    "the meeting was moved to thursday afternoon",
    "call the doctor and ask about the results",
    "there are nine chairs around the wooden table",
    "could you read me the news from this morning",
    "the children played football in the park until dark",
    "add milk and bread to my shopping list",
    "it will be cold and windy on the coast tomorrow",
    "send a message to david saying i will be late",
    "the library closes at six on saturdays",
    "how long does it take to boil an egg",
    "she painted the old fence a bright shade of blue",
    "play the next song a little louder please",
)
# Fallback voices when the corpus's test voices cannot be listed (rate in words per minute).
FALLBACK_VOICES = (("en-gb-scotland+m3", 150), ("en-us+f4", 165), ("en-gb-x-rp+m7", 140))
RATES = (135, 150, 165, 180)


@dataclass(frozen=True)
class EvalUtterance:
    """One utterance of an eval set."""

    id: str
    audio: np.ndarray  # (N,) float32, 16 kHz mono
    text: str  # normalised reference transcript
    voice: str = ""  # synthesiser voice, or "" for audio read from a manifest
    engine: str = ""  # "espeak-ng", "flite", a manifest's "engine" (e.g. "festival"), or ""
    condition: str = ""  # "clean" or the noise added (e.g. "noise=pink@12dB"); "" unknown

    @property
    def seconds(self) -> float:
        return len(self.audio) / C.SAMPLE_RATE


def held_out_voices() -> list[tuple[str, int]]:
    """espeak-ng voices of the corpus's test split (voice name, words per minute).

    The same hold-out rule as `echo-edge data synth` (synth._split_of on the variant name),
    without its slow de-duplication probe; one variant per accent file in turn."""
    from echo_edge.corpus.synth import _split_of, espeak_accents, espeak_variants

    try:
        accents, variants = sorted(espeak_accents()), sorted(espeak_variants())
    except (RuntimeError, OSError):
        return list(FALLBACK_VOICES)
    held_out = [v for v in variants if _split_of(v) == "test"]
    if not accents or not held_out:
        return list(FALLBACK_VOICES)
    count = max(len(held_out), QUICK_COUNT)
    return [
        (f"{accents[i % len(accents)]}+{held_out[i % len(held_out)]}", RATES[i % len(RATES)])
        for i in range(count)
    ]


def speak(text: str, voice: str, rate: int) -> np.ndarray:
    """espeak-ng -> (N,) float32 at 16 kHz, at SYNTH_GAIN."""
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError(
            "espeak-ng is not installed (apt-get install espeak-ng), or pass --data MANIFEST"
        )
    cmd = [exe, "--stdout", "-v", voice, "-s", str(rate), text]
    wav = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    if sr != C.SAMPLE_RATE:
        audio = soxr.resample(audio, sr, C.SAMPLE_RATE)
    return np.asarray(SYNTH_GAIN * audio, dtype=np.float32)


def synthesize_eval_set(count: int = QUICK_COUNT) -> list[EvalUtterance]:
    """`count` held-out utterances (sentence i with voice i mod voices), deterministic."""
    if count < 1:
        raise ValueError(f"an eval set needs at least one utterance, not {count}")
    voices = held_out_voices()
    out = []
    for i in range(count):
        text = SENTENCES[i % len(SENTENCES)]
        voice, rate = voices[i % len(voices)]
        audio = speak(text, voice, rate)
        out.append(EvalUtterance(f"synth-{i:03d}", audio, normalize_text(text), voice))
    return out


def load_eval_set(manifest: str | Path, limit: int | None = None) -> list[EvalUtterance]:
    """The first `limit` rows of a JSONL manifest, read as 16 kHz mono."""
    from echo_edge.audio import load_audio
    from echo_edge.data import read_manifest

    rows = read_manifest(manifest)
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise ValueError(f"manifest {manifest} has no utterances")
    out = []
    for i, row in enumerate(rows):
        audio = load_audio(row["audio"])
        uid = str(row.get("id", f"{Path(manifest).stem}-{i:05d}"))
        out.append(EvalUtterance(uid, audio, normalize_text(row["text"])))
    return out


def eval_set(data: str | Path | None = None, limit: int | None = None) -> list[EvalUtterance]:
    """A manifest's utterances (`data`), or the quick synthesised set."""
    if data is not None:
        return load_eval_set(data, limit)
    return synthesize_eval_set(limit or QUICK_COUNT)


def utterance_of_length(utterances: list[EvalUtterance], seconds: float) -> np.ndarray:
    """Exactly `seconds` of speech: eval utterances in turn, GAP_SECONDS apart, cut to length."""
    if not utterances:
        raise ValueError("no utterances to build audio from")
    need = int(round(seconds * C.SAMPLE_RATE))
    gap = np.zeros(int(GAP_SECONDS * C.SAMPLE_RATE), np.float32)
    parts, have, i = [], 0, 0
    while have < need:
        piece = np.concatenate([utterances[i % len(utterances)].audio, gap])
        parts.append(piece)
        have += len(piece)
        i += 1
    return np.concatenate(parts)[:need]


# ---- verify's default set ------------------------------------------------------------------
# What the set is made of. Its hash (with SENTENCES) names the cache directory: a change here
# makes a new set, and a set made by another recipe is never read.
RECIPE: dict[str, object] = {
    "version": 1,  # bump when the rendering changes (synth.render, augment)
    "count": DEFAULT_COUNT,
    "seed": 15_000_001,  # sentences and every draw: far from the corpus seeds (0, 1, 2)
    "flite_every": 5,  # utterance i is flite's test voice (slt) when i % 5 == 4, else espeak-ng
    "noisy_every": 2,  # odd utterances get additive noise, even ones stay clean
    "snr_db": [5, 20],  # the noisy half: SNR drawn in this range, colour from noise_kinds
    "noise_kinds": ["white", "pink", "brown", "babble"],
    "gain": SYNTH_GAIN,
    # Sentences a training corpus may hold are left out: the first draws of `echo-edge data
    # synth` seeds 0-2 (data/synth10, synth-s1, synth-s2: 10 001, 6 725 and 6 673 training
    # utterances; one corpus utterance takes one draw).
    "train_seeds": [0, 1, 2],
    "train_draws": 15000,
}
# int8 calibration speech (export's default, bench/int8_sensitivity.py): verify's recipe at
# other seeds, apart from its sentences (calibration_recipe)
CALIBRATION_SEED = 16_000_004
SCORING_SEED = 16_000_005  # the sensitivity report's scoring speech
CALIBRATION_COUNT = 8  # utterances export calibrates on (export.quantize.CALIBRATION_UTTERANCES)
SET_MANIFEST = "manifest.jsonl"  # in the set's cache directory, next to audio/ and recipe.json
SET_WORKERS = 2  # synthesiser processes run at once when the set is first made


def recipe() -> dict[str, object]:
    """RECIPE for this machine: without flite every utterance is espeak-ng's (another set)."""
    if shutil.which("flite") is None:
        return {**RECIPE, "flite_every": 0}
    return dict(RECIPE)


def recipe_key(rec: dict[str, object]) -> str:
    """16 hex digits of the sha256 of the recipe and the hand-written sentences."""
    text = json.dumps({"recipe": rec, "sentences": SENTENCES}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def verify_set_dir(rec: dict[str, object] | None = None) -> Path:
    """cache_dir()/evalset/<recipe key>: where the set of `rec` (default: recipe()) lives."""
    from echo_edge.runtime.recognizer import cache_dir

    return cache_dir() / "evalset" / recipe_key(rec or recipe())


@cache
def training_texts(seeds: tuple[int, ...], draws: int) -> frozenset[str]:
    """Normalised sentences among the first `draws` of textgen for each corpus seed."""
    from echo_edge.corpus.textgen import iter_labelled

    out: set[str] = set()
    for seed in seeds:
        stream = iter_labelled(seed)
        out.update(normalize_text(next(stream)[1]) for _ in range(draws))
    return frozenset(out)


def held_out_sentences(rec: dict[str, object]) -> list[tuple[str, str]]:
    """(category, written sentence) x count: SENTENCES, then textgen at the recipe's seed,
    each normalised text once and none that a training corpus may hold. A recipe with
    "apart_from" (another recipe) skips SENTENCES and every sentence of that recipe's set."""
    from itertools import chain

    from echo_edge.corpus.textgen import iter_labelled

    taken = training_texts(tuple(rec["train_seeds"]), int(rec["train_draws"]))
    own = (("handwritten", s) for s in SENTENCES)
    if "apart_from" in rec:
        other = held_out_sentences(rec["apart_from"])  # type: ignore[arg-type]
        taken = taken | {normalize_text(raw) for _, raw in other}
        own = iter(())
    candidates = chain(own, iter_labelled(int(rec["seed"])))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for category, raw in candidates:
        text = normalize_text(raw)
        if text and text not in taken and text not in seen:
            seen.add(text)
            out.append((category, raw))
            if len(out) == rec["count"]:
                break
    return out


def plan_verify_set(rec: dict[str, object]) -> list:
    """The set's synth.Utterance plan: held-out sentences read by the corpus's test voices
    (espeak-ng variants shuffled and cycled, flite's slt every `flite_every`-th), speeds,
    pitches and margins drawn as `echo-edge data synth` draws them; every other one noisy."""
    from echo_edge.corpus import synth
    from echo_edge.corpus.augment import Effect
    from echo_edge.text import spoken_form

    rng = random.Random(int(rec["seed"]))
    espeak = [v for v in synth.espeak_voices() if v.split == "test"]
    rng.shuffle(espeak)
    flite = [v for v in synth.flite_voices() if v.split == "test"]
    every = int(rec["flite_every"])
    plan, spoken_by_espeak = [], 0
    for i, (category, raw) in enumerate(held_out_sentences(rec)):
        if every and flite and i % every == every - 1:
            voice = flite[(i // every) % len(flite)]
            low, high = synth.FLITE_F0[voice.name]
            rate = round(rng.uniform(*synth.FLITE_STRETCH), 2)
            pitch = float(rng.randint(low, high))
        else:
            voice = espeak[spoken_by_espeak % len(espeak)]
            spoken_by_espeak += 1
            rate = float(rng.randint(*synth.ESPEAK_WPM))
            pitch = float(rng.randint(*synth.ESPEAK_PITCH))
        margins = (round(rng.uniform(*synth.MARGIN_S), 2), round(rng.uniform(*synth.MARGIN_S), 2))
        snr, kind = round(rng.uniform(*rec["snr_db"])), rng.choice(rec["noise_kinds"])
        noisy = i % int(rec["noisy_every"]) == 1
        chain = (Effect("noise", float(snr), kind),) if noisy else ()
        text = normalize_text(raw)
        plan.append(
            synth.Utterance(
                i, "test", category, raw, text, spoken_form(raw), voice, rate, pitch, margins, chain
            )
        )
    return plan


def build_verify_set(root: Path, rec: dict[str, object], progress: bool = False) -> Path:
    """Render the plan of `rec` into `root` (audio/NNNN.wav, 16-bit, SET_MANIFEST, recipe.json).

    Written beside `root` and renamed into place: a half-made set is never read."""
    import soundfile as sf
    from tqdm import tqdm

    from echo_edge.corpus.augment import describe
    from echo_edge.corpus.synth import render

    plan = plan_verify_set(rec)
    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "audio").mkdir(parents=True)
    gain = float(rec["gain"])

    def one(utt) -> dict:  # noqa: ANN001 (a synth.Utterance)
        audio, _ = render(utt, int(rec["seed"]))
        audio = np.clip(gain * audio, -1.0, 1.0).astype(np.float32)  # (N,)
        name = f"audio/{utt.index:04d}.wav"
        sf.write(tmp / name, audio, C.SAMPLE_RATE, subtype="PCM_16")
        return {
            "id": f"verify-{utt.index:04d}",
            "audio": name,
            "text": utt.text,
            "raw": utt.raw,
            "duration": round(audio.size / C.SAMPLE_RATE, 4),
            "voice": utt.voice.id,
            "engine": utt.voice.engine,
            "condition": describe(list(utt.chain)),
            "category": utt.category,
        }

    try:
        with ThreadPoolExecutor(SET_WORKERS) as pool:  # the engines run as subprocesses
            bar = tqdm(total=len(plan), desc="eval set", unit="utt", disable=not progress or None)
            rows = []
            for row in pool.map(one, plan):
                rows.append(row)
                bar.update()
            bar.close()
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
        (tmp / SET_MANIFEST).write_text("".join(lines), encoding="utf-8")
        (tmp / "recipe.json").write_text(json.dumps(rec, indent=2) + "\n")
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, root)
    except OSError:
        if not (root / SET_MANIFEST).is_file():  # not another process's finished set
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def read_verify_set(root: Path, limit: int | None = None) -> list[EvalUtterance]:
    """The first `limit` utterances of a made set."""
    from echo_edge.audio import load_audio

    rows = [json.loads(line) for line in (root / SET_MANIFEST).read_text().splitlines() if line]
    return [
        EvalUtterance(
            r["id"],
            load_audio(root / r["audio"]),
            r["text"],
            r["voice"],
            r["engine"],
            r["condition"],
        )
        for r in rows[:limit]
    ]


def calibration_recipe(seed: int = CALIBRATION_SEED) -> dict[str, object]:
    """The recipe of CALIBRATION_COUNT utterances like verify's (same voices, noise, gain) whose
    sentences are none of verify's default set: int8 calibration and sensitivity scoring speech,
    never the gate's text or audio."""
    return {**recipe(), "seed": seed, "count": CALIBRATION_COUNT, "apart_from": recipe()}


def verify_set(
    limit: int | None = None,
    progress: bool = False,
    rec: dict[str, object] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[EvalUtterance]:
    """Verify's default set (the first `limit` utterances): read from the cache, made there on
    first use (minutes: every utterance is synthesised once)."""
    if limit is not None and limit < 1:
        raise ValueError(f"an eval set needs at least one utterance, not {limit}")
    rec = rec or recipe()
    root = verify_set_dir(rec)
    if not (root / SET_MANIFEST).is_file():
        if shutil.which("espeak-ng") is None:
            raise RuntimeError(
                "espeak-ng is not installed (apt-get install espeak-ng): cannot make the "
                "default eval set; or pass --data MANIFEST"
            )
        if log is not None:
            log(f"making an eval set once ({rec['count']} utterances) in {root}")
        build_verify_set(root, rec, progress)
    return read_verify_set(root, limit)
