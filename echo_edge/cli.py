"""`echo-edge`: one entry point, one subcommand per job.

Heavy imports (torch, exporters) happen inside the subcommands so that the torch-free ones
start fast on a device. Errors reach the user as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2
EXIT_FAILED = 1
# Thread counts above this are a typo, not a machine (100000 threads cost gigabytes of stacks).
MAX_THREADS = 4 * (os.cpu_count() or 1)
# Worker processes above this only queue for the same cores (1000 took 67 s for 7 utterances).
MAX_WORKERS = 2 * (os.cpu_count() or 1)


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


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
    from echo_edge.synth import run_synth

    return run_synth(args)


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


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = Parser(
        prog="echo-edge",
        description="Echo speech recogniser: train, export, run.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True)

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

    data = sub.add_parser("data", help="datasets").add_subparsers(
        dest="data_command", required=True
    )
    p = data.add_parser("synth", help="synthesise a speech corpus", formatter_class=fmt)
    from echo_edge.bench.args import add_bench_args
    from echo_edge.evaluate import add_eval_args
    from echo_edge.export.pipeline import add_export_args
    from echo_edge.runtime.transcribe import add_transcribe_args
    from echo_edge.synth import add_synth_args
    from echo_edge.train_args import add_train_args
    from echo_edge.verify_args import add_verify_args

    add_synth_args(p)
    p.set_defaults(func=cmd_synth)

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


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; known failures become one line on stderr (ECHO_EDGE_DEBUG=1: traceback)."""
    if os.environ.get("ECHO_EDGE_DEBUG"):
        return func(args)
    try:
        return func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
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
    args = build_parser().parse_args(argv)
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
