"""`echo-edge demo` (what `make demo` runs): speak a few sentences, transcribe them, score them.

Sentences come from espeak-ng voices the shipped model never trained on, so the WER printed is
an honest held-out figure for these few utterances.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
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
    import torch

    from echo_edge.audio import load_audio
    from echo_edge.checkpoint import load_checkpoint
    from echo_edge.decoding import strip_special
    from echo_edge.metrics import word_error_rate
    from echo_edge.tokenizer import default_tokenizer

    model, trained = load_checkpoint(args.checkpoint)
    if not trained:
        print("NOTE: no trained model is shipped yet: this runs a RANDOMLY INITIALISED tiny model,")
        print("      so the transcripts below are noise. The pipeline is what is being shown.")
    print(f"model: {model.num_parameters():,} parameters, features {list(model.config.features)}")
    tok = default_tokenizer()
    refs, hyps = [], []
    audio_seconds = compute_seconds = 0.0
    with tempfile.TemporaryDirectory() as d:
        for path, text in synthesize(Path(d)):
            wave = torch.from_numpy(load_audio(path))[None]
            start = time.perf_counter()
            ids = model.generate(wave)[0].tolist()
            compute_seconds += time.perf_counter() - start
            audio_seconds += wave.shape[1] / 16000
            hyp = tok.decode(strip_special(ids))
            refs.append(text)
            hyps.append(hyp)
            print(f"  ref: {text}\n  hyp: {hyp}\n")
    print(f"WER {100 * word_error_rate(refs, hyps):.1f} % over {len(refs)} utterances")
    print(f"real-time factor {compute_seconds / audio_seconds:.3f} (PyTorch eager, CPU)")
    return 0
