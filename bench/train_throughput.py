"""Training throughput of `echo-edge train`: seconds of audio trained per wall-clock second.

Builds the real Trainer (echo_edge.train.build_trainer) from `echo-edge train` flags, runs a
few optimizer steps and times each one from the end of the previous one (so data loading,
the frontend, forward, backward and the optimizer all count). Audio seconds are the real
(unpadded) samples of each batch; the padding fraction is the share of padded samples. The
CPU seconds of the process and its loader workers over the same steps are reported too:
on a machine whose cores other jobs share, they move less with the load than wall time.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/train_throughput.py \
        --manifest data/synth10/train.jsonl --rows 2000 --steps 12 -- --threads 1

Everything after `--` is passed to `echo-edge train` (e.g. --bf16, --threads 2,
--feature-cache DIR). Without --manifest, a small corpus is synthesised with espeak-ng first.
Prints one JSON object (and appends it to --out as a JSON line when given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from echo_edge import constants as C


def synth_manifest(directory: Path, hours: float) -> Path:
    """A small corpus via `echo-edge data synth` (espeak-ng and flite; its train manifest)."""
    cmd = [sys.executable, "-m", "echo_edge.cli", "data", "synth", "--out", str(directory)]
    cmd += ["--hours", str(hours)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return directory / "train.jsonl"


def subset_manifest(manifest: Path, rows: int, directory: Path) -> Path:
    """The first `rows` rows of a manifest, audio paths made absolute."""
    from echo_edge.data import read_manifest

    out = directory / "rows.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for row in read_manifest(manifest)[:rows]:
            f.write(json.dumps(row) + "\n")
    return out


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (loader workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass  # a worker that just ended
    return total


def measure(train_argv: list[str], steps: int, warmup: int) -> dict:
    """Run warmup + steps optimizer steps; step times and audio seconds of the timed steps."""
    from transformers import TrainerCallback

    from echo_edge.train import build_trainer
    from echo_edge.train_args import add_train_args

    parser = argparse.ArgumentParser()
    add_train_args(parser)
    args = parser.parse_args(train_argv + ["--max-steps", str(warmup + steps)])
    args.eval_steps = 10**9  # no checkpoint inside the measurement
    trainer = build_trainer(args)
    ends: list[float] = []
    real: list[float] = []  # real samples per step
    padded: list[float] = []  # samples per step including padding

    cpu: list[float] = []  # CPU seconds of this process and its data-loader workers

    class Clock(TrainerCallback):
        def on_step_end(self, *a: object, **k: object) -> None:
            ends.append(time.perf_counter())
            cpu.append(cpu_seconds())

    def counted(model, inputs, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        mask = inputs["attention_mask"]
        real.append(float(mask.sum()))
        padded.append(float(mask.numel()))
        return step(model, inputs, *a, **k)

    step = trainer.training_step
    trainer.training_step = counted
    trainer.add_callback(Clock())
    trainer.args.save_strategy = "no"
    start = time.perf_counter()
    trainer.train()
    times = [b - a for a, b in zip(ends[warmup - 1 :], ends[warmup:])] if warmup else []
    if not warmup:
        times = [ends[0] - start] + [b - a for a, b in zip(ends, ends[1:])]
    audio = sum(real[warmup:]) / C.SAMPLE_RATE
    cpu_timed = cpu[-1] - cpu[warmup - 1] if warmup else cpu[-1]
    return {
        "step_s_mean": round(statistics.mean(times), 4),
        "step_s_median": round(statistics.median(times), 4),
        "audio_s_per_s": round(audio / sum(times), 3),
        "audio_s_per_step": round(audio / len(times), 3),
        "cpu_s_per_step": round(cpu_timed / len(times), 4),
        "audio_s_per_cpu_s": round(audio / cpu_timed, 3),
        "padding_fraction": round(1 - sum(real[warmup:]) / sum(padded[warmup:]), 4),
        "steps_timed": len(times),
        "loss_last": trainer.state.log_history[-1].get("train_loss"),
    }


def check_bf16(manifest: Path, batch_size: int) -> dict:
    """Loss and logits of one batch in fp32 and under CPU bf16 autocast (frontend fp32 in
    both), on the shipped model: how far bf16 moves what training optimises."""
    import torch

    from echo_edge.data import SpeechCollator, SpeechDataset, read_manifest
    from echo_edge.model import Echo

    model = Echo.from_pretrained()  # eval mode: no augmentation, deterministic
    rows = read_manifest(manifest)[:batch_size]
    ds = SpeechDataset(rows, model.tokenizer)
    batch = SpeechCollator()([ds[i] for i in range(len(ds))])
    out = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out[name] = model(batch["input_values"], batch["attention_mask"], batch["labels"])
    real = batch["labels"] != -100
    a, b = out["fp32"]["logits"].float(), out["bf16"]["logits"].float()
    return {
        "loss_fp32": round(float(out["fp32"]["loss"]), 5),
        "loss_bf16": round(float(out["bf16"]["loss"]), 5),
        "loss_rel_diff": round(float(abs(out["bf16"]["loss"] / out["fp32"]["loss"] - 1)), 5),
        "logits_max_abs_diff": round(float((a - b)[real].abs().max()), 4),
        "logits_range": round(float(a[real].max() - a[real].min()), 2),
        "argmax_agreement": round(float((a.argmax(-1) == b.argmax(-1))[real].float().mean()), 4),
    }


def main() -> int:
    argv = sys.argv[1:]
    train_argv = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--manifest", help="training manifest (default: synthesise one)")
    p.add_argument("--synth-hours", type=float, default=0.3, help="corpus size without --manifest")
    p.add_argument("--rows", type=int, default=2000, help="use the first ROWS rows")
    p.add_argument("--steps", type=int, default=12, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--label", default="", help="a name for this configuration in the output")
    p.add_argument("--out", help="append the result as one JSON line to this file")
    p.add_argument(
        "--check-bf16", action="store_true", help="compare one batch's loss in fp32 and bf16"
    )
    a = p.parse_args(own)
    if a.check_bf16:
        if not a.manifest:
            print("train_throughput: --check-bf16 needs --manifest", file=sys.stderr)
            return 2
        print(json.dumps(check_bf16(Path(a.manifest), a.batch_size)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = Path(a.manifest) if a.manifest else synth_manifest(tmp / "synth", a.synth_hours)
        if not manifest.is_file():
            print(f"train_throughput: --manifest {manifest}: not a file", file=sys.stderr)
            return 2
        rows = subset_manifest(manifest, a.rows, tmp)
        base = ["--train", str(rows), "--out", str(tmp / "run"), "--batch-size", str(a.batch_size)]
        load_before = os.getloadavg()
        result = measure(base + ["--warmup-steps", "10"] + train_argv, a.steps, a.warmup)
    result = {
        "label": a.label,
        "train_args": train_argv,
        "batch_size": a.batch_size,
        "rows": a.rows,
        "manifest": str(manifest),
        **result,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    line = json.dumps(result)
    print(line)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
