"""`echo-edge data synth`: a synthetic speech corpus from several engines (echo_edge.corpus.engines:
espeak-ng, flite, piper, kokoro; festival for test rows only).

The corpus is planned up front in one process (sentences, engines, voices, their settings and
augmentation chains, all drawn from `--seed`), then rendered in a multiprocessing pool:
synthesise, resample to 16 kHz with soxr, trim silence to a short margin, augment, write
PCM16 WAV. Splits hold out voices (every engine assigns its voices to train/dev/test by a fixed
rule, the same for every seed) and sentences (no normalised text appears twice in a corpus).
Test and dev alternate clean and noisy utterances.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil  # noqa: F401 (tests patch synth.shutil.which to hide the synthesisers)
import time
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus import engines
from echo_edge.corpus.augment import Effect, apply_chain, describe, sample_chain, speed_perturb
from echo_edge.corpus.engines import Utterance, Voice
from echo_edge.corpus.espeak import (  # noqa: F401 (evalset and tests read these from synth)
    ESPEAK_PITCH,
    ESPEAK_WPM,
    _split_of,
    espeak_accents,
    espeak_variants,
    espeak_voices,
)
from echo_edge.corpus.flite import FLITE_F0, FLITE_SPLITS, FLITE_STRETCH, flite_voices  # noqa: F401
from echo_edge.corpus.textgen import iter_labelled
from echo_edge.text import normalize_text, spoken_form

__all__ = ["Utterance", "Voice", "plan_corpus", "render", "synthesize_corpus"]

SPLITS = ("train", "dev", "test")
AUDIO_NAME = re.compile(r"(train|dev|test)_\d{6}\.wav")  # files this module writes
MAX_SECONDS = 10.0  # utterance cap (after augmentation)
MARGIN_S = (0.1, 0.3)  # silence kept before and after speech
TRIM_DB = 40.0  # frames this far below the loudest 10 ms frame count as silence
MAX_HOURS = 10000.0  # more is a typo (the plan alone would fill memory)
MAX_WORKERS = 2 * (os.cpu_count() or 1)  # more processes only queue for the same cores
EVALUATION_ONLY = frozenset({"festival"})  # engines that may write test rows only


def default_shares(flite_share: float = 0.15) -> dict[str, float]:
    """Today's corpus: flite for `flite_share` of the utterances, espeak-ng for the rest
    (flite left out, as before, where it is not installed)."""
    shares = {"flite": flite_share, "espeak-ng": 1 - flite_share}
    return shares if engines.get("flite").available() else {"espeak-ng": 1.0}


def _pools(shares: dict[str, float]) -> dict[str, list[tuple[str, float, list[Voice]]]]:
    """split -> [(engine, share, voices of that split)] for the engines with a share."""
    pools: dict[str, list[tuple[str, float, list[Voice]]]] = {s: [] for s in SPLITS}
    for name, share in shares.items():
        if share <= 0:
            continue
        voices = engines.require(name).voices()
        for split in SPLITS:
            owned = [v for v in voices if v.split == split]
            if owned:
                pools[split].append((name, share, owned))
    return pools


def _pick(rng: random.Random, pool: list[tuple[str, float, list[Voice]]]) -> Voice:
    """An engine by its share (renormalised over the engines with voices here), then a voice."""
    if len(pool) == 1:
        return rng.choice(pool[0][2])
    u, total = rng.random() * sum(share for _, share, _ in pool), 0.0
    for _, share, voices in pool:
        total += share
        if u < total:
            return rng.choice(voices)
    return rng.choice(pool[-1][2])


def plan_corpus(
    hours: float,
    seed: int = 0,
    flite_share: float = 0.15,
    clean_fraction: float = 0.5,
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
    shares: dict[str, float] | None = None,
    test_only: bool = False,
) -> list[Utterance]:
    """Draw every utterance of a corpus of about `hours` hours (estimated from word counts).

    `shares` (engine -> share of utterances) replaces the default espeak-ng/flite mix;
    `test_only` plans the test split alone (all `hours` of it), the one place festival may go."""
    if not 0 < hours <= MAX_HOURS:  # also refuses NaN and infinity (a plan that never ends)
        raise RuntimeError(f"--hours must be > 0 and at most {MAX_HOURS:g}, got {hours}")
    for name, value in (("flite share", flite_share), ("clean fraction", clean_fraction)):
        if not 0 <= value <= 1:
            raise RuntimeError(f"{name} must be between 0 and 1, got {value}")
    if min(dev_fraction, test_fraction) < 0 or dev_fraction + test_fraction >= 1:
        raise RuntimeError("dev and test fractions must be >= 0 and sum to less than 1")
    shares = default_shares(flite_share) if shares is None else shares
    if not shares or any(not 0 <= v < float("inf") for v in shares.values()):
        raise RuntimeError(f"engine shares must be finite and >= 0, got {shares}")
    if sum(shares.values()) <= 0:
        raise RuntimeError("engine shares sum to 0: give at least one engine a share")
    held = sorted(n for n in EVALUATION_ONLY if shares.get(n, 0) > 0)
    if held and not test_only:
        raise RuntimeError(
            f"{', '.join(held)} is for evaluation only and may write test rows only: add --test-only"
        )
    rng = random.Random(seed)
    pools = _pools(shares)
    sentences = iter_labelled(seed)
    seen: set[str] = set()
    plan: list[Utterance] = []
    if test_only:
        targets = {"test": 1.0, "dev": 0.0, "train": 0.0}
    else:
        targets = {"test": test_fraction, "dev": dev_fraction}
        targets["train"] = 1 - dev_fraction - test_fraction
    for split in ("test", "dev", "train"):
        if targets[split] == 0 and test_only:
            continue
        if not pools[split]:
            raise RuntimeError(f"no engine given has a {split} voice ({', '.join(shares)})")
        budget, n_split = hours * 3600 * targets[split], 0
        while budget > 0 or (split != "train" and n_split < 2):
            category, raw = next(sentences)
            text = normalize_text(raw)
            if text in seen or not text:
                continue
            seen.add(text)
            voice = _pick(rng, pools[split])
            engine = engines.get(voice.engine)
            rate, pitch, extra = engine.draw(voice, rng)
            estimate = engine.seconds(len(text.split()), rate)
            margins = (round(rng.uniform(*MARGIN_S), 2), round(rng.uniform(*MARGIN_S), 2))
            clean = n_split % 2 == 0 if split != "train" else rng.random() < clean_fraction
            chain = () if clean else tuple(sample_chain(rng, noisy=split != "train"))
            spoken = spoken_form(raw)
            plan.append(
                Utterance(
                    len(plan),
                    split,
                    category,
                    raw,
                    text,
                    spoken,
                    voice,
                    rate,
                    pitch,
                    margins,
                    chain,
                    extra,
                )
            )
            budget -= estimate + sum(margins)
            n_split += 1
    return plan


def _synthesise(utt: Utterance, rate: float) -> np.ndarray:
    """Run the utterance's engine: float32 mono audio at SAMPLE_RATE."""
    return engines.get(utt.voice.engine).synthesise(utt, rate)


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
    engine, rate = engines.get(utt.voice.engine), utt.rate
    for _ in range(3):
        audio = trim_silence(_synthesise(utt, rate), utt.margins)
        seconds = audio.size / SAMPLE_RATE
        if seconds <= MAX_SECONDS:
            break
        rate = engine.faster(rate, seconds / (MAX_SECONDS * 0.95))  # re-synthesise faster
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
    engine = engines.get(utt.voice.engine)
    audio, augment = render(utt, seed)
    sf.write(os.path.join(out_dir, utt.audio_path), audio, SAMPLE_RATE, subtype="PCM_16")
    return {
        "id": f"{utt.split}_{utt.index:06d}",
        "audio": utt.audio_path,
        "text": utt.text,
        "raw": utt.raw,
        "duration": round(audio.size / SAMPLE_RATE, 4),
        "engine": utt.voice.engine,
        "voice": utt.voice.id,
        "licence": engine.licence,
        "settings": engine.settings(utt),
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
    shares: dict[str, float] | None = None,
    test_only: bool = False,
) -> dict:
    """Write out_dir/audio/*.wav and out_dir/{train,dev,test}.jsonl; return (and write to
    out_dir/synth.json) a summary: hours, utterances, voices and distinct words per split."""
    out_dir = Path(out_dir)
    workers = workers or os.cpu_count() or 1
    if not 1 <= workers <= MAX_WORKERS:
        raise RuntimeError(f"--workers must be 1-{MAX_WORKERS} (0: one per CPU), got {workers}")
    if any((out_dir / f"{s}.jsonl").exists() for s in SPLITS) and not overwrite:
        raise RuntimeError(f"{out_dir} already holds a corpus (use --overwrite to replace it)")
    started = time.perf_counter()
    plan = plan_corpus(
        hours, seed, flite_share, clean_fraction, dev_fraction, test_fraction, shares, test_only
    )
    try:
        (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RuntimeError(
            f"--out {out_dir}: cannot create {out_dir / 'audio'} ({e.strerror})"
        ) from e
    for stale in (out_dir / "audio").glob("*.wav"):  # only reached for a new or --overwrite corpus
        if AUDIO_NAME.fullmatch(stale.name):
            stale.unlink()
    rows: dict[str, list[dict]] = {s: [] for s in (("test",) if test_only else SPLITS)}
    for split in SPLITS:  # a test-only corpus leaves no stale train/dev manifest beside it
        (out_dir / f"{split}.jsonl").unlink(missing_ok=True)
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
        "engines": shares or default_shares(flite_share),
        "seconds_elapsed": round(time.perf_counter() - started, 1),
        "splits": {
            split: {
                "utterances": len(r),
                "hours": round(sum(x["duration"] for x in r) / 3600, 4),
                "voices": len({x["voice"] for x in r}),
                "engines": {
                    e: sum(x["engine"] == e for x in r) for e in sorted({x["engine"] for x in r})
                },
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


def engine_share(text: str) -> tuple[str, float]:
    """An argparse `type=` for one --engines item: NAME=SHARE (a known engine, a share >= 0)."""
    name, sep, value = text.partition("=")
    if name not in engines.MODULES:
        raise argparse.ArgumentTypeError(
            f"unknown engine {name!r} (known: {', '.join(engines.MODULES)})"
        )
    try:
        share = float(value) if sep else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=SHARE, got {text!r}") from None
    if not 0 <= share < float("inf"):
        raise argparse.ArgumentTypeError(f"a share must be finite and >= 0, got {text!r}")
    return name, share


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
    parser.add_argument(
        "--engines",
        nargs="+",
        type=engine_share,
        metavar="NAME=SHARE",
        help="engines and their shares of the utterances, normalised over the engines that "
        f"have voices in a split ({', '.join(engines.MODULES)}; festival needs --test-only); "
        "absent: espeak-ng and flite split by --flite-share",
    )
    parser.add_argument(
        "--flite-share",
        type=fraction,
        default=None,
        help="utterances by flite when --engines is absent (0.15 if unset)",
    )
    parser.add_argument(
        "--test-only",
        action="store_true",
        help="plan the test split alone (all --hours of it): an evaluation set, e.g. festival",
    )
    parser.add_argument("--clean-fraction", type=fraction, default=0.5, help="train left clean")
    parser.add_argument("--dev-fraction", type=share, default=0.05, help="share of hours")
    parser.add_argument("--test-fraction", type=share, default=0.05, help="share of hours")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print what was written (counts, hours, paths) as one JSON object on stdout",
    )


def shares_of(args: argparse.Namespace) -> dict[str, float] | None:
    """--engines as a dict (None: the default mix); refuses a name given twice, or
    --flite-share beside --engines (flite's share then goes in --engines)."""
    given = getattr(args, "engines", None)
    if not given:
        return None
    if getattr(args, "flite_share", None) is not None:
        raise RuntimeError("--flite-share and --engines together: give flite's share in --engines")
    shares: dict[str, float] = {}
    for name, value in given:
        if name in shares:
            raise RuntimeError(f"--engines names {name} twice")
        shares[name] = value
    return shares


def run_synth(args: argparse.Namespace) -> int:
    """Run `echo-edge data synth`; RuntimeError carries one line for the CLI to print."""
    shares = shares_of(args)
    flite_share = 0.15 if args.flite_share is None else args.flite_share
    summary = synthesize_corpus(
        args.out,
        args.hours,
        args.seed,
        args.workers,
        flite_share,
        args.clean_fraction,
        args.dev_fraction,
        args.test_fraction,
        args.overwrite,
        shares=shares,
        test_only=getattr(args, "test_only", False),
    )
    if getattr(args, "json", False):
        print(json.dumps(written(Path(args.out), summary), indent=2))
        return 0
    for split, s in summary["splits"].items():
        mix = ", ".join(f"{e} {n}" for e, n in s["engines"].items())
        print(
            f"{split}: {s['utterances']} utterances, {s['hours']:.2f} h, {s['voices']} voices "
            f"({mix}), {s['distinct_words']} distinct words, {s['clean']} clean"
        )
    print(f"wrote {args.out} in {summary['seconds_elapsed']} s")
    return 0
