"""Frontend features computed once per stored utterance, for training (`--feature-cache DIR`).

Every training step used to run the frontend (DC removal, log-mel, YIN pitch, energy,
silence) on every utterance again. The cache keeps those streams in DIR, one .npz per
utterance, named by a sha256 of the audio file (absolute path, size, mtime), the frontend's
settings and FORMAT, so a changed file or frontend never reads stale features. Files are
written on first use (by the data-loader workers, atomically) and read after that.

What is cached is exactly what the model would compute for the utterance in a padded batch:
the frontend over the DC-removed samples followed by zeros. Each entry runs TAIL samples
past the end, so that its last frame reads only zeros; `CachedCollator` pads a batch by
repeating that frame, which is what the frontend gives on zero padding. So a cached batch
gives the loss of the uncached one (within float rounding: tests/test_feature_cache.py).

Waveform-domain augmentation (--augment, --speed-perturb) changes the audio, and so the
features, every epoch: the cache does not apply then (echo_edge.train refuses the pair).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.data import SpeechCollator
from echo_edge.runtime.highpass import CUTOFF_HZ, remove_dc

FORMAT = 1  # bump when what an entry holds or how it is computed changes
STREAMS = ("mel", "pitch", "energy", "silence")  # arrays of an entry, (80, T) (3, T) (T,) (T,)
MODEL_STREAMS = ("mel", "pitch", "silence")  # what Echo.forward takes as `cached`


def frontend_settings(config: EchoConfig) -> dict[str, Any]:
    """Everything the cached streams depend on besides the audio."""
    return {
        "format": FORMAT,
        "f0_min": config.f0_min,
        "f0_max": config.f0_max,
        "silence_dbfs": config.silence_dbfs,
        "dc_cutoff_hz": CUTOFF_HZ,
        "constants": [C.SAMPLE_RATE, C.N_FFT, C.HOP, C.N_MELS, C.YIN_WINDOW, C.YIN_THRESHOLD],
        "log_mel": [C.LOG_MEL_FLOOR, C.LOG_MEL_SHIFT, C.LOG_MEL_SCALE, C.LOG_F0_SCALE],
    }


class FeatureCache:
    """Frontend streams of audio files, computed on first use and kept in `directory`."""

    def __init__(self, directory: str | Path, config: EchoConfig) -> None:
        self.directory = Path(directory)
        self.config = config
        self.settings = json.dumps(frontend_settings(config), sort_keys=True)
        self._frontend = None  # built on first computation (in each worker)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"--feature-cache {directory}: cannot create ({e.strerror or e})"
            ) from None
        if not os.access(self.directory, os.W_OK):
            raise ValueError(f"--feature-cache {directory}: the directory is not writable")

    def path_for(self, audio: str | Path) -> Path:
        """The entry of an audio file: keyed by its path, size, mtime and the settings."""
        audio = Path(audio).resolve()
        stat = audio.stat()
        key = f"{audio}|{stat.st_size}|{stat.st_mtime_ns}|{self.settings}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.npz"

    def get(self, audio: str | Path, samples: np.ndarray) -> dict[str, np.ndarray]:
        """The streams of `audio`, whose 16 kHz samples (N,) are given: read or computed."""
        path = self.path_for(audio)
        if path.is_file():
            try:
                with np.load(path) as entry:
                    return {name: entry[name] for name in STREAMS}
            except (OSError, ValueError, KeyError):
                pass  # a damaged entry is computed again
        streams = self.compute(samples)
        self._write(path, streams)
        return streams

    def compute(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """Streams of one utterance (N,) as a padded batch row would have them, TAIL past N."""
        if self._frontend is None:
            from echo_edge.frontend import Frontend

            cfg = self.config
            self._frontend = Frontend(cfg.f0_min, cfg.f0_max, cfg.silence_dbfs)
        left = self._frontend.left_context
        tail = left + C.HOP  # the last frame of the entry reads only zeros
        wave = np.concatenate([remove_dc(np.asarray(samples, np.float32)), np.zeros(tail)])
        x = torch.from_numpy(wave.astype(np.float32))[None]  # (1, N + TAIL)
        out = self._frontend.compute(x)
        return {name: s[0].numpy() for name, s in zip(STREAMS, out)}

    def _write(self, path: Path, streams: dict[str, np.ndarray]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **streams)
            os.replace(tmp, path)  # workers may write the same entry: last one wins, whole
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise


class CachedFeatureDataset(torch.utils.data.Dataset):
    """A SpeechDataset's items plus their cached mel, pitch and silence (numpy arrays)."""

    def __init__(self, dataset: Any, cache: FeatureCache) -> None:
        self.dataset = dataset
        self.cache = cache
        self.lengths = getattr(dataset, "lengths", None)  # for length-grouped batches

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        streams = self.cache.get(self.dataset.rows[index]["audio"], item["input_values"])
        item.update({name: streams[name] for name in MODEL_STREAMS})
        return item


class CachedCollator(SpeechCollator):
    """SpeechCollator + the cached streams padded to the batch's T = 1 + N // HOP frames
    (by repeating each entry's last, all-zero-audio frame)."""

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        batch = super().__call__(features)
        n = batch["input_values"].shape[1]
        frames = C.num_frames(n)
        for f in features:
            if np.asarray(f["input_values"]).size > n:
                raise ValueError("--feature-cache: an utterance is longer than --pad-to-seconds")
        if not features or "mel" not in features[0]:  # evaluation items: not cached
            return batch
        for name in MODEL_STREAMS:
            rows = [torch.from_numpy(np.asarray(f[name], np.float32)) for f in features]
            batch[name] = torch.stack([fit_frames(r, frames) for r in rows])
        return batch


def fit_frames(stream: torch.Tensor, frames: int) -> torch.Tensor:
    """(..., T') -> (..., frames): cut, or padded with copies of the last frame."""
    if stream.shape[-1] >= frames:
        return stream[..., :frames]
    pad = stream[..., -1:].expand(*stream.shape[:-1], frames - stream.shape[-1])
    return torch.cat([stream, pad], dim=-1)
