"""The microphone path: a real PortAudio input fed by a PulseAudio virtual source.

The live test starts PulseAudio itself (or uses one already running), creates a null sink
whose monitor is remapped into a virtual source, runs `echo-edge transcribe --mic` on it,
plays espeak-ng utterances into the sink with paplay, stops the command with SIGINT and
checks one final per utterance plus the exit summary; then it unloads what it loaded and
stops the PulseAudio it started. With ECHO_EDGE_TEST_BUNDLE pointing at a trained model's
bundle it also checks the words.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from echo_edge import constants as C
from tests.test_runtime import ROOT, assert_one_line_error, cli, tiny_bundle_root

UTTERANCES = ("turn on the kitchen light", "what is the weather like today")
TRAINED_BUNDLE = os.environ.get("ECHO_EDGE_TEST_BUNDLE")  # a trained bundle: words are checked
SINK, SOURCE = "echo_edge_vmic", "echo_edge_virtmic"


def pactl(*args: str) -> str:
    return subprocess.run(
        ["pactl", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def virtual_mic() -> Iterator[str]:
    """A PulseAudio null sink + virtual source (the default source while the test runs)."""
    for tool in ("pulseaudio", "pactl", "paplay", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make test installs it when run as root)")
    started = subprocess.run(["pulseaudio", "--check"]).returncode != 0
    if started:
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1"], check=True, capture_output=True)
        for _ in range(50):
            if subprocess.run(["pulseaudio", "--check"]).returncode == 0:
                break
            time.sleep(0.1)
    modules = [pactl("load-module", "module-null-sink", f"sink_name={SINK}")]
    modules.append(
        pactl(
            "load-module", "module-remap-source", f"master={SINK}.monitor", f"source_name={SOURCE}"
        )
    )
    previous = pactl("get-default-source")
    pactl("set-default-source", SOURCE)
    try:
        yield SINK
    finally:
        subprocess.run(["pactl", "set-default-source", previous], capture_output=True)
        for module in reversed(modules):
            subprocess.run(["pactl", "unload-module", module], capture_output=True)
        if started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True)


class LineReader:
    """Collects a pipe's lines in a thread, so a test can wait for one without blocking."""

    def __init__(self, pipe: io.TextIOBase) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(pipe), daemon=True)
        self.thread.start()

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in list(self.lines)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout} s: {self.lines}")
            time.sleep(0.05)

    def text(self) -> str:
        self.thread.join(timeout=10)
        return "".join(self.lines)


def test_live_microphone_prints_a_final_per_utterance(virtual_mic: str, tmp_path: Path) -> None:
    bundle = TRAINED_BUNDLE or str(tiny_bundle_root() / "bundle")
    wavs = []
    for i, text in enumerate(UTTERANCES):
        wavs.append(tmp_path / f"u{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wavs[-1]), text], check=True)
    cmd = [
        sys.executable,
        "-m",
        "echo_edge.runtime.transcribe",
        "--bundle",
        bundle,
        "--mic",
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stderr = LineReader(proc.stderr)
        stderr.wait_for("listening on", timeout=60)
        time.sleep(0.5)
        for wav in wavs:
            subprocess.run(["paplay", f"--device={virtual_mic}", str(wav)], check=True, timeout=30)
            time.sleep(1.5)  # trailing silence ends the utterance
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)  # drains queued audio first; slow under load
        err = stderr.text() + rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    finals = [line for line in lines if line.get("final")]
    summary = lines[-1]["summary"]
    assert len(finals) == len(UTTERANCES), lines
    assert summary["finals"] == len(UTTERANCES) and summary["overflows"] == 0
    assert 0 < summary["rtf"] < 1
    assert "real-time factor" in err and "overflows 0" in err
    if TRAINED_BUNDLE:
        for final, text in zip(finals, UTTERANCES):
            assert set(final["text"].split()) & set(text.split()), (final, text)


def test_no_input_device_is_one_line() -> None:
    # No PulseAudio server reachable and no sound card: PortAudio lists no input.
    proc = cli(
        "--bundle",
        str(tiny_bundle_root() / "bundle"),
        "--mic",
        env={"PULSE_SERVER": "unix:/nonexistent"},
    )
    assert_one_line_error(proc, "no audio input device")


def test_missing_portaudio_is_one_line() -> None:
    code = (
        "import sys\n"
        "class NoPortAudio:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sounddevice':\n"
        "            raise OSError('PortAudio library not found')\n"
        "sys.meta_path.insert(0, NoPortAudio())\n"
        "from echo_edge.runtime.transcribe import main\n"
        f"sys.exit(main(['--bundle', {str(tiny_bundle_root() / 'bundle')!r}, '--mic']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert_one_line_error(proc, "PortAudio is missing", "libportaudio2")


def test_callback_only_copies_and_counts_overflows(monkeypatch) -> None:
    from echo_edge.runtime import microphone

    device = {"index": 3, "name": "fake", "channels": 1, "samplerate": 48000}
    monkeypatch.setattr(microphone, "find_device", lambda _: device)
    mic = microphone.Microphone(block_seconds=0.01, queue_seconds=0.02)  # a 2-block queue

    class Status:
        input_overflow = False

    block = np.full((480, 1), 0.25, np.float32)
    mic._callback(block, 480, None, Status())
    block[:] = 0.0  # PortAudio reuses its buffer: the queued block must be a copy
    Status.input_overflow = True
    mic._callback(block, 480, None, Status())
    mic._callback(block, 480, None, Status())  # queue full: dropped and counted
    assert mic.overflows == 3
    audio = np.concatenate([mic.read(timeout=0.01), mic.drain()])  # resampled to 16 kHz
    assert abs(len(audio) - 960 * C.SAMPLE_RATE // 48000) <= 2
    assert audio[40:120].min() > 0.2 and np.abs(audio[-80:]).max() < 0.05


def test_caption_line_updates_in_place() -> None:
    from echo_edge.runtime.transcribe import CaptionLine

    out = io.StringIO()
    caption = CaptionLine(out, width=20)
    caption.partial("hello")
    caption.partial("hello wor")
    caption.final("hello world")
    caption.partial("a very long partial that does not fit")
    assert out.getvalue().split("\n")[0].split("\r")[-1] == "hello world"
    last = out.getvalue().split("\r")[-1]
    assert len(last) == 20 and last.startswith("...") and last.endswith("does not fit")
