"""Speech data for training and evaluation: manifests, LibriSpeech, a Dataset and a collator.

Rows are dicts with at least "audio" (an absolute path once read) and "text". The readers
are torch-free; `SpeechDataset` and `SpeechCollator` follow Hugging Face conventions
(`input_values`, `attention_mask`, `labels` padded with -100).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus.online import AugmentConfig, Augmenter, augment_config
from echo_edge.text import normalize_text
from echo_edge.tokenizer import EchoTokenizer

try:
    from torch.utils.data import Dataset
except ImportError:  # the readers stay usable where torch is absent
    Dataset = object  # type: ignore[assignment,misc]

IGNORE_INDEX = -100  # label padding that the loss skips (HF convention)
AUDIO_KEYS = ("audio", "audio_filepath", "path")  # ours, NeMo-style, generic
TEXT_KEYS = ("text", "transcript", "sentence")
# `join_prob`: silence between a row and the row joined after it, drawn uniformly (seconds):
# from a pause between words to the 0.6 s that ends an utterance in the stream.
JOIN_GAP_SECONDS = (0.1, 0.6)
JOIN_STREAM = 0x4A4F494E  # the join's random stream, apart from the augmenter's (seed, i, r)
CUT_STREAM = 0x43555421  # the cut's (cut_prob)


def _first(row: dict, keys: Sequence[str]) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


class NoRowsError(ValueError):
    """Nothing usable is left of a manifest (empty, every row bad or filtered): exit status 2."""

    exit_status = 2


def read_manifest(
    path: str | Path, skipped: list[str] | None = None, check_audio: bool = False
) -> list[dict]:
    """Rows of a JSONL manifest; "audio" resolved against the manifest's directory.

    Accepts our corpus manifests and any JSONL with an audio path ("audio",
    "audio_filepath" or "path") and a transcript ("text", "transcript" or "sentence");
    other fields are kept. A malformed row (bad JSON or UTF-8, no audio or text, with
    `check_audio` an audio path that is not a non-empty file) raises ValueError naming the
    file and line, or, given a `skipped` list, is left out and described there.
    """
    from echo_edge.audio import AudioError, check_audio_file

    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise ValueError(f"{path}: is a directory, not a JSONL manifest")
        raise FileNotFoundError(f"manifest not found: {path}")
    base = path.resolve().parent
    rows = []
    try:
        with open(path, "rb") as f:
            lines = list(f)
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    for lineno, raw in enumerate(lines, 1):
        try:
            row = _parse_row(raw, lineno == 1)
            if row is None:
                continue
            audio_path = base / Path(str(row["audio"])).expanduser()
            if check_audio:
                try:
                    check_audio_file(audio_path)
                except AudioError as e:
                    raise ValueError(f"audio {e}") from None
        except ValueError as e:
            problem = f"{path}:{lineno}: {e}"
            if skipped is None:
                raise ValueError(problem) from None
            skipped.append(problem)
            continue
        rows.append({**row, "audio": str(audio_path), "text": str(row["text"])})
    return rows


def _parse_row(raw: bytes, first: bool) -> dict | None:
    """One manifest line -> the row with "audio" and "text" set (None for a blank line)."""
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte {e.start})") from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg})") from None
    if not isinstance(row, dict):
        raise ValueError("a row must be a JSON object")
    audio, text = _first(row, AUDIO_KEYS), _first(row, TEXT_KEYS)
    if audio is None or text is None:
        raise ValueError('a row needs "audio" and "text"')
    if not isinstance(audio, str) or not audio.strip():
        raise ValueError(f'"audio" must be a file path, got {audio!r}')
    return {**row, "audio": audio, "text": text}


def skipped_summary(
    skipped: Sequence[str], total: int, source: str | Path | None = None, shown: int = 3
) -> str:
    """One line: how many rows were skipped, of how many, and the first few reasons
    ("<source>:<n>: why" shortened to "line <n>: why")."""
    prefix = f"{source}:" if source is not None else None
    reasons = [
        f"line {r[len(prefix) :]}" if prefix and r.startswith(prefix) else r
        for r in skipped[:shown]
    ]
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"skipped {len(skipped)} of {total} rows ({'; '.join(reasons)}{more})"


def read_librispeech(root: str | Path, with_duration: bool = True) -> list[dict]:
    """Rows for a LibriSpeech tree (speaker/chapter/speaker-chapter.trans.txt + .flac files).

    `root` may be one subset (…/dev-clean) or a directory holding several; text is
    normalised; "duration" is read from the file headers unless `with_duration` is False.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"LibriSpeech directory not found: {root}")
    transcripts = sorted(root.rglob("*.trans.txt"))
    if not transcripts:
        raise ValueError(f"no LibriSpeech transcripts (*.trans.txt) under {root}")
    rows = []
    for trans in transcripts:
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            audio = trans.parent / f"{utt_id}.flac"
            if not audio.is_file():
                raise FileNotFoundError(f"{trans}: audio for {utt_id} is missing ({audio})")
            speaker, chapter = (utt_id.split("-") + ["", ""])[:2]
            row = {
                "id": utt_id,
                "audio": str(audio.resolve()),
                "text": normalize_text(text),
                "speaker": speaker,
                "chapter": chapter,
            }
            if with_duration:
                row["duration"] = round(sf.info(str(audio)).duration, 4)
            rows.append(row)
    return rows


def row_duration(row: dict) -> float:
    """Duration in seconds: the row's "duration" or, failing that, the file header."""
    if row.get("duration") is not None:
        duration = float(row["duration"])
        if not duration >= 0 or duration == float("inf"):
            raise ValueError(f"{row['audio']}: duration must be a finite number >= 0")
        return duration
    try:
        return float(sf.info(row["audio"]).duration)
    except (RuntimeError, OSError, ValueError, TypeError) as e:
        raise ValueError(f"{row['audio']}: unreadable audio ({_oneline(e)})") from None


def _oneline(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class SpeechDataset(Dataset):
    """Map-style dataset: {"input_values": float32 waveform at 16 kHz, "labels": ids + eos}.

    Rows longer than `max_seconds` are left out (never truncated: the label would lie).
    `lengths` (samples per row) lets a trainer group batches by length.

    `augment` (a preset name of echo_edge.corpus.online or an AugmentConfig) runs the online
    waveform chain every time an item is read, so every epoch hears new audio. `speed_perturb`
    (low, high) is the chain's speed effect on every read (Kaldi-style resampling: tempo, pitch
    and formants move together, so a fixed synthetic voice yields a new "speaker" every epoch);
    with `augment` too, it replaces the preset's speed effect.

    `join_prob`: the chance that an item is the row followed by another row (drawn at random)
    after JOIN_GAP_SECONDS of silence, their texts joined, when both fit in `max_seconds`. The
    augmentation chain then runs over the whole: one room, one noise. A model trained on one
    sentence per utterance reads two sentences in one segment badly, and a stream's segments
    (someone talking on) hold more than one.

    `cut_prob`: the chance that an item is one side of a cut between two of its words: the
    words before the cut or those after it (even odds), audio cut halfway between the two
    words' times, the text those words. Needs the row's "words" (`echo-edge data align`: one
    [start, end] per word of its normalised text); other rows are never cut. A stream's
    endpointer cuts long utterances at short pauses, often inside a sentence. The cut comes
    before the join, so a joined pair may hold a half.

    Reproducibility: the r-th read of item i is augmented from (seed, i, r), whichever worker
    reads it. r comes from a per-index draw counter in shared memory (a torch tensor the
    DataLoader's workers share), not from the epoch: the epoch reaches a Dataset only through
    `set_epoch`, which Trainer calls in the main process, so workers that persist across epochs
    would keep a stale copy, and a per-worker counter would depend on which worker drew which
    index. A sampler that visits each index once per epoch makes r the epoch. `set_epoch(e)`
    (Hugging Face Trainer calls it before every epoch, also after a resume) raises every counter
    to at least e, so a resumed run does not replay the draws of the epochs it already trained.
    """

    def __init__(
        self,
        rows: Sequence[dict],
        tokenizer: EchoTokenizer,
        max_seconds: float | None = None,
        speed_perturb: tuple[float, float] | None = None,
        augment: str | AugmentConfig | None = None,
        seed: int = 0,
        join_prob: float = 0.0,
        cut_prob: float = 0.0,
    ) -> None:
        if not 0.0 <= join_prob <= 1.0:
            raise ValueError(f"the join probability must be in [0, 1], got {join_prob}")
        if not 0.0 <= cut_prob <= 1.0:
            raise ValueError(f"the cut probability must be in [0, 1], got {cut_prob}")
        if speed_perturb is not None and not 0 < speed_perturb[0] <= speed_perturb[1]:
            raise ValueError(f"speed perturbation needs 0 < low <= high, got {speed_perturb}")
        config = augment_config(augment) if isinstance(augment, str) else augment
        config = config or augment_config("none")
        if speed_perturb is not None:
            config = replace(config, speed_prob=1.0, speed=tuple(map(float, speed_perturb)))
        durations: list[float | None] = []
        self.unreadable: list[str] = []  # rows left out because their audio cannot be read
        from echo_edge.audio import check_audio_file

        for row in rows:
            try:
                check_audio_file(row["audio"])  # a stat: even rows that carry a duration
                durations.append(row_duration(row))
            except ValueError as e:
                durations.append(None)
                self.unreadable.append(str(e))
        keep = [
            i
            for i, d in enumerate(durations)
            if d is not None and (max_seconds is None or d <= max_seconds)
        ]
        self.rows = [rows[i] for i in keep]
        self.lengths = [int(durations[i] * SAMPLE_RATE) for i in keep]
        self.dropped = len(rows) - len(keep) - len(self.unreadable)  # longer than max_seconds
        self.tokenizer = tokenizer
        self.speed_perturb = speed_perturb
        self.augmenter = Augmenter(config, seed, rows=self.rows) if config.active else None
        self.join_prob, self.cut_prob, self.seed = join_prob, cut_prob, seed
        self.max_samples = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        self.draws = None  # (len,) int64 in shared memory: reads of each item so far
        if self.augmenter is not None or join_prob > 0 or cut_prob > 0:
            import torch

            self.draws = torch.zeros(len(self.rows), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Every item's next draw is at least `epoch` (Trainer calls this before each epoch)."""
        if self.draws is not None:
            self.draws.clamp_(min=int(epoch))

    def __getitem__(self, index: int) -> dict[str, Any]:
        from echo_edge.audio import load_audio

        row = self.rows[index]
        samples = load_audio(row["audio"], sample_rate=SAMPLE_RATE)
        text, draw = row["text"], 0
        if self.draws is not None:
            draw = int(self.draws[index])
            self.draws[index] = draw + 1
        if self.cut_prob > 0:
            samples, text = self._cut(index, draw, samples, text)
        if self.join_prob > 0:
            samples, text = self._join(index, draw, samples, text)
        if self.augmenter is not None:
            samples, _ = self.augmenter(samples, index, draw)
        labels = self.tokenizer.encode(text) + [self.tokenizer.eos_id]
        return {"input_values": np.asarray(samples, dtype=np.float32), "labels": labels}

    def _cut(self, index: int, draw: int, samples: np.ndarray, text: str) -> tuple[np.ndarray, str]:
        """Item `index` at read `draw`, maybe one side of a cut between two words (`cut_prob`)."""
        spans = self.rows[index].get("words")
        words = normalize_text(text).split()
        if not spans or len(spans) < 2 or len(spans) != len(words):
            return samples, text
        rng = np.random.default_rng((self.seed, index, draw, CUT_STREAM))
        if rng.random() >= self.cut_prob:
            return samples, text
        k = int(rng.integers(1, len(words)))  # the cut falls between words k - 1 and k
        at = int(round((spans[k - 1][1] + spans[k][0]) / 2 * SAMPLE_RATE))
        at = min(max(at, 1), len(samples) - 1)
        if rng.random() < 0.5:
            return samples[:at], " ".join(words[:k])
        return samples[at:], " ".join(words[k:])

    def _join(
        self, index: int, draw: int, samples: np.ndarray, text: str
    ) -> tuple[np.ndarray, str]:
        """Item `index` at read `draw`, maybe with another row after a pause (`join_prob`)."""
        from echo_edge.audio import load_audio

        rng = np.random.default_rng((self.seed, index, draw, JOIN_STREAM))
        if len(self.rows) < 2 or rng.random() >= self.join_prob:
            return samples, text
        other = int(rng.integers(len(self.rows) - 1))
        other += other >= index  # any row but this one
        gap = int(rng.uniform(*JOIN_GAP_SECONDS) * SAMPLE_RATE)
        total = len(samples) + gap + self.lengths[other]
        if self.max_samples is not None and total > self.max_samples:
            return samples, text
        second = load_audio(self.rows[other]["audio"], sample_rate=SAMPLE_RATE)
        pause = np.zeros(gap, np.float32)
        joined = np.concatenate([np.asarray(samples, np.float32), pause, second])
        return joined, f"{text} {self.rows[other]['text']}"


class SpeechCollator:
    """Pads a list of dataset items into a batch of torch tensors.

    input_values (B, N) float32 zero-padded, attention_mask (B, N) long (1 = real sample),
    labels (B, L) long padded with -100. With `pad_to_seconds`, N is exactly that many
    seconds of samples for every batch (longer audio is cut), as the seed models expect.
    """

    def __init__(self, pad_to_seconds: float | None = None) -> None:
        self.pad_to_seconds = pad_to_seconds

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        waves = [np.asarray(f["input_values"], dtype=np.float32).reshape(-1) for f in features]
        if self.pad_to_seconds is not None:
            n = int(round(self.pad_to_seconds * SAMPLE_RATE))
        else:
            n = max((w.size for w in waves), default=0)
        input_values = torch.zeros(len(waves), n, dtype=torch.float32)  # (B, N)
        attention_mask = torch.zeros(len(waves), n, dtype=torch.long)  # (B, N)
        for i, w in enumerate(waves):
            k = min(w.size, n)
            input_values[i, :k] = torch.from_numpy(w[:k])
            attention_mask[i, :k] = 1
        batch: dict[str, Any] = {"input_values": input_values, "attention_mask": attention_mask}
        if features and "labels" in features[0]:
            seqs = [list(f["labels"]) for f in features]
            width = max(len(s) for s in seqs)
            labels = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)  # (B, L)
            for i, s in enumerate(seqs):
                labels[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            batch["labels"] = labels
        return batch
