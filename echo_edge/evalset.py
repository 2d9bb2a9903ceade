"""Evaluation speech for `echo-edge verify` and `echo-edge bench`, torch-free.

The default set is synthesised on the spot with espeak-ng voices that the corpus holds out
for its test split (so the shipped model never trained on them), reading sentences that are
not in the calibration set. A JSONL manifest (ours, or any a user writes) can stand in.
`utterance_of_length` glues eval speech into audio of an exact length for latency sweeps.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from echo_edge.text import normalize_text

DEFAULT_COUNT = 8  # utterances in the default synthesised set
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

    @property
    def seconds(self) -> float:
        return len(self.audio) / C.SAMPLE_RATE


def held_out_voices() -> list[tuple[str, int]]:
    """espeak-ng voices of the corpus's test split (voice name, words per minute).

    The same hold-out rule as `echo-edge data synth` (synth._split_of on the variant name),
    without its slow de-duplication probe; one variant per accent file in turn."""
    from echo_edge.synth import _split_of, espeak_accents, espeak_variants

    try:
        accents, variants = sorted(espeak_accents()), sorted(espeak_variants())
    except (RuntimeError, OSError):
        return list(FALLBACK_VOICES)
    held_out = [v for v in variants if _split_of(v) == "test"]
    if not accents or not held_out:
        return list(FALLBACK_VOICES)
    count = max(len(held_out), DEFAULT_COUNT)
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


def synthesize_eval_set(count: int = DEFAULT_COUNT) -> list[EvalUtterance]:
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
    """A manifest's utterances (`data`), or the default synthesised set."""
    if data is not None:
        return load_eval_set(data, limit)
    return synthesize_eval_set(limit or DEFAULT_COUNT)


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
