"""`echo-edge transcribe`: audio files of any length, or the microphone, through a Stream.

    echo-edge transcribe [--bundle B] FILE...      one transcript per file (streamed)
    echo-edge transcribe [--bundle B] --mic        a live caption line, a new line per final

Without --bundle: the prebuilt ONNX int8 bundle shipped in the package (torch-free, what a
device install runs); in a tree without it, the shipped model's ONNX fp32 bundle, built once
(that needs torch and the exporters) and cached under ~/.cache/echo-edge/, keyed by the
checkpoint's sha256. Everything else here is torch-free.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import soundfile as sf
from tqdm import tqdm

from echo_edge import constants as C
from echo_edge.audio import TruncatedAudioWarning, check_audio_file, iter_audio_blocks
from echo_edge.cli import (
    EXIT_USAGE,
    HelpFormatter,
    Parser,
    add_lm_arguments,
    number,
    one_line,
    threads_arg,
)
from echo_edge.runtime.decoding import DecodingOptions
from echo_edge.runtime.lm import LMUnavailable, default_lm
from echo_edge.runtime.microphone import Microphone, MicrophoneError, input_devices
from echo_edge.runtime.recognizer import (
    FILE_BLOCK_SECONDS,
    SHIPPED_BUNDLE,
    Recognizer,
    Transcript,
    cache_dir,
)
from echo_edge.runtime.stream import Result, StreamOptions

ERROR_PREFIX = "echo-edge: error:"
WARNING_PREFIX = "echo-edge: warning:"
DEFAULT_BACKEND, DEFAULT_PRECISION = "onnx", "fp32"
# Files longer than this (seconds of audio) get a progress bar, on stderr when it is a terminal.
PROGRESS_MIN_SECONDS = 60.0


class TranscribeError(RuntimeError):
    """A user-facing failure of the transcribe command."""


class TranscribeUsageError(TranscribeError):
    """Options of the transcribe command that do not go together: exit status 2."""

    exit_status = EXIT_USAGE


def default_bundle(log: TextIO | None = None) -> Path:
    """The shipped model's ONNX fp32 bundle: built on first use, then read from the cache.

    `log` (default: sys.stderr as it is at the call, not at import) gets the progress lines."""
    log = log or sys.stderr
    from echo_edge.checkpoint import checkpoint_sha256
    from echo_edge.runtime.bundle import BundleError, read_bundle

    sha = checkpoint_sha256()
    path = cache_dir() / "bundles" / f"{DEFAULT_BACKEND}-{DEFAULT_PRECISION}-{sha[:16]}"
    if path.is_dir():
        try:
            read_bundle(path)
            return path
        except BundleError as e:
            print(f"echo-edge: rebuilding the cached bundle ({e})", file=log)
            shutil.rmtree(path, ignore_errors=True)
    print(f"echo-edge: building the default bundle once, cached in {path}", file=log)
    try:
        from echo_edge.export.pipeline import export_bundle

        export_bundle(
            None, DEFAULT_BACKEND, DEFAULT_PRECISION, path, log=lambda m: print(m, file=log)
        )
    except ImportError as e:
        raise TranscribeError(
            f"no --bundle given and no cached default bundle; building it needs torch and the "
            f"exporters (pip install 'echo-edge[train,export]'), or pass --bundle ({e})"
        ) from e
    return path


def no_bundle_given() -> Path:
    """The bundle `transcribe` runs without --bundle: the shipped prebuilt one when the
    package has it, else the cached ONNX fp32 export of the shipped model."""
    return SHIPPED_BUNDLE if SHIPPED_BUNDLE.is_dir() else default_bundle()


def add_transcribe_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the transcribe options on `parser` (a subcommand parser)."""
    d = StreamOptions()
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="audio files (wav, flac, ogg, mp3)"
    )
    parser.add_argument(
        "--bundle",
        help="bundle directory (default: the shipped ONNX int8 bundle, in the package)",
    )
    parser.add_argument("--mic", action="store_true", help="transcribe the microphone live")
    parser.add_argument("--device", help="input device index or name, with --mic")
    parser.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--providers", help="onnxruntime execution providers: cpu,cuda,tensorrt or auto"
    )
    parser.add_argument(
        "--threads",
        type=threads_arg,
        default=0,
        help="inference threads; 0: onnxruntime's own choice",
    )
    vad = parser.add_argument_group("endpointing")
    vad.add_argument(
        "--start-threshold",
        type=number(-120.0, 0.0, note=" dBFS"),
        default=d.start_threshold_dbfs,
        help="dBFS a voiced frame needs to start an utterance",
    )
    vad.add_argument(
        "--voicing-threshold",
        type=number(0.0, 1.0),
        default=d.voicing_threshold,
        help="periodicity (0-1) a frame needs to count as voiced",
    )
    vad.add_argument(
        "--trailing-silence",
        type=number(0.0, 60.0, note=" seconds"),
        default=d.trailing_silence_seconds,
        help="seconds of quiet that end an utterance",
    )
    vad.add_argument(
        "--long-utterance",
        type=number(0.0, 60.0, note=" seconds"),
        default=d.long_utterance_seconds,
        help="seconds after which a shorter pause (--short-pause) also ends an utterance",
    )
    vad.add_argument(
        "--short-pause",
        type=number(0.0, 60.0, above=True, note=" seconds"),
        default=d.short_pause_seconds,
        help="seconds of quiet that end an utterance longer than --long-utterance "
        "(at most --trailing-silence)",
    )
    vad.add_argument(
        "--max-utterance",
        type=number(0.1, 60.0, note=" seconds"),
        default=d.max_utterance_seconds,
        help="longest utterance, seconds",
    )
    vad.add_argument(
        "--partial-interval",
        type=number(0.0, 60.0, note=" seconds"),
        default=d.partial_interval_seconds,
        help="seconds between partial results (--mic)",
    )
    vad.add_argument(
        "--no-endpointing", action="store_true", help="no pauses: one utterance per --max-utterance"
    )
    decoding = parser.add_argument_group("decoding")
    decoding.add_argument(
        "--ctc-weight",
        type=number(0.0, 1.0, below=True),
        default=None,
        help="weight of the CTC prefix score in joint CTC/attention greedy decoding of finals "
        f"(default {d.decoding.ctc_weight:g}, picked on a dev split; partials stay attention "
        "greedy); 0: attention greedy only. A bundle without CTC log-probs decodes with "
        "attention greedy (a weight given here then gets one warning)",
    )
    add_lm_arguments(decoding, "decode finals")
    return parser


def stream_options(args: argparse.Namespace, live: bool) -> StreamOptions:
    return StreamOptions(
        endpointing=not args.no_endpointing,
        start_threshold_dbfs=args.start_threshold,
        voicing_threshold=args.voicing_threshold,
        trailing_silence_seconds=args.trailing_silence,
        long_utterance_seconds=args.long_utterance,
        short_pause_seconds=args.short_pause,
        max_utterance_seconds=args.max_utterance,
        partial_interval_seconds=args.partial_interval if live else 0.0,
        decoding=DecodingOptions(lm_weight=args.lm_weight)
        if args.ctc_weight is None
        else DecodingOptions(ctc_weight=args.ctc_weight, lm_weight=args.lm_weight),
    )


class CaptionLine:
    """One terminal line that partials rewrite in place (\\r) and finals end (\\n)."""

    def __init__(self, out: TextIO, width: int | None = None) -> None:
        self.out = out
        self.width = width or max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        self.shown = 0

    def _write(self, text: str, end: str) -> None:
        text = text if len(text) <= self.width else "..." + text[-(self.width - 3) :]
        self.out.write("\r" + text + " " * max(0, self.shown - len(text)) + end)
        self.shown = 0 if end else len(text)
        self.out.flush()

    def partial(self, text: str) -> None:
        self._write(text, "")

    def final(self, text: str) -> None:
        if text:
            self._write(text, "\n")
        elif self.shown:
            self._write("", "")


def show(results: list[Result], caption: CaptionLine, as_json: bool) -> None:
    for r in results:
        if as_json:
            if r.final:
                caption.out.write(json.dumps(r.to_dict()) + "\n")
                caption.out.flush()
        elif r.final:
            caption.final(r.text.strip())
        else:
            caption.partial(r.text.strip())


def run_mic(recognizer: Recognizer, args: argparse.Namespace) -> int:
    """Caption the microphone until Ctrl-C, then print the real-time factor and overflows."""
    # Ctrl-C is how a live session ends: make sure SIGINT raises KeyboardInterrupt even when a
    # parent left it ignored (a non-interactive shell does so for background jobs, and Python
    # then installs no handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mic = Microphone(args.device)
    stream = recognizer.create_stream(stream_options(args, live=True))
    caption = CaptionLine(sys.stdout)
    print(f"listening on {mic.name!r} ({mic.rate} Hz); Ctrl-C to stop", file=sys.stderr, flush=True)
    failure: MicrophoneError | None = None
    try:
        with mic:
            while True:
                audio = mic.read()
                if audio.size:
                    show(stream.accept_waveform(C.SAMPLE_RATE, audio), caption, args.json)
    except KeyboardInterrupt:
        pass
    except MicrophoneError as e:
        failure = e
    tail = mic.drain()
    if tail.size:
        show(stream.accept_waveform(C.SAMPLE_RATE, tail), caption, args.json)
    show(stream.input_finished(), caption, args.json)
    stats = stream.stats
    rtf = stats.compute_seconds / stats.audio_seconds if stats.audio_seconds else 0.0
    summary = {"audio_seconds": round(stats.audio_seconds, 2), "rtf": round(rtf, 4)}
    summary.update(overflows=mic.overflows, finals=stats.finals)
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    print(
        f"audio {stats.audio_seconds:.1f} s, real-time factor {rtf:.3f}, overflows {mic.overflows}",
        file=sys.stderr,
        flush=True,
    )
    if failure is not None:
        raise failure
    return 0


def audio_seconds(path: str) -> float | None:
    """The length a file's header gives, seconds (None: it does not say, or is unreadable)."""
    try:
        info = sf.info(path)
    except (RuntimeError, OSError, ValueError, TypeError):
        return None
    return info.frames / info.samplerate if info.samplerate and info.frames > 0 else None


def show_progress(seconds: float | None, out: TextIO) -> bool:
    """A bar for files longer than PROGRESS_MIN_SECONDS, and only on a terminal: a pipe or a
    log file keeps just the results and the one-line errors."""
    isatty = getattr(out, "isatty", None)
    return seconds is not None and seconds > PROGRESS_MIN_SECONDS and bool(isatty and isatty())


def counted(blocks: Iterable[np.ndarray], bar: tqdm) -> Iterator[np.ndarray]:
    """The blocks, unchanged; each one the recogniser has taken moves `bar` by its seconds."""
    for block in blocks:  # (N,) float32 at 16 kHz
        yield block
        bar.update(len(block) / C.SAMPLE_RATE)


def transcribe_one(
    recognizer: Recognizer,
    path: str,
    options: StreamOptions,
    notes: list[str] | None = None,
    progress: TextIO | None = None,
) -> Transcript:
    """One file -> its transcript; TranscribeError naming the file. Warnings about the file
    (truncated: what the header promised) are appended to `notes` when given. `progress`:
    where a long file's progress bar goes (in audio seconds), when that is a terminal."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedAudioWarning)
        try:
            check_audio_file(path)  # a directory, FIFO or device: said so, and never opened
            seconds = audio_seconds(path) if progress is not None else None
            with tqdm(
                total=round(seconds or 0.0, 1),
                desc=Path(path).name,
                unit="s",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                "[{elapsed}<{remaining}]",
                file=progress,
                leave=False,
                disable=progress is None or not show_progress(seconds, progress),
            ) as bar:
                blocks = iter_audio_blocks(path, block_seconds=FILE_BLOCK_SECONDS)
                transcript = recognizer.transcribe_blocks(
                    counted(blocks, bar), C.SAMPLE_RATE, options
                )
        except ValueError as e:  # echo_edge.audio.AudioError is one
            message = str(e)
            raise TranscribeError(message if path in message else f"{path}: {message}") from e
        finally:
            if notes is not None:
                notes.extend(
                    str(w.message) for w in caught if issubclass(w.category, TruncatedAudioWarning)
                )
    if not transcript.segments and notes is not None:
        # As in the API: no speech is an empty transcript, not an error (exit status 0).
        notes.append(
            f"{path}: no speech found (silent, or quieter than --start-threshold "
            f"{options.start_threshold_dbfs:g} dBFS and {options.noise_margin_db:g} dB above "
            "the noise floor)"
        )
    return transcript


def run_files(recognizer: Recognizer, args: argparse.Namespace) -> int:
    """Transcribe each file; a bad file costs one error line (and, with --json, an entry with
    its error), the others still run. Exit status 1 if any file failed."""
    options = stream_options(args, live=False)
    entries, failed = [], 0
    for path in args.files:
        notes: list[str] = []
        try:
            transcript = transcribe_one(recognizer, path, options, notes, progress=sys.stderr)
        # TranscribeError, RecognizerError, AudioError, or a backend fault: this file only.
        except (RuntimeError, ValueError, OSError) as e:
            for note in notes:
                print(f"{WARNING_PREFIX} {note}", file=sys.stderr, flush=True)
            print(f"{ERROR_PREFIX} {one_line(e)}", file=sys.stderr, flush=True)
            entries.append({"file": path, "error": one_line(e), **_warning(notes)})
            failed += 1
            continue
        for note in notes:
            print(f"{WARNING_PREFIX} {note}", file=sys.stderr, flush=True)
        entries.append({"file": path, **transcript.to_dict(), **_warning(notes)})
        if not args.json:
            print(
                transcript.text if len(args.files) == 1 else f"{path}: {transcript.text}",
                flush=True,
            )
    if args.json:
        print(json.dumps({"files": entries}, indent=2))
    return 1 if failed else 0


def _warning(notes: list[str]) -> dict[str, str]:
    """{"warning": ...} for a file's --json entry, or nothing."""
    return {"warning": "; ".join(notes)} if notes else {}


def run_transcribe(args: argparse.Namespace) -> int:
    """The transcribe subcommand -> exit status. Failures raise one-line errors."""
    if args.list_devices:
        devices = input_devices()
        if not devices:
            raise TranscribeError(
                "no audio input devices found: PortAudio lists none (connect a microphone or "
                "start PulseAudio/PipeWire; `python -m sounddevice` shows what PortAudio sees)"
            )
        for d in devices:
            print(f"{d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['samplerate']} Hz)")
        return 0
    if args.mic and args.files:
        raise TranscribeUsageError("give audio files or --mic, not both")
    if not args.mic and not args.files:
        raise TranscribeUsageError("nothing to transcribe: give audio files or --mic")
    if args.device is not None and not args.mic:
        raise TranscribeUsageError("--device needs --mic")
    bundle = Path(args.bundle) if args.bundle else no_bundle_given()
    recognizer = Recognizer.from_bundle(bundle, providers=args.providers, threads=args.threads)
    chosen = args.ctc_weight is not None
    if not chosen:  # the default: joint where the bundle has CTC log-probs, quietly
        args.ctc_weight = DecodingOptions().ctc_weight if recognizer.backend.has_ctc else 0.0
    if chosen and args.ctc_weight > 0 and not recognizer.backend.has_ctc:  # said once
        print(
            f"{WARNING_PREFIX} bundle {bundle} has no CTC head: --ctc-weight "
            f"{args.ctc_weight:g} ignored, finals decode with attention greedy "
            "(--ctc-weight 0 asks for that)",
            file=sys.stderr,
            flush=True,
        )
        args.ctc_weight = 0.0
    if args.lm_weight > 0 and args.ctc_weight > 0:
        try:
            default_lm()
        except LMUnavailable as e:  # said once, here, rather than as a Python warning
            print(f"{WARNING_PREFIX} {e}; finals decode with joint greedy search "
                  "(without --lm they always do)", file=sys.stderr, flush=True)  # fmt: skip
            args.lm_weight = 0.0
    try:
        return run_mic(recognizer, args) if args.mic else run_files(recognizer, args)
    finally:
        recognizer.close()


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m echo_edge.runtime.transcribe`), same errors as the CLI."""
    parser = Parser(prog="echo-edge transcribe", formatter_class=HelpFormatter)
    args = add_transcribe_args(parser).parse_args(argv)
    try:
        return run_transcribe(args)
    except KeyboardInterrupt:
        print("echo-edge: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as e:
        print(f"{ERROR_PREFIX} {one_line(e)}", file=sys.stderr)
        return getattr(e, "exit_status", 1)


if __name__ == "__main__":
    sys.exit(main())
