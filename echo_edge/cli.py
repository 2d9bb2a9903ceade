"""`echo-edge`: one entry point, one subcommand per job.

Heavy imports (torch, exporters) happen inside the subcommands so that the torch-free ones
start fast on a device. Errors reach the user as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from importlib.util import find_spec
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_CODES = f"""exit status:
  {EXIT_OK}    done
  {EXIT_FAILED}    a check failed (verify FAIL, a bench system failed) or an input could not be
       used (a file that could not be transcribed, a missing or corrupt checkpoint or bundle)
  {EXIT_USAGE}    bad usage: an unknown flag or a value out of range, nothing usable to work on
       (no readable manifest row), or a missing extra (the message says what to install)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); export ended by SIGTERM: 143
"""
# Thread counts above this are a typo, not a machine (100000 threads cost gigabytes of stacks).
MAX_THREADS = 4 * (os.cpu_count() or 1)
# Worker processes above this only queue for the same cores (1000 took 67 s for 7 utterances).
MAX_WORKERS = 2 * (os.cpu_count() or 1)


TRAIN_EXTRA = "echo-edge[train,export]"
BENCH_EXTRA = "echo-edge[bench]"
# A module that is not installed (top-level name) -> the extra that installs it.
EXTRAS = {
    **dict.fromkeys(
        (
            "torch",
            "torchao",
            "transformers",
            "safetensors",
            "accelerate",
            "onnx",
            "onnxscript",
            "executorch",
            "jiwer",
            "tokenizers",
        ),
        TRAIN_EXTRA,
    ),
    "matplotlib": BENCH_EXTRA,
    "psutil": BENCH_EXTRA,
    "onnxruntime": "echo-edge[onnx-runtime]",
    "sounddevice": "echo-edge[mic]",
}
# Subcommand -> the modules it cannot start without (checked before any work, so that a device
# install says what to install instead of failing on its first argument).
REFERENCE = ("torch", "safetensors")
NEEDS: dict[str, tuple[str, ...]] = {
    "info": REFERENCE,
    "demo": (*REFERENCE, "jiwer"),
    "eval": (*REFERENCE, "jiwer"),
    "verify": (*REFERENCE, "jiwer"),
    "export": REFERENCE,
    "train": (*REFERENCE, "transformers", "accelerate", "jiwer"),
    "bench": ("matplotlib", "psutil", "jiwer"),
}
# Import-time chatter from torch and torchao that a user cannot act on, logged through Python
# logging (not warnings): torchao's "Failed to load .../_C_mxfp8...so" for CUDA kernels this
# machine cannot load, and torch's "W... torch/utils/_pytree.py] <enum ...> is an Enum
# subclass ..." deprecation, both printed when executorch or the quantizers import torchao.
QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class UsageError(ValueError):
    """Options that cannot go together (or are missing) where argparse cannot tell: printed
    as one line, exit status 2 like argparse's own usage errors."""

    exit_status = EXIT_USAGE


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default, once: "(default: X)" is added only when the help text does not
    already say what the default is, and only for a default worth naming (not None, False or
    an empty list). Lists are shown as they are typed: `a b`."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, list | tuple) and not default)
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


class EpilogHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """HelpFormatter that keeps the epilog's layout (the exit status table)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (which flag, what is wrong), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    integer: bool = False,
    above: bool = False,
    below: bool = False,
    note: str = "",
) -> Callable[[str], float]:
    """An argparse `type=`: a finite float (or int) in [low, high] (`above`: low excluded,
    `below`: high excluded). NaN and infinity are refused; argparse names the flag."""
    kind = "an integer" if integer else "a number"
    left, right = "(" if above else "[", ")" if below else "]"
    if low is not None and high is not None:
        span = f"between {low:g} and {high:g}" if not (above or below) else ""
        span = span or f"in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        span = f"{'>' if above else '>='} {low:g}"
    else:
        span = f"{'<' if below else '<='} {high:g}"

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        too_low = low is not None and (value <= low if above else value < low)
        too_high = high is not None and (value >= high if below else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {span}{note}, got {text}")
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


def add_lm_arguments(parser: argparse._ActionsContainer, decodes: str) -> None:
    """`--lm` / `--lm-weight W` (dest lm_weight, default 0: joint greedy) on a command whose
    `decodes` is what the LM search changes ("decode finals", ...)."""
    from echo_edge.runtime.decoding import LM_WEIGHT

    lm = parser.add_mutually_exclusive_group()
    lm.add_argument(
        "--lm",
        dest="lm_weight",
        action="store_const",
        const=LM_WEIGHT,
        default=0.0,
        help=f"{decodes} by a beam search with a general English word language model (LM "
        f"weight {LM_WEIGHT:g}, picked on a dev split; ~3x the decoding time; needs the "
        "pocketsphinx package, `pip install 'echo-edge[lm]'`)",
    )
    lm.add_argument(
        "--lm-weight",
        type=number(0.0, 10.0),
        dest="lm_weight",
        metavar="W",
        help="--lm at this LM weight (0: joint greedy, the default)",
    )


def threads_arg(text: str) -> int:
    """--threads: 0 (the runtime's default) or 1..MAX_THREADS."""
    return number(0, MAX_THREADS, integer=True, note=" (0: the runtime's default)")(text)


def workers_arg(text: str) -> int:
    """--workers (processes): 0..MAX_WORKERS, twice the CPUs at most."""
    return number(0, MAX_WORKERS, integer=True, note=f" ({os.cpu_count()} CPUs here)")(text)


def cmd_info(args: argparse.Namespace) -> int:
    from echo_edge.checkpoint import checkpoint_sha256, load_checkpoint

    model, trained = load_checkpoint(args.checkpoint)
    cfg = model.config
    info = {
        "checkpoint": args.checkpoint or "shipped default",
        "trained": trained,
        "sha256": checkpoint_sha256(args.checkpoint),
        "parameters": model.num_parameters(),
        "config": cfg.to_dict(),
        "seed_features": cfg.seed_features(),
        "learned": model.learned_report(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"checkpoint   {info['checkpoint']}{'' if trained else '  (UNTRAINED: random init)'}")
    print(f"parameters   {info['parameters']:,}")
    print(
        f"dimensions   d_model={cfg.d_model} heads={cfg.n_heads} "
        f"encoder={cfg.encoder_layers} decoder={cfg.decoder_layers} vocab={cfg.vocab_size}"
    )
    print("seed features")
    for k, v in info["seed_features"].items():
        print(f"  {k:18s} {v}")
    print("learned       " + json.dumps(info["learned"]))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from echo_edge.demo import run_demo

    return run_demo(args)


def cmd_synth(args: argparse.Namespace) -> int:
    from echo_edge.corpus.synth import run_synth

    return run_synth(args)


def cmd_align(args: argparse.Namespace) -> int:
    from echo_edge.corpus.align import run_align

    return run_align(args)


def cmd_train(args: argparse.Namespace) -> int:
    from echo_edge.train import run_train

    return run_train(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from echo_edge.evaluate import run_eval

    return run_eval(args)


def cmd_export(args: argparse.Namespace) -> int:
    from echo_edge.export.pipeline import run_export

    return run_export(args)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from echo_edge.runtime.transcribe import run_transcribe

    return run_transcribe(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from echo_edge.verify import run_verify

    return run_verify(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from echo_edge.bench.run import run_bench

    return run_bench(args)


def version() -> str:
    """The installed distribution's version, or the source tree's when run uninstalled."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("echo-edge")
    except PackageNotFoundError:
        from echo_edge import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    fmt = HelpFormatter
    parser = Parser(
        prog="echo-edge",
        description="Echo speech recogniser: train, export, run.",
        epilog=EXIT_CODES,
        formatter_class=EpilogHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"echo-edge {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "info", help="print a model's config, size and seed features", formatter_class=fmt
    )
    p.add_argument("checkpoint", nargs="?", help="checkpoint directory (default: shipped model)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "demo", help="transcribe synthesised speech with the default model", formatter_class=fmt
    )
    p.add_argument("--checkpoint", help="checkpoint directory (default: shipped model)")
    p.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="datasets", formatter_class=fmt).add_subparsers(
        dest="data_command", required=True, metavar="COMMAND"
    )
    p = data.add_parser("synth", help="synthesise a speech corpus", formatter_class=fmt)
    from echo_edge.bench.args import add_bench_args
    from echo_edge.corpus.synth import add_synth_args
    from echo_edge.evaluate import add_eval_args
    from echo_edge.export.options import add_export_args
    from echo_edge.runtime.transcribe import add_transcribe_args
    from echo_edge.train_args import add_train_args
    from echo_edge.verify_args import add_verify_args

    add_synth_args(p)
    p.set_defaults(func=cmd_synth)
    p = data.add_parser(
        "align",
        help="add word times to a manifest (CTC forced alignment), for train --cut-prob",
        formatter_class=fmt,
    )
    from echo_edge.corpus.align import add_align_args

    add_align_args(p)
    p.set_defaults(func=cmd_align)

    p = sub.add_parser(
        "train", help="train Echo with Hugging Face Seq2SeqTrainer", formatter_class=fmt
    )
    add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval", help="a checkpoint's WER/CER on a manifest, by group", formatter_class=fmt
    )
    add_eval_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="export a checkpoint to a device bundle", formatter_class=fmt)
    add_export_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "transcribe", help="transcribe files or the microphone (torch-free)", formatter_class=fmt
    )
    add_transcribe_args(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser(
        "verify", help="accuracy drift of a bundle against its reference", formatter_class=fmt
    )
    add_verify_args(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "bench", help="latency, size and WER of the reference and bundles", formatter_class=fmt
    )
    add_bench_args(p)
    p.set_defaults(func=cmd_bench)
    return parser


def command_name(args: argparse.Namespace) -> str:
    """`echo-edge data synth`, `echo-edge train`, ... for messages."""
    words = [getattr(args, "command", None), getattr(args, "data_command", None)]
    return " ".join(["echo-edge", *filter(None, words)])


def install_hint(command: str, missing: str) -> str:
    """One line: what `command` needs and the pip command that installs it."""
    extra = EXTRAS.get(missing)
    if command.endswith(" bench") and missing in NEEDS["bench"]:
        extra = BENCH_EXTRA
    if extra is None:
        return f"{command} needs the Python module {missing!r}, which is not installed"
    what = "PyTorch and the exporters" if missing == "torch" else f"{missing} (not installed)"
    return f"{command} needs {what}: pip install '{extra}'"


def missing_module(names: tuple[str, ...]) -> str | None:
    """The first of `names` that cannot be imported here (not found, or blocked)."""
    for name in names:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def quiet_libraries() -> None:
    """Silence the import-time warnings of torch and torchao that a user cannot act on
    (before any subcommand imports them)."""
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # torch's C++ warnings (c10 logger)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; known failures become one line on stderr (ECHO_EDGE_DEBUG=1: traceback).

    Exit status as EXIT_CODES documents: 1 a failed check or an unusable input, 2 usage (a
    missing extra included; NoRowsError carries its own 2), 130 interrupted."""
    quiet_libraries()
    command = command_name(args)
    missing = missing_module(NEEDS.get(getattr(args, "command", None) or "", ()))
    if missing is not None:
        print(f"echo-edge: error: {install_hint(command, missing)}", file=sys.stderr)
        return EXIT_USAGE
    if os.environ.get("ECHO_EDGE_DEBUG"):
        return func(args)
    try:
        return func(args)
    except KeyboardInterrupt:
        print("echo-edge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as e:
        name = (e.name or "").split(".")[0]
        message = install_hint(command, name) if name else one_line(e)
        print(f"echo-edge: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except (CLIError, FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        print(f"echo-edge: error: {one_line(e)}", file=sys.stderr)
        return getattr(e, "exit_status", EXIT_FAILED)
    except MemoryError:
        print("echo-edge: error: out of memory", file=sys.stderr)
        return EXIT_FAILED


def one_line(error: BaseException) -> str:
    """An exception as one line: its first line, "path: strerror" for a bare OSError."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ModuleNotFoundError as e:  # a dependency of the torch-free runtime is missing
        name = (e.name or "").split(".")[0]
        print(f"echo-edge: error: {install_hint('echo-edge', name)}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
