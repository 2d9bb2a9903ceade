"""Average the weights of checkpoints of one architecture (uniform weights, or --weights).

    python bench/average_checkpoints.py --out runs/avg runs/stage6/final runs/stage7/final

Checkpoints fine-tuned from one another lie in one basin, so their average is a model too
(often better held-out than either end); the first checkpoint's config.json (and
tokenizer.json, if any) is copied beside the averaged model.safetensors. A Trainer
checkpoint (runs/X/checkpoint-N) names every tensor under its training wrapper
(`echo.ctc_head.weight`); that prefix is dropped, so it averages with a final model.
"""

import argparse
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

TRAINER_PREFIX = "echo."  # echo_edge.train's wrapper module holds the model as .echo


def model_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The model's tensors of a checkpoint directory, named as Echo names them."""
    state = load_file(str(checkpoint / "model.safetensors"))
    if state and all(name.startswith(TRAINER_PREFIX) for name in state):
        state = {name[len(TRAINER_PREFIX) :]: t for name, t in state.items()}
    return state


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", type=Path, nargs="+", help="checkpoint directories")
    p.add_argument("--weights", type=float, nargs="+", help="one per checkpoint (default: equal)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    weights = args.weights or [1.0] * len(args.checkpoints)
    if len(weights) != len(args.checkpoints) or sum(weights) <= 0:
        print("average_checkpoints: one positive weight per checkpoint", file=sys.stderr)
        return 2
    states = [model_state(c) for c in args.checkpoints]
    if any(s.keys() != states[0].keys() for s in states):
        print("average_checkpoints: the checkpoints hold different tensors", file=sys.stderr)
        return 2
    total = sum(weights)
    averaged = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            acc = sum(w * s[name].double() for w, s in zip(weights, states))
            averaged[name] = (acc / total).to(first.dtype).contiguous()
        else:  # integer buffers are not averaged
            averaged[name] = first.clone()
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(averaged, str(args.out / "model.safetensors"), metadata={"format": "pt"})
    for name in ("config.json", "tokenizer.json"):
        if (args.checkpoints[0] / name).is_file():
            shutil.copy(args.checkpoints[0] / name, args.out / name)
    print(f"averaged {len(states)} checkpoints (weights {weights}) -> {args.out}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
