"""The PyTorch reference (eager, fp32) as a measured system, on the CPU or a CUDA GPU.

Every timed call ends with a device synchronisation, so GPU times are the work done, not
the launch. The reference has no stream: its "end of speech -> final" is the whole
utterance's features + encoder + greedy decoding, which is what it would cost to answer once
the speech is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from echo_edge import constants as C
from echo_edge.bench.measure import Latency
from echo_edge.checkpoint import ASSETS, load_checkpoint
from echo_edge.decoding import (
    DecodingOptions,
    greedy_decode,
    seconds_of,
    strip_special,
    token_budget,
)
from echo_edge.export.pipeline import load_tokenizer
from echo_edge.model import WEIGHTS_NAME, Features


def weights_path(checkpoint: str | Path | None) -> Path:
    """The checkpoint's model.safetensors (the shipped one for None)."""
    directory = Path(checkpoint) if checkpoint is not None else ASSETS
    return directory if directory.is_file() else directory / WEIGHTS_NAME


class TimedDecoder:
    """A Decoder whose decode_step is timed (synchronised), for the reference greedy loop."""

    def __init__(self, decoder: torch.nn.Module, sync: Callable[[], None]) -> None:
        self.decoder = decoder
        self.config = decoder.config
        self.sync = sync
        self.seconds = 0.0
        self.steps = 0

    def empty_cache(self, *args: object, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder.empty_cache(*args, **kwargs)

    def fit_cache(self, *args: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Timed with the steps (a grown cache is part of what a step costs)."""
        t0 = time.perf_counter()
        out = self.decoder.fit_cache(*args)
        self.seconds += time.perf_counter() - t0
        return out

    def decode_step(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t0 = time.perf_counter()
        out = self.decoder.decode_step(*args)
        self.sync()
        self.seconds += time.perf_counter() - t0
        self.steps += 1
        return out


class ReferenceSystem:
    """load_checkpoint(ckpt) on `device` with the calls the measurements need."""

    def __init__(self, checkpoint: str | None, device: str, threads: int) -> None:
        torch.set_num_threads(threads)
        self.device = torch.device(device)
        t0 = time.perf_counter()
        model, self.trained = load_checkpoint(checkpoint)
        self.model = model.to(self.device).eval()
        self.tokenizer = load_tokenizer(checkpoint, model.config.vocab_size)
        self.sync()
        self.load_seconds = time.perf_counter() - t0
        weights = weights_path(checkpoint)
        self.size_bytes = weights.stat().st_size if weights.is_file() else None
        self.limit_seconds: float | None = None
        self.info = {
            "backend": "pytorch",
            "precision": "fp32",
            "quantization": None,
            "trained": self.trained,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        }
        if self.device.type == "cuda":
            self.info["gpu"] = torch.cuda.get_device_name(self.device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _audio(self, audio: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None].to(self.device)

    @torch.inference_mode()
    def features(self, audio: np.ndarray) -> Features:
        f = self.model.features(self._audio(audio))
        self.sync()
        return f

    @torch.inference_mode()
    def encode(self, features: Features) -> tuple[torch.Tensor, ...]:
        f = features
        out = self.model.encode(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        self.sync()
        return out

    @torch.inference_mode()
    def decode_timed(self, encoded: tuple[torch.Tensor, ...], seconds: float) -> tuple[float, int]:
        decoder = TimedDecoder(self.model.decoder, self.sync)
        samples = torch.tensor([round(seconds * C.SAMPLE_RATE)], device=self.device)
        caps = token_budget(seconds_of(samples), DecodingOptions(), self.model.decoder)
        greedy_decode(decoder, *encoded, caps)  # type: ignore[arg-type]
        return decoder.seconds, decoder.steps

    @torch.inference_mode()
    def _generate(self, audio: np.ndarray) -> str:
        ids = self.model.generate(self._audio(audio))[0].tolist()
        return self.tokenizer.decode(strip_special(ids))

    def final_latency(self, audio: np.ndarray) -> Latency:
        t0 = time.perf_counter()
        self._generate(audio)
        return Latency(time.perf_counter() - t0, True, 0)

    def transcribe(self, audio: np.ndarray) -> str:
        return self._generate(audio)

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
