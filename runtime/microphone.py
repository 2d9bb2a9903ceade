"""Microphone capture with sounddevice (PortAudio): the callback only copies into a queue.

Inference never runs in the PortAudio callback (a slow callback makes the device overflow
and lose audio): the callback copies each block into a bounded queue and counts overflows;
the caller's thread drains the queue, resamples the device's own rate to 16 kHz with soxr
and does the rest. sounddevice is imported lazily, so the runtime works without it until
a microphone is asked for.
"""

from __future__ import annotations

import math
import queue
import threading
from typing import Any

import numpy as np

from echo_edge import constants as C

BLOCK_SECONDS = 0.05  # PortAudio block: 50 ms per callback
QUEUE_SECONDS = 60.0  # audio the queue holds; beyond it blocks are dropped and counted
READ_TIMEOUT = 0.1  # seconds `read` waits for the first block
INSTALL_HINT = "pip install 'echo-edge[mic]'"
PORTAUDIO_HINT = (
    "PortAudio is missing: install it (Debian/Ubuntu: apt-get install libportaudio2; "
    "macOS: brew install portaudio)"
)


class MicrophoneError(RuntimeError):
    """No usable input device, PortAudio missing, or the device went away."""


def sounddevice() -> Any:
    """The sounddevice module, or a one-line MicrophoneError saying what to install."""
    try:
        import sounddevice as sd
    except ImportError as e:
        raise MicrophoneError(f"sounddevice is not installed: {INSTALL_HINT}") from e
    except OSError as e:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise MicrophoneError(PORTAUDIO_HINT) from e
    return sd


def input_devices() -> list[dict[str, Any]]:
    """Every device with input channels: index, name, channels, default sample rate."""
    sd = sounddevice()
    return [
        {
            "index": i,
            "name": d["name"],
            "channels": d["max_input_channels"],
            "samplerate": int(d["default_samplerate"]),
        }
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def find_device(device: int | str | None = None) -> dict[str, Any]:
    """An input device by index, by (part of) its name, or the system default."""
    devices = input_devices()
    if not devices:
        raise MicrophoneError(
            "no audio input device found: connect a microphone (or start PulseAudio); "
            "PortAudio lists none"
        )
    if device is None or device == "":
        default = sounddevice().default.device[0]
        match = [d for d in devices if d["index"] == default]
        return match[0] if match else devices[0]
    if isinstance(device, int) or str(device).isdigit():
        match = [d for d in devices if d["index"] == int(device)]
        if not match:
            raise MicrophoneError(f"device {device} is not an input device (see --list-devices)")
        return match[0]
    name = str(device).lower()
    match = [d for d in devices if d["name"].lower() == name] or [
        d for d in devices if name in d["name"].lower()
    ]
    if not match:
        raise MicrophoneError(f"no input device matches {device!r} (see --list-devices)")
    return match[0]


class Microphone:
    """A started input stream: `read()` returns the audio captured since the last call, 16 kHz."""

    def __init__(
        self,
        device: int | str | None = None,
        block_seconds: float = BLOCK_SECONDS,
        queue_seconds: float = QUEUE_SECONDS,
    ) -> None:
        self.device = find_device(device)
        self.name = self.device["name"]
        self.rate = self.device["samplerate"]
        self.block = max(1, int(self.rate * block_seconds))
        self.overflows = 0  # PortAudio input overflows plus blocks dropped on a full queue
        self.samples = 0  # 16 kHz samples delivered by `read`
        self._queue: queue.Queue[np.ndarray] = queue.Queue(
            maxsize=max(1, math.ceil(queue_seconds / block_seconds))
        )
        self._ended = threading.Event()
        self._stream: Any = None
        self._resampler: Any = None
        if self.rate != C.SAMPLE_RATE:
            from echo_edge.audio import AudioError, Resampler

            try:
                self._resampler = Resampler(self.rate)
            except AudioError as e:  # a virtual device reporting 0 Hz, say
                raise MicrophoneError(f"input device {self.name!r}: {e}") from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.overflows += 1

    def start(self) -> Microphone:
        sd = sounddevice()
        try:
            self._stream = sd.InputStream(
                samplerate=self.rate,
                blocksize=self.block,
                device=self.device["index"],
                channels=1,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._ended.set,
            )
            self._stream.start()
        except sd.PortAudioError as e:
            raise MicrophoneError(f"cannot open input device {self.name!r}: {e}") from e
        return self

    def stop(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
                stream.close()
            except sounddevice().PortAudioError:  # a device that went away cannot be stopped
                pass

    def __enter__(self) -> Microphone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def seconds(self) -> float:
        return self.samples / C.SAMPLE_RATE

    def read(self, timeout: float = READ_TIMEOUT) -> np.ndarray:
        """All queued audio as 16 kHz float32 (empty if none arrived within `timeout`)."""
        blocks = []
        try:
            blocks.append(self._queue.get(timeout=timeout))
            while True:
                blocks.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if not blocks and self._ended.is_set() and self._stream is not None:
            raise MicrophoneError(f"input device {self.name!r} stopped delivering audio")
        x = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        if self._resampler is not None:
            x = self._resampler(x)
        self.samples += len(x)
        return x

    def drain(self) -> np.ndarray:
        """What is left in the queue and the resampler, after `stop()`."""
        blocks = []
        while not self._queue.empty():
            blocks.append(self._queue.get_nowait())
        x = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        if self._resampler is not None:
            x = self._resampler(x, last=True)
        self.samples += len(x)
        return x
