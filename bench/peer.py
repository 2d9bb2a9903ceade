"""A cross-engine check next to a peer: echo-edge and PocketSphinx on the same festival audio.

Festival is held out of training entirely (its voices are for evaluation only), so a split
spoken by it is a voice family the model never heard. Two steps:

    python bench/peer.py festival --out data/festival --count 60 --seed 7
    python bench/peer.py score --data data/festival/test.jsonl --bundle B [--out bench/results/peer]

`festival` writes 16 kHz WAVs and a JSONL manifest ({audio, text, duration, engine, voice,
licence}) of sentences from echo-edge's own text generator, spoken by every installed festival
voice in turn (apt-get install festival festvox-kdlpc16k festvox-us-slt-hts festvox-kallpc16k).
`score` transcribes the manifest with the torch-free runtime (the bundle's streaming path, as
`echo-edge transcribe` runs it) and with PocketSphinx 5 (`pip install pocketsphinx`: its bundled
en-us acoustic model and generic language model), and reports WER by voice for both, with the
real-time factor of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from echo_edge import constants as C

FESTIVAL_LICENCE = "festival voices: evaluation only (never trained on)"
TEXT_SEED_OFFSET = 1_000_003  # keeps these sentences apart from the corpus generator's seeds


def installed_voices() -> list[str]:
    """The text2wave voice functions of echo_edge.corpus.festival that load here."""
    from echo_edge.corpus.festival import festival_voices

    if shutil.which("text2wave") is None:
        raise SystemExit("error: festival is not installed (apt-get install festival festvox-*)")
    found = [v.name for v in festival_voices()]
    if not found:
        raise SystemExit("error: no festival voice loads (apt-get install festvox-kdlpc16k ...)")
    return found


def festival_wav(text: str, voice: str) -> np.ndarray:
    """text2wave at its own pace -> (N,) float32 mono at 16 kHz."""
    import soundfile as sf

    from echo_edge.audio import to_mono_16k
    from echo_edge.corpus.festival import text2wave

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "u.wav"
        text2wave(text, voice, None, out)
        audio, rate = sf.read(out, dtype="float32", always_2d=True)
    return to_mono_16k(audio, rate)


def make_festival(out: Path, count: int, seed: int) -> Path:
    """`count` generated sentences, voice i mod voices -> out/test.jsonl."""
    import soundfile as sf

    from echo_edge.corpus.festival import FESTIVAL_VOICES
    from echo_edge.corpus.textgen import generate_sentences
    from echo_edge.text import normalize_text, spoken_form

    voices = installed_voices()
    (out / "wav").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, sentence in enumerate(generate_sentences(count, seed=TEXT_SEED_OFFSET + seed)):
        voice = voices[i % len(voices)]
        spoken = spoken_form(sentence)
        audio = festival_wav(spoken, voice)
        name = f"wav/fest-{i:04d}-{FESTIVAL_VOICES[voice]}.wav"
        sf.write(out / name, audio, C.SAMPLE_RATE, subtype="PCM_16")
        rows.append(
            {
                "audio": name,
                "text": normalize_text(spoken),
                "duration": round(len(audio) / C.SAMPLE_RATE, 3),
                "engine": "festival",
                "voice": FESTIVAL_VOICES[voice],
                "licence": FESTIVAL_LICENCE,
            }
        )
    manifest = out / "test.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} utterances ({', '.join(FESTIVAL_VOICES[v] for v in voices)})")
    return manifest


def pocketsphinx_decoder():  # -> pocketsphinx.Decoder
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise SystemExit("error: PocketSphinx is missing (pip install pocketsphinx)") from None
    return Decoder(loglevel="FATAL")


def pocketsphinx_text(decoder, audio: np.ndarray) -> str:  # noqa: ANN001
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def score(data: Path, bundle: Path, limit: int | None, lm_weight: float = 0.0) -> dict:
    """WER of echo-edge (streaming runtime) and PocketSphinx on one manifest, by voice.
    `lm_weight` > 0: echo-edge's finals with the word LM (`echo-edge transcribe --lm`)."""
    from echo_edge.audio import load_audio
    from echo_edge.metrics import word_error_rate
    from echo_edge.runtime import Recognizer
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.runtime.stream import StreamOptions
    from echo_edge.text import normalize_text

    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    recognizer = Recognizer.from_bundle(bundle)
    options = StreamOptions(decoding=DecodingOptions(lm_weight=lm_weight))
    decoder = pocketsphinx_decoder()
    seconds = {"echo-edge": 0.0, "pocketsphinx": 0.0}
    audio_seconds = 0.0
    utterances = []
    for row in rows:
        audio = load_audio(data.parent / row["audio"])
        audio_seconds += len(audio) / C.SAMPLE_RATE
        t0 = time.perf_counter()
        ours = recognizer.transcribe_samples(audio, options=options).text
        t1 = time.perf_counter()
        peer = pocketsphinx_text(decoder, audio)
        seconds["echo-edge"] += t1 - t0
        seconds["pocketsphinx"] += time.perf_counter() - t1
        ref = normalize_text(row["text"])
        utterances.append({"voice": row.get("voice", "?"), "ref": ref, "echo-edge": ours})
        utterances[-1]["pocketsphinx"] = peer
    recognizer.close()
    groups: dict[str, list[dict]] = defaultdict(list)
    for u in utterances:
        groups[u["voice"]].append(u)
    groups["all"] = utterances
    table = {}
    for name, items in sorted(groups.items()):
        refs = [u["ref"] for u in items]
        table[name] = {
            "utterances": len(items),
            "words": sum(len(r.split()) for r in refs),
            "echo_edge_wer": round(100 * word_error_rate(refs, [u["echo-edge"] for u in items]), 1),
            "pocketsphinx_wer": round(
                100 * word_error_rate(refs, [u["pocketsphinx"] for u in items]), 1
            ),
        }
    rtf = {k: round(v / audio_seconds, 4) for k, v in seconds.items()}
    return {"data": str(data), "bundle": str(bundle), "lm_weight": lm_weight, "rtf": rtf,
            "by_voice": table, "utterances": utterances}  # fmt: skip


def markdown(report: dict, command: str) -> str:
    lines = [
        "# echo-edge next to PocketSphinx on festival voices (never trained on)",
        "",
        f"`{command}`",
        "",
        f"Bundle: {report['bundle']}. Real-time factor (1 process, this machine): echo-edge "
        f"{report['rtf']['echo-edge']}, PocketSphinx {report['rtf']['pocketsphinx']}.",
        "",
        "| voice | utterances | words | echo-edge WER % | PocketSphinx WER % |",
        "|---|---|---|---|---|",
    ]
    for name, row in report["by_voice"].items():
        lines.append(
            f"| {name} | {row['utterances']} | {row['words']} | {row['echo_edge_wer']} "
            f"| {row['pocketsphinx_wer']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("festival", help="synthesise a festival test split")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--count", type=int, default=60, help="utterances")
    p.add_argument("--seed", type=int, default=7, help="text generator seed")
    p = sub.add_parser("score", help="WER of echo-edge and PocketSphinx on a manifest")
    p.add_argument("--data", type=Path, required=True, help="JSONL manifest")
    p.add_argument("--bundle", type=Path, required=True, help="echo-edge bundle directory")
    p.add_argument("--limit", type=int, default=None, help="first N rows only")
    p.add_argument("--out", type=Path, default=None, help="write report.json and report.md here")
    p.add_argument("--lm", action="store_true", help="echo-edge decodes finals with the word LM")
    args = parser.parse_args(argv)
    if args.command == "festival":
        make_festival(args.out, args.count, args.seed)
        return 0
    from echo_edge.runtime.decoding import LM_WEIGHT

    report = score(args.data, args.bundle, args.limit, LM_WEIGHT if args.lm else 0.0)
    text = markdown(report, "python bench/peer.py " + " ".join(argv or sys.argv[1:]))
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
