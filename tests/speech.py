"""Speech for tests, spoken by espeak-ng (no person, no network)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from echo_edge.audio import load_audio


def require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (make test installs it when run as root)")
    return exe


def speak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng -> 16 kHz mono float32."""
    exe = require_espeak()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "u.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        return load_audio(path)


def speak_to_file(text: str, path: Path, voice: str = "en-us") -> Path:
    import soundfile as sf

    sf.write(path, speak(text, voice), 16000, subtype="PCM_16")
    return path
