"""Long audio through the streaming runtime: WER of one long reading vs its sentences one by one.

A reading of `--minutes` of espeak-ng speech (one held-out voice, sentences joined by
0.15-0.25 s pauses, too short for endpointing to split them all) is transcribed as one file
(`transcribe_samples`, endpointing on, utterances cut at the quietest point when they reach
the maximum length) and, as the reference, each sentence alone with `recognize`. Both are
scored against the same text with the project's normaliser. A DC check transcribes five
sentences with 0.75 s pauses as a file, as is and with `vol 0.5 dcshift 0.01` applied. With `--partials S` the reading
also goes through a live stream with partial results every S seconds, whose finals must be
the file path's word for word (finals never depend on partials).

    python bench/long_audio.py --bundle /tmp/bundles/onnx-int8 --minutes 5 [--partials 0.1] \\
        [--out bench/results/long_audio/onnx-int8.json]

Torch-free: needs espeak-ng and a bundle of the shipped model.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from echo_edge import constants as C
from echo_edge.corpus.textgen import generate_sentences
from echo_edge.evalset import SENTENCES, held_out_voices, speak
from echo_edge.metrics import word_error_rate
from echo_edge.text import normalize_text

PAUSE_RANGE = (0.15, 0.25)  # seconds between sentences
TRIM_LEVEL = 0.01  # -40 dB under a clip's peak: where its speech starts and ends
TRIM_MARGIN = 0.02  # seconds kept either side
NOISE_DBFS = -80.0  # a quiet room under everything
DC_SHIFT = 0.01  # the DC check's offset (sox dcshift 0.01)
SEED = 0
VOICE = 6  # index into evalset.held_out_voices(): gmw/en-US+iven at 165 words/min


def trimmed(audio: np.ndarray) -> np.ndarray:
    """espeak-ng's own leading and trailing silence cut off (TRIM_MARGIN kept), so that the
    pauses between sentences are the ones PAUSE_RANGE says."""
    loud = np.flatnonzero(np.abs(audio) > TRIM_LEVEL * np.abs(audio).max())
    margin = int(TRIM_MARGIN * C.SAMPLE_RATE)
    return audio[max(loud[0] - margin, 0) : loud[-1] + margin]


def reading(
    minutes: float, voice: int = VOICE, seed: int = SEED
) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """(the whole reading (N,), each sentence as espeak-ng spoke it, their normalised texts)."""
    voice, rate = held_out_voices()[voice]
    rng = random.Random(seed)
    texts = list(SENTENCES) + generate_sentences(400, seed=seed + 1)
    clips, refs, pieces, total = [], [], [], 0.0
    for text in texts:
        if total >= minutes * 60:
            break
        clip = speak(text, voice, rate)
        audio = trimmed(clip)
        pause = np.zeros(int(rng.uniform(*PAUSE_RANGE) * C.SAMPLE_RATE), np.float32)
        clips.append(clip)
        refs.append(normalize_text(text))
        pieces += [audio, pause]
        total += (len(audio) + len(pause)) / C.SAMPLE_RATE
    whole = np.concatenate(pieces)
    noise = np.random.default_rng(seed).standard_normal(len(whole)) * 10 ** (NOISE_DBFS / 20)
    return (whole + noise).astype(np.float32), clips, refs


def dc_check(recognizer, seed: int = SEED) -> dict[str, float]:  # noqa: ANN001
    """WER of five sentences with 0.75 s pauses as a 16-bit file: as is, at half volume, and
    after `sox multi.wav dc.wav vol 0.5 dcshift 0.01` (done here with numpy)."""
    import tempfile

    import soundfile as sf

    voice, rate = held_out_voices()[VOICE]
    texts = list(SENTENCES[:5])
    pause = np.zeros(int(0.75 * C.SAMPLE_RATE), np.float32)
    multi = np.concatenate([np.concatenate([speak(t, voice, rate), pause]) for t in texts])
    reference = [" ".join(normalize_text(t) for t in texts)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        versions = (("plain", multi), ("vol_half", multi * 0.5), ("dc", multi * 0.5 + DC_SHIFT))
        for name, audio in versions:
            path = Path(tmp) / f"{name}.wav"
            sf.write(path, audio, C.SAMPLE_RATE, subtype="PCM_16")
            transcript = recognizer.transcribe_file(path)
            out[f"wer_{name}"] = round(100 * word_error_rate(reference, [transcript.text]), 2)
            out[f"utterances_{name}"] = len(transcript.segments)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, help="bundle of the shipped model")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the reading")
    parser.add_argument("--partials", type=float, default=0.0, help="partial interval (s); 0: skip")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.add_argument(
        "--long-utterance", type=float, help="StreamOptions.long_utterance_seconds (default: its)"
    )
    parser.add_argument("--out", type=Path, help="JSON report to write")
    args = parser.parse_args()

    from echo_edge.runtime.recognizer import FILE_OPTIONS, Recognizer

    recognizer = Recognizer.from_bundle(args.bundle, threads=args.threads)
    file_options = FILE_OPTIONS
    if args.long_utterance is not None:
        file_options = replace(FILE_OPTIONS, long_utterance_seconds=args.long_utterance)
    whole, clips, refs = reading(args.minutes)
    t0 = time.perf_counter()
    one_by_one = [recognizer.recognize(clip).text for clip in clips]
    t1 = time.perf_counter()
    long = recognizer.transcribe_samples(whole, options=file_options)
    t2 = time.perf_counter()
    reference = " ".join(refs)
    report: dict[str, object] = {
        "bundle": str(args.bundle),
        "long_utterance_seconds": file_options.long_utterance_seconds,
        "seconds": round(len(whole) / C.SAMPLE_RATE, 1),
        "sentences": len(clips),
        "utterances": len(long.segments),
        "longest_utterance_s": round(max(s.end - s.start for s in long.segments), 2),
        "wer_one_by_one": round(100 * word_error_rate([reference], [" ".join(one_by_one)]), 2),
        "wer_long": round(100 * word_error_rate([reference], [long.text]), 2),
        "seconds_one_by_one": round(t1 - t0, 1),
        "seconds_long": round(t2 - t1, 1),
    }
    report["wer_gap_points"] = round(report["wer_long"] - report["wer_one_by_one"], 2)
    report["dc_check"] = dc_check(recognizer)
    if args.partials > 0:
        stream = recognizer.create_stream(
            replace(file_options, partial_interval_seconds=args.partials)
        )
        step = int(0.1 * C.SAMPLE_RATE)  # microphone-sized chunks
        results = []
        for i in range(0, len(whole), step):
            results += stream.accept_waveform(C.SAMPLE_RATE, whole[i : i + step])
        results += stream.input_finished()
        finals = [r for r in results if r.final]
        report["partials"] = stream.stats.partials
        report["finals_equal_with_partials"] = [r.text for r in finals] == [
            r.text for r in long.segments
        ] and [(r.start, r.end) for r in finals] == [(r.start, r.end) for r in long.segments]
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
