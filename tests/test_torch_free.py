"""The device runtime needs no torch: import it and transcribe a file with torch blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from tests.test_runtime import ROOT, tiny_bundle_root

# Runs in a fresh interpreter: any attempt to import torch (or a submodule) fails loudly.
BLOCK_TORCH = textwrap.dedent(
    """
    import sys

    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked in this test (import of {name})")
            return None

    sys.meta_path.insert(0, BlockTorch())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    script = BLOCK_TORCH + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_import_runtime_without_torch() -> None:
    proc = run_blocked(
        """
        import echo_edge.runtime
        from echo_edge.runtime import backend, bundle, decoding, microphone, recognizer
        from echo_edge.runtime import stream, transcribe
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_whole_file_transcription_without_torch(tmp_path: Path) -> None:
    import soundfile as sf

    from tests.speech import speak

    bundle = tiny_bundle_root() / "bundle"  # exported here, with torch
    x = np.concatenate([speak("switch on the radio"), np.zeros(C.SAMPLE_RATE, np.float32)])
    x = np.concatenate([x, speak("and turn it up", voice="en-us+f3")])
    sf.write(tmp_path / "speech.wav", x, C.SAMPLE_RATE, subtype="PCM_16")
    proc = run_blocked(
        f"""
        import json
        from echo_edge.runtime.transcribe import main
        status = main(["--bundle", {str(bundle)!r}, "--json", {str(tmp_path / "speech.wav")!r}])
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        sys.exit(status)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    import json

    (item,) = json.loads(proc.stdout)["files"]
    assert len(item["segments"]) == 2
    assert item["seconds"] > 2.0
