"""`echo-edge data synth`: a synthetic speech corpus from espeak-ng and flite voices.

The corpus is planned up front in one process (sentences, voices, speeds, pitches and
augmentation chains, all drawn from `--seed`), then rendered in a multiprocessing pool:
synthesise, resample to 16 kHz with soxr, trim silence to a short margin, augment, write
PCM16 WAV. Splits hold out voices (espeak-ng variants and flite voices are assigned to
train/dev/test by a fixed rule, the same for every seed) and sentences (no normalised
text appears twice in a corpus). Test and dev alternate clean and noisy utterances.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus.augment import Effect, apply_chain, describe, sample_chain, speed_perturb
from echo_edge.corpus.textgen import iter_labelled
from echo_edge.text import normalize_text, spoken_form

SPLITS = ("train", "dev", "test")
AUDIO_NAME = re.compile(r"(train|dev|test)_\d{6}\.wav")  # files this module writes
MAX_SECONDS = 10.0  # utterance cap (after augmentation)
MARGIN_S = (0.1, 0.3)  # silence kept before and after speech
TRIM_DB = 40.0  # frames this far below the loudest 10 ms frame count as silence
ESPEAK_WPM = (120, 220)
ESPEAK_PITCH = (30, 70)
# Variants that are not ordinary speech: unstable tempo, or no voicing at all.
EXCLUDED_VARIANTS = frozenset({"fast", "whisper", "whisperf"})
FLITE_SPLITS = {"kal": "train", "kal16": "train", "awb": "train", "rms": "dev", "slt": "test"}
# Mean f0 per flite voice. The training voices are all male, the test voice (slt) female:
# their pitch is spread over both ranges (int_f0_target_mean moves kal and awb from ~105 to
# ~200 Hz, checked with our pitch tracker) so that pitch alone does not make a voice unseen.
FLITE_F0 = {
    "kal": (85, 240),
    "kal16": (85, 240),
    "awb": (85, 240),
    "rms": (95, 95),
    "slt": (150, 230),
}
FLITE_STRETCH = (0.8, 1.25)  # duration_stretch: > 1 is slower
# Planning estimates, measured on trimmed clean audio (realised / estimated = 1.0 +- 0.13).
ESPEAK_DURATION_SCALE = 0.89  # seconds = scale * words * 60 / wpm
FLITE_WORDS_PER_SECOND = 3.1  # at duration_stretch 1.0
MAX_HOURS = 10000.0  # more is a typo (the plan alone would fill memory)
MAX_WORKERS = 2 * (os.cpu_count() or 1)  # more processes only queue for the same cores


@dataclass(frozen=True)
class Voice:
    """A synthesiser voice: engine, the name the engine takes, and the split that owns it."""

    engine: str  # "espeak-ng" | "flite"
    name: str  # espeak-ng: "<voice file>[+<variant>]"; flite: voice name
    label: str  # human-readable id part, e.g. "en-gb-scotland+m3"
    split: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.label}"


@dataclass(frozen=True)
class Utterance:
    """Everything needed to render one utterance, fixed at planning time."""

    index: int
    split: str
    category: str
    raw: str  # generated written text
    text: str  # normalised label
    spoken: str  # what the synthesiser reads
    voice: Voice
    rate: float  # espeak-ng words per minute, or flite duration_stretch
    pitch: float  # espeak-ng pitch 0-99, or flite mean f0 in Hz
    margins: tuple[float, float]  # leading, trailing silence (s)
    chain: tuple[Effect, ...]

    @property
    def audio_path(self) -> str:
        return f"audio/{self.split}_{self.index:06d}.wav"


def _split_of(name: str) -> str:
    """Fixed hold-out rule for espeak-ng variants: ~10 % dev, ~10 % test, by name hash."""
    bucket = zlib.crc32(name.encode()) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def _run(cmd: list[str]) -> bytes:
    result = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


@cache
def espeak_accents() -> dict[str, str]:
    """English espeak-ng voice files -> language name (mbrola voices left out: they need mbrola)."""
    accents: dict[str, str] = {}
    for line in _run(["espeak-ng", "--voices=en"]).decode().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("gmw/"):
            accents.setdefault(cols[4], cols[1])
    return accents


@cache
def espeak_variants() -> tuple[str, ...]:
    """espeak-ng speaker variant names, without the excluded ones."""
    names = []
    for line in _run(["espeak-ng", "--voices=variant"]).decode().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].removeprefix("!v/") not in EXCLUDED_VARIANTS:
            names.append(cols[4].removeprefix("!v/"))
    return tuple(names)


@cache
def espeak_voices() -> tuple[Voice, ...]:
    """English espeak-ng voices (accent files x distinct speaker variants), with their split."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng not found: install it (apt-get install espeak-ng)")
    accents, names = espeak_accents(), espeak_variants()
    with ThreadPoolExecutor(8) as pool:  # subprocess-bound: threads are enough
        probes = pool.map(
            lambda v: _run(["espeak-ng", "--stdout", "-v", v, "one two three"]),
            ["en-us"] + [f"en-us+{n}" for n in names],
        )
    seen_audio: set[bytes] = set()
    variants: list[str] = []
    for name, audio in zip(["", *names], probes):
        if audio not in seen_audio:  # some variant files are copies of others
            seen_audio.add(audio)
            variants.append(name)
    if not accents:
        raise RuntimeError("espeak-ng has no English voices (espeak-ng --voices=en is empty)")
    voices = []
    for variant in sorted(variants):
        split = "train" if variant == "" else _split_of(variant)
        for file, lang in sorted(accents.items()):
            suffix = f"+{variant}" if variant else ""
            voices.append(Voice("espeak-ng", file + suffix, lang + suffix, split))
    return tuple(voices)


@cache
def flite_voices() -> tuple[Voice, ...]:
    """flite's built-in voices that have a split (empty when flite is not installed)."""
    if shutil.which("flite") is None:
        return ()
    listed = _run(["flite", "-lv"]).decode().split(":", 1)[-1].split()
    return tuple(Voice("flite", v, v, FLITE_SPLITS[v]) for v in listed if v in FLITE_SPLITS)


def plan_corpus(
    hours: float,
    seed: int = 0,
    flite_share: float = 0.15,
    clean_fraction: float = 0.5,
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> list[Utterance]:
    """Draw every utterance of a corpus of about `hours` hours (estimated from word counts)."""
    if not 0 < hours <= MAX_HOURS:  # also refuses NaN and infinity (a plan that never ends)
        raise RuntimeError(f"--hours must be > 0 and at most {MAX_HOURS:g}, got {hours}")
    for name, value in (("flite share", flite_share), ("clean fraction", clean_fraction)):
        if not 0 <= value <= 1:
            raise RuntimeError(f"{name} must be between 0 and 1, got {value}")
    if min(dev_fraction, test_fraction) < 0 or dev_fraction + test_fraction >= 1:
        raise RuntimeError("dev and test fractions must be >= 0 and sum to less than 1")
    rng = random.Random(seed)
    pools = {s: {"espeak-ng": [], "flite": []} for s in SPLITS}
    for voice in espeak_voices() + flite_voices():
        pools[voice.split][voice.engine].append(voice)
    sentences = iter_labelled(seed)
    seen: set[str] = set()
    plan: list[Utterance] = []
    targets = {
        "test": test_fraction,
        "dev": dev_fraction,
        "train": 1 - dev_fraction - test_fraction,
    }
    for split in ("test", "dev", "train"):
        budget, n_split = hours * 3600 * targets[split], 0
        while budget > 0 or (split != "train" and n_split < 2):
            category, raw = next(sentences)
            text = normalize_text(raw)
            if text in seen or not text:
                continue
            seen.add(text)
            engines = pools[split]
            use_flite = engines["flite"] and rng.random() < flite_share
            voice = rng.choice(engines["flite" if use_flite else "espeak-ng"])
            words = len(text.split())
            if voice.engine == "flite":
                low, high = FLITE_F0[voice.name]
                rate, pitch = round(rng.uniform(*FLITE_STRETCH), 2), float(rng.randint(low, high))
                estimate = words / FLITE_WORDS_PER_SECOND * rate
            else:
                rate, pitch = float(rng.randint(*ESPEAK_WPM)), float(rng.randint(*ESPEAK_PITCH))
                estimate = ESPEAK_DURATION_SCALE * words * 60 / rate
            margins = (round(rng.uniform(*MARGIN_S), 2), round(rng.uniform(*MARGIN_S), 2))
            clean = n_split % 2 == 0 if split != "train" else rng.random() < clean_fraction
            chain = () if clean else tuple(sample_chain(rng, noisy=split != "train"))
            spoken = spoken_form(raw)
            utt = Utterance(
                len(plan), split, category, raw, text, spoken, voice, rate, pitch, margins, chain
            )
            plan.append(utt)
            budget -= estimate + sum(margins)
            n_split += 1
    return plan


def _synthesise(utt: Utterance, rate: float) -> np.ndarray:
    """Run the engine and return float32 mono audio at SAMPLE_RATE."""
    if utt.voice.engine == "espeak-ng":
        cmd = ["espeak-ng", "--stdout", "-v", utt.voice.name, "-s", str(int(rate))]
        cmd += ["-p", str(int(utt.pitch)), utt.spoken]
        audio, sr = sf.read(io.BytesIO(_run(cmd)), dtype="float32")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.wav")
            cmd = ["flite", "-voice", utt.voice.name, "--setf", f"duration_stretch={rate}"]
            cmd += ["--setf", f"int_f0_target_mean={utt.pitch}", "-t", utt.spoken, "-o", path]
            _run(cmd)
            audio, sr = sf.read(path, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        audio = soxr.resample(audio, sr, SAMPLE_RATE)
    return np.asarray(audio, dtype=np.float32)


def trim_silence(x: np.ndarray, margins: tuple[float, float], sr: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading/trailing silence down to `margins` seconds (padding zeros where shorter)."""
    frame = sr // 100
    n = x.size // frame
    if n == 0:
        return x
    energy = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(energy > energy.max() - TRIM_DB)
    start, end = active[0] * frame, min(x.size, (active[-1] + 1) * frame)
    lead, tail = (int(m * sr) for m in margins)
    head = x[max(0, start - lead) : start]
    rear = x[end : end + tail]
    return np.concatenate(
        [
            np.zeros(lead - head.size, np.float32),
            head,
            x[start:end],
            rear,
            np.zeros(tail - rear.size, np.float32),
        ]
    )


def render(utt: Utterance, seed: int) -> tuple[np.ndarray, str]:
    """Audio and augment description of one planned utterance (deterministic)."""
    rate = utt.rate
    for _ in range(3):
        audio = trim_silence(_synthesise(utt, rate), utt.margins)
        seconds = audio.size / SAMPLE_RATE
        if seconds <= MAX_SECONDS:
            break
        scale = seconds / (MAX_SECONDS * 0.95)  # re-synthesise faster
        rate = (
            min(rate * scale, 400.0) if utt.voice.engine == "espeak-ng" else max(rate / scale, 0.5)
        )
    chain = []
    for effect in utt.chain:  # keep speed perturbation within the length cap
        if effect.name == "speed":
            effect = Effect("speed", max(effect.value, round(seconds / MAX_SECONDS + 0.005, 2)))
        chain.append(effect)
    rng = np.random.default_rng([seed, utt.index])
    audio = apply_chain(audio, chain, SAMPLE_RATE, rng)
    if audio.size > MAX_SECONDS * SAMPLE_RATE:
        factor = audio.size / (MAX_SECONDS * SAMPLE_RATE) + 0.005
        audio = speed_perturb(audio, factor, SAMPLE_RATE)[: int(MAX_SECONDS * SAMPLE_RATE)]
        chain.append(Effect("speed", round(factor, 2)))
    return audio, describe(chain)


def _render_to_file(job: tuple[Utterance, str, int]) -> dict:
    utt, out_dir, seed = job
    audio, augment = render(utt, seed)
    sf.write(os.path.join(out_dir, utt.audio_path), audio, SAMPLE_RATE, subtype="PCM_16")
    return {
        "id": f"{utt.split}_{utt.index:06d}",
        "audio": utt.audio_path,
        "text": utt.text,
        "raw": utt.raw,
        "duration": round(audio.size / SAMPLE_RATE, 4),
        "voice": utt.voice.id,
        "augment": augment,
        "split": utt.split,
        "category": utt.category,
    }


def _rows(plan: list[Utterance], out_dir: Path, seed: int, workers: int) -> Iterator[dict]:
    jobs = [(utt, str(out_dir), seed) for utt in plan]
    if workers == 1:
        yield from map(_render_to_file, jobs)
        return
    with get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_render_to_file, jobs, chunksize=4)


def synthesize_corpus(
    out_dir: str | Path,
    hours: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    flite_share: float = 0.15,
    clean_fraction: float = 0.5,
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write out_dir/audio/*.wav and out_dir/{train,dev,test}.jsonl; return (and write to
    out_dir/synth.json) a summary: hours, utterances, voices and distinct words per split."""
    out_dir = Path(out_dir)
    workers = workers or os.cpu_count() or 1
    if not 1 <= workers <= MAX_WORKERS:
        raise RuntimeError(f"--workers must be 1-{MAX_WORKERS} (0: one per CPU), got {workers}")
    if (out_dir / "train.jsonl").exists() and not overwrite:
        raise RuntimeError(f"{out_dir} already holds a corpus (use --overwrite to replace it)")
    started = time.perf_counter()
    plan = plan_corpus(hours, seed, flite_share, clean_fraction, dev_fraction, test_fraction)
    try:
        (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RuntimeError(
            f"--out {out_dir}: cannot create {out_dir / 'audio'} ({e.strerror})"
        ) from e
    for stale in (out_dir / "audio").glob("*.wav"):  # only reached for a new or --overwrite corpus
        if AUDIO_NAME.fullmatch(stale.name):
            stale.unlink()
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    bar = tqdm(total=len(plan), unit="utt", desc="synth", disable=not progress)
    for row in _rows(plan, out_dir, seed, workers):
        rows[row["split"]].append(row)
        bar.update()
    bar.close()
    for split, split_rows in rows.items():
        with open(out_dir / f"{split}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in split_rows)
    summary = {
        "seed": seed,
        "hours_requested": hours,
        "seconds_elapsed": round(time.perf_counter() - started, 1),
        "splits": {
            split: {
                "utterances": len(r),
                "hours": round(sum(x["duration"] for x in r) / 3600, 4),
                "voices": len({x["voice"] for x in r}),
                "distinct_words": len({w for x in r for w in x["text"].split()}),
                "clean": sum(x["augment"] == "clean" for x in r),
            }
            for split, r in rows.items()
        },
    }
    (out_dir / "synth.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def written(out_dir: Path, summary: dict) -> dict:
    """`data synth --json`: the summary with the paths written and the corpus totals."""
    splits = summary["splits"]
    return {
        "out": str(out_dir),
        "manifests": {split: str(out_dir / f"{split}.jsonl") for split in splits},
        "audio_dir": str(out_dir / "audio"),
        "summary": str(out_dir / "synth.json"),
        "utterances": sum(s["utterances"] for s in splits.values()),
        "hours": round(sum(s["hours"] for s in splits.values()), 4),
        **summary,
    }


def add_synth_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of `echo-edge data synth`."""
    from echo_edge.cli import number, workers_arg

    fraction = number(0.0, 1.0)
    share = number(0.0, 1.0, below=True)
    parser.add_argument("--out", required=True, type=Path, help="corpus directory to write")
    parser.add_argument(
        "--hours",
        type=number(0.0, MAX_HOURS, above=True),
        default=1.0,
        help="total audio to synthesise",
    )
    parser.add_argument(
        "--seed", type=number(0, 2**32 - 1, integer=True), default=0, help="same seed, same corpus"
    )
    parser.add_argument(
        "--workers",
        type=workers_arg,
        default=os.cpu_count() or 1,
        help="processes (0: one per CPU)",
    )
    parser.add_argument("--flite-share", type=fraction, default=0.15, help="utterances by flite")
    parser.add_argument("--clean-fraction", type=fraction, default=0.5, help="train left clean")
    parser.add_argument("--dev-fraction", type=share, default=0.05, help="share of hours")
    parser.add_argument("--test-fraction", type=share, default=0.05, help="share of hours")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print what was written (counts, hours, paths) as one JSON object on stdout",
    )


def run_synth(args: argparse.Namespace) -> int:
    """Run `echo-edge data synth`; RuntimeError carries one line for the CLI to print."""
    summary = synthesize_corpus(
        args.out,
        args.hours,
        args.seed,
        args.workers,
        args.flite_share,
        args.clean_fraction,
        args.dev_fraction,
        args.test_fraction,
        args.overwrite,
    )
    if getattr(args, "json", False):
        print(json.dumps(written(Path(args.out), summary), indent=2))
        return 0
    for split, s in summary["splits"].items():
        print(
            f"{split}: {s['utterances']} utterances, {s['hours']:.2f} h, {s['voices']} voices, "
            f"{s['distinct_words']} distinct words, {s['clean']} clean"
        )
    print(f"wrote {args.out} in {summary['seconds_elapsed']} s")
    return 0
