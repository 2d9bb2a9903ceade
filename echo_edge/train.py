"""`echo-edge train`: Echo on Hugging Face Seq2SeqTrainer.

Trainer gives checkpoints, resume, bf16 on CUDA, and DDP/FSDP under torchrun or accelerate:
    torchrun --nproc_per_node 4 -m echo_edge.cli train --train data/train.jsonl ...
Evaluation decodes greedily (predict_with_generate) for WER/CER and also scores the
teacher-forced logits for the seeds' token accuracy / precision / recall / F1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import torch
from tqdm import tqdm
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from echo_edge.config import EchoConfig, preset
from echo_edge.data import (
    NoRowsError,
    SpeechCollator,
    SpeechDataset,
    read_manifest,
    skipped_summary,
)
from echo_edge.decoding import strip_special
from echo_edge.feature_cache import CachedCollator, CachedFeatureDataset, FeatureCache
from echo_edge.hf import EchoForSpeechSeq2Seq, EchoHFConfig
from echo_edge.metrics import TokenStats, char_error_rate, word_error_rate
from echo_edge.model import Echo
from echo_edge.specaugment import FeatureAugment, SpecAugmentOptions
from echo_edge.text import normalize_text
from echo_edge.tokenizer import EchoTokenizer, default_tokenizer


class EchoTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer + length-grouped batches from manifest durations + token metrics."""

    def __init__(self, *args: object, token_stats: TokenStats, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.token_stats = token_stats

    def _get_train_sampler(self, train_dataset=None):  # noqa: ANN001, ANN202
        ds = train_dataset if train_dataset is not None else self.train_dataset
        lengths = getattr(ds, "lengths", None)
        if lengths is None or self.args.world_size > 1:
            return super()._get_train_sampler(train_dataset)
        batch = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
        return LengthGroupedSampler(batch, lengths=lengths)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **kw):  # noqa: ANN001, ANN201
        out = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys, **kw)
        if not prediction_loss_only and "labels" in inputs:
            with torch.no_grad():
                inputs = self._prepare_inputs(inputs)
                logits = model(**inputs)["logits"]
            self.token_stats.update(logits.argmax(-1).cpu().numpy(), inputs["labels"].cpu().numpy())
        return out


class LearnedParamsCallback(TrainerCallback):
    """Adds the learned blend / pitch / score / gate values to every log line."""

    def on_log(self, args, state, control, model=None, logs=None, **kw):  # noqa: ANN001, ANN201
        if model is not None and logs is not None:
            echo = getattr(model, "echo", None) or getattr(
                getattr(model, "module", None), "echo", None
            )
            if echo is not None:
                for key, value in flatten(echo.learned_report()).items():
                    logs[f"learned/{key}"] = round(value, 5)


class JsonLogCallback(ProgressCallback):
    """Trainer's progress bar, each log line printed as JSON whose numbers are numbers
    (ProgressCallback and PrinterCallback print floats as "%.4g" strings)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001, ANN201
        if state.is_world_process_zero and logs:
            line = {k: as_number(v) for k, v in logs.items() if k != "total_flos"}
            tqdm.write(json.dumps(line, default=str), file=self.out)
            self.out.flush()


def as_number(value: object) -> object:
    """A log value as JSON would best carry it: floats to 6 significant digits, numpy and
    tensor scalars as Python numbers, anything else unchanged."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return float(f"{value:.6g}")
    return value


def flatten(report: dict, prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for k, v in report.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, name + "."))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                flat.update(flatten(item, f"{name}.{i}."))
        else:
            flat[name] = float(v)
    return flat


def make_compute_metrics(tokenizer: EchoTokenizer, token_stats: TokenStats):  # noqa: ANN201
    def compute_metrics(pred) -> dict[str, float]:  # noqa: ANN001
        generated, labels = pred.predictions, pred.label_ids
        if isinstance(generated, tuple):
            generated = generated[0]
        hyps = [tokenizer.decode(strip_special(row.tolist())) for row in generated]
        refs = [tokenizer.decode([t for t in row.tolist() if t >= 0]) for row in labels]
        metrics = {"wer": word_error_rate(refs, hyps), "cer": char_error_rate(refs, hyps)}
        metrics.update(token_stats.summary())
        token_stats.reset()
        return metrics

    return compute_metrics


def config_from_args(args: argparse.Namespace, vocab_size: int) -> EchoConfig:
    overrides = dict(
        vocab_size=vocab_size,
        features=tuple(args.features),
        score=args.score,
        silence_scale=args.silence_scale,
        pad_mask=args.pad_mask,
        pitch_theta=args.pitch_theta,
        pitch_radius=args.pitch_radius,
        pitch_bias=args.pitch_bias,
        betweenness=args.betweenness,
        learned_freq=args.learned_freq,
        cross_gate=not args.no_cross_gate,
        ctc_weight=args.ctc_weight,
    )
    return preset(args.preset, **overrides)


def training_rows(manifests: list[str], hold_out: list[str]) -> list[dict]:
    """The rows of every training manifest, less those whose text a hold-out manifest has.

    Bad rows (bad JSON or UTF-8, no audio or text) are skipped and named in one line on
    stderr; NoRowsError when nothing is left."""
    skipped: list[str] = []
    rows, total = [], 0
    for path in manifests:
        before = len(skipped)
        read = read_manifest(path, skipped)
        total += len(read) + len(skipped) - before
        rows += read
    if skipped:
        print(f"echo-edge: warning: --train: {skipped_summary(skipped, total)}", file=sys.stderr)
    if not rows:
        why = "every row is bad" if skipped else "the manifests are empty"
        raise NoRowsError(f"--train {' '.join(map(str, manifests))}: no training rows ({why})")
    held = {normalize_text(row["text"]) for path in hold_out for row in read_manifest(path, [])}
    kept = [row for row in rows if normalize_text(row["text"]) not in held]
    if held:
        print(
            f"training rows: {len(kept)} of {len(rows)} (dropped {len(rows) - len(kept)} held out)"
        )
    if not kept:
        raise NoRowsError(
            f"no training rows left: all {len(rows)} have a text in --hold-out "
            f"{' '.join(map(str, hold_out))}"
        )
    return kept


def training_dataset(rows: list[dict], tokenizer: EchoTokenizer, args: argparse.Namespace):  # noqa: ANN201
    """SpeechDataset of the rows that can be read and are at most --max-seconds long, with
    the --augment chain (seeded by --seed) and --speed-perturb on every read."""
    dataset = SpeechDataset(
        rows,
        tokenizer,
        max_seconds=args.max_seconds,
        speed_perturb=tuple(args.speed_perturb) if args.speed_perturb else None,
        augment=args.augment,
        seed=args.seed,
        join_prob=getattr(args, "join_prob", 0.0),
        cut_prob=getattr(args, "cut_prob", 0.0),
    )
    if dataset.unreadable:
        summary = skipped_summary(dataset.unreadable, len(rows))
        print(f"echo-edge: warning: --train: unreadable audio, {summary}", file=sys.stderr)
    if not len(dataset):
        raise NoRowsError(
            f"no training rows left: of {len(rows)}, {dataset.dropped} are longer than "
            f"--max-seconds {args.max_seconds:g} and {len(dataset.unreadable)} unreadable"
        )
    return dataset


def check_out_dir(out: str) -> None:
    """Create --out now (not after the first training steps) or fail naming it."""
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot create the directory ({e.strerror or e})") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"--out {out}: the directory is not writable")


class TrainArgsError(ValueError):
    """Flags that do not go together: one line, exit status 2 (usage)."""

    exit_status = 2


def check_throughput_args(args: argparse.Namespace) -> None:
    """--feature-cache keeps one rendering of each utterance: not with waveform augmentation."""
    if args.feature_cache:
        changing = [
            flag
            for flag, value in (
                ("--speed-perturb", args.speed_perturb),
                ("--augment", args.augment != "none"),
                ("--join-prob", getattr(args, "join_prob", 0.0) > 0),
                ("--cut-prob", getattr(args, "cut_prob", 0.0) > 0),
            )
            if value
        ]
        if changing:
            raise TrainArgsError(
                f"--feature-cache cannot be used with {' '.join(changing)}: waveform "
                "augmentation changes the features every epoch (use --spec-augment/--vtlp)"
            )


def feature_augment(args: argparse.Namespace) -> FeatureAugment | None:
    """The training-only feature augmentation that --spec-augment and --vtlp ask for."""
    if not args.spec_augment and not args.vtlp:
        return None
    vtlp = tuple(args.vtlp) if args.vtlp else None
    if vtlp is not None and vtlp[0] > vtlp[1]:
        raise TrainArgsError(f"--vtlp {vtlp[0]:g} {vtlp[1]:g}: LOW must not exceed HIGH")
    return FeatureAugment(SpecAugmentOptions() if args.spec_augment else None, vtlp)


def build_trainer(args: argparse.Namespace, config: EchoConfig | None = None) -> EchoTrainer:
    """Trainer for the parsed `echo-edge train` arguments; `config` overrides the preset."""
    check_throughput_args(args)
    tokenizer = default_tokenizer()
    train_ds = training_dataset(training_rows(args.train, args.hold_out), tokenizer, args)
    dev_rows = read_manifest(args.dev, [], check_audio=True)[: args.max_eval] if args.dev else []
    dev_ds = SpeechDataset(dev_rows, tokenizer) if dev_rows else None
    if dev_ds is not None and not len(dev_ds):
        raise NoRowsError(f"--dev {args.dev}: no readable rows")
    check_out_dir(args.out)
    if args.init:
        base = Echo.from_pretrained(args.init)
        model = EchoForSpeechSeq2Seq.from_echo(base)
    else:
        torch.manual_seed(args.seed)
        cfg = config or config_from_args(args, tokenizer.vocab_size)
        model = EchoForSpeechSeq2Seq(EchoHFConfig(echo=cfg.to_dict()))
    cuda = torch.cuda.is_available()
    if args.threads:
        torch.set_num_threads(args.threads)
    targs = Seq2SeqTrainingArguments(
        output_dir=args.out,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="cosine",
        warmup_steps=args.warmup_steps,
        weight_decay=0.01,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        logging_steps=max(1, min(50, args.eval_steps // 5)),
        eval_strategy="steps" if dev_ds is not None else "no",
        eval_steps=args.eval_steps,
        save_steps=args.eval_steps,
        save_total_limit=2,
        predict_with_generate=True,
        bf16=(cuda and torch.cuda.is_bf16_supported()) or args.bf16,
        use_cpu=not cuda,  # Trainer takes bf16 on a CPU only when told it runs there
        dataloader_num_workers=args.workers,
        remove_unused_columns=False,
        report_to=[],
        seed=args.seed,
        optim="adamw_torch",
        dataloader_pin_memory=False,
    )
    collator = SpeechCollator(pad_to_seconds=args.pad_to_seconds)
    if args.feature_cache:
        train_ds = CachedFeatureDataset(
            train_ds, FeatureCache(args.feature_cache, model.echo.config)
        )
        collator = CachedCollator(pad_to_seconds=args.pad_to_seconds)
    model.feature_augment = feature_augment(args)
    stats = TokenStats(tokenizer.vocab_size)
    return EchoTrainer(
        model=model,
        args=targs,
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        data_collator=collator,
        compute_metrics=make_compute_metrics(tokenizer, stats),
        callbacks=[LearnedParamsCallback()],
        token_stats=stats,
    )


def run_train(args: argparse.Namespace) -> int:
    """Train, then save the final model as a plain Echo checkpoint in OUT/final.

    Log lines are JSON objects of numbers, on stdout; with --json they go to stderr and
    stdout gets one JSON object: the output paths and the final metrics."""
    as_json = getattr(args, "json", False)
    stdout = sys.stdout
    start = time.time()
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        trainer = build_trainer(args)
        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(JsonLogCallback(sys.stdout))  # stderr with --json
        trained = trainer.train(resume_from_checkpoint=True if args.resume else None)
        final = Path(args.out) / "final"
        model: EchoForSpeechSeq2Seq = trainer.model
        model.save_echo(final)
        summary = {
            "train_seconds": round(time.time() - start, 1),
            "parameters": model.echo.num_parameters(),
            "learned": model.echo.learned_report(),
            "train": {k: as_number(v) for k, v in trained.metrics.items() if k != "total_flos"},
            "args": {k: v for k, v in vars(args).items() if k != "func"},
        }
        if trainer.eval_dataset is not None:
            summary["eval"] = {k: as_number(v) for k, v in trainer.evaluate().items()}
    path = final / "train_summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if as_json:
        result = {"out": str(args.out), "final": str(final), "summary": str(path)}
        result |= {k: v for k, v in summary.items() if k != "args"}
        print(json.dumps(result, indent=2), file=stdout, flush=True)
        return 0
    print(json.dumps({k: summary[k] for k in ("train_seconds", "parameters", "learned")}))
    if "eval" in summary:
        print(json.dumps(summary["eval"]))
    print(f"saved {final}")
    return 0
