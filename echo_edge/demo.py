"""`echo-edge demo` (what `make demo` runs): speak a few sentences, transcribe them, score them.

Sentences come from espeak-ng voices the shipped model never trained on, so the WER printed is
an honest held-out figure for these few utterances.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO_SENTENCES = [
    ("en-gb+m3", "please set an alarm for seven thirty tomorrow morning"),
    ("en-us+f2", "the quick brown fox jumps over the lazy dog"),
    ("en-sc+m5", "how many people live in the city of london"),
]


def synthesize(directory: Path) -> list[tuple[Path, str]]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    items = []
    for i, (voice, text) in enumerate(DEMO_SENTENCES):
        path = directory / f"demo{i}.wav"
        subprocess.run([exe, "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        items.append((path, text))
    return items


def run_demo(args: argparse.Namespace) -> int:
    """Reference (PyTorch) vs the torch-free runtime on an ONNX bundle of the same model."""
    import torch

    from echo_edge.audio import load_audio
    from echo_edge.checkpoint import load_checkpoint
    from echo_edge.decoding import strip_special
    from echo_edge.metrics import word_error_rate
    from echo_edge.runtime.recognizer import Recognizer
    from echo_edge.runtime.transcribe import default_bundle
    from echo_edge.tokenizer import default_tokenizer
    from echo_edge.verify import REFERENCE_THREADS

    model, trained = load_checkpoint(args.checkpoint)
    if not trained:
        print("NOTE: no trained model is shipped: this runs a RANDOMLY INITIALISED tiny model,")
        print("      so the transcripts below are noise. The pipeline is what is being shown.")
    print(f"model: {model.num_parameters():,} parameters, features {list(model.config.features)}")
    tok = default_tokenizer()
    bundle = default_bundle(log=sys.stdout) if args.checkpoint is None else None
    recognizer = Recognizer.from_bundle(bundle) if bundle is not None else None
    refs, ref_hyps, run_hyps = [], [], []
    audio_s = torch_s = runtime_s = 0.0
    # The reference runs on one thread, as verify runs it: torch's spinning intra-op threads
    # made its RTF swing with whatever else a shared machine was doing.
    threads = torch.get_num_threads()
    torch.set_num_threads(REFERENCE_THREADS)
    try:
        with tempfile.TemporaryDirectory() as d:
            for path, text in synthesize(Path(d)):
                wave = load_audio(path)
                audio_s += len(wave) / 16000
                start = time.perf_counter()
                ids = model.generate(torch.from_numpy(wave)[None])[0].tolist()
                torch_s += time.perf_counter() - start
                refs.append(text)
                ref_hyps.append(tok.decode(strip_special(ids)))
                print(f"  said:     {text}")
                print(f"  pytorch:  {ref_hyps[-1]}")
                if recognizer is not None:
                    start = time.perf_counter()
                    run_hyps.append(recognizer.transcribe_file(path).text)
                    runtime_s += time.perf_counter() - start
                    print(f"  runtime:  {run_hyps[-1]}")
                print()
    finally:
        torch.set_num_threads(threads)
    print(
        f"PyTorch eager:  WER {100 * word_error_rate(refs, ref_hyps):5.1f} %   "
        f"RTF {torch_s / audio_s:.3f}   ({REFERENCE_THREADS} thread)"
    )
    if recognizer is not None:
        print(
            f"ONNX runtime:   WER {100 * word_error_rate(refs, run_hyps):5.1f} %   "
            f"RTF {runtime_s / audio_s:.3f}   (bundle {bundle})"
        )
    return 0
