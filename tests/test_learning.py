"""The model can learn: a tiny Echo overfits 8 espeak-ng utterances, judged by greedy generate."""

from __future__ import annotations

import torch

from echo_edge.decoding import strip_special
from echo_edge.model import Echo
from echo_edge.tokenizer import default_tokenizer
from tests.conftest import tiny_config
from tests.speech import speak

SENTENCES = [
    "turn on the lights",
    "what time is it",
    "play some music",
    "set a timer for ten minutes",
    "the cat sat on the mat",
    "call my mother",
    "open the door please",
    "how is the weather today",
]
STEPS = 600


def test_tiny_model_overfits_eight_utterances() -> None:
    tok = default_tokenizer()
    waves = [torch.from_numpy(speak(s, voice="en-us")) for s in SENTENCES]
    n = max(len(w) for w in waves)
    x = torch.zeros(len(waves), n)
    mask = torch.zeros(len(waves), n, dtype=torch.long)
    for i, w in enumerate(waves):
        x[i, : len(w)], mask[i, : len(w)] = w, 1
    ids = [tok.encode(s) + [tok.eos_id] for s in SENTENCES]
    labels = torch.full((len(ids), max(map(len, ids))), -100)
    for i, row in enumerate(ids):
        labels[i, : len(row)] = torch.tensor(row)

    torch.manual_seed(0)
    model = Echo(tiny_config(d_model=96, n_heads=4, vocab_size=tok.vocab_size, max_target_len=64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(STEPS):
        loss = model(x, mask, labels=labels)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 49:
            model.eval()
            out = model.generate(x, mask)
            hyps = [tok.decode(strip_special(row.tolist())) for row in out]
            model.train()
            if hyps == SENTENCES:
                break
    assert hyps == SENTENCES, f"after {step + 1} steps (loss {loss.item():.3f}): {hyps}"
