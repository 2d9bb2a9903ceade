"""SpecAugment and VTLP: masks where they say, VTLP's shape and identity, eval untouched."""

from __future__ import annotations

import numpy as np
import torch

from echo_edge import constants as C
from echo_edge.cli import build_parser
from echo_edge.hf import EchoForSpeechSeq2Seq
from echo_edge.model import Echo, Features
from echo_edge.specaugment import (
    FeatureAugment,
    SpecAugmentOptions,
    band_centres_hz,
    spec_augment,
    vtlp,
)
from echo_edge.train import feature_augment
from tests.conftest import harmonic, tiny_config


def random_mel(batch: int = 3, frames: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, C.N_MELS, frames, generator=g) + 0.5  # (B, 80, T), never the mean


def test_spec_augment_masks_what_it_says() -> None:
    mel = random_mel()
    frame_mask = torch.ones(3, 200)
    frame_mask[1, 120:] = 0.0  # item 1 has 120 real frames
    opts = SpecAugmentOptions(freq_masks=1, freq_width=10, time_masks=1, time_width=30)
    out = spec_augment(mel, frame_mask, opts, torch.Generator().manual_seed(3))
    for b in range(3):
        real = int(frame_mask[b].sum())
        mean = mel[b, :, :real].mean()
        changed = out[b] != mel[b]  # (80, T)
        assert torch.allclose(out[b][changed], mean.expand(int(changed.sum())))
        bands = changed[:, :real].all(dim=1).nonzero().flatten()  # bands masked on real frames
        frames = changed.all(dim=0).nonzero().flatten()  # fully masked frames
        assert len(bands) <= 10 and len(frames) <= min(30, int(0.2 * real))
        if len(bands):
            assert bands.max() - bands.min() + 1 == len(bands)  # one contiguous band
        assert not changed[:, real:].any()  # padding frames untouched
        rows, cols = changed.nonzero(as_tuple=True)  # every change is in a mask
        assert bool((torch.isin(rows, bands) | torch.isin(cols, frames)).all())
    assert (out != mel).any()


def test_spec_augment_is_reproducible_from_its_seed() -> None:
    mel, mask = random_mel(), torch.ones(3, 200)
    a = spec_augment(mel, mask, generator=torch.Generator().manual_seed(7))
    b = spec_augment(mel, mask, generator=torch.Generator().manual_seed(7))
    c = spec_augment(mel, mask, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_vtlp_keeps_shape_is_identity_at_one_and_moves_a_peak() -> None:
    mel = random_mel()
    assert torch.equal(vtlp(mel, torch.ones(3)), mel)
    warped = vtlp(mel, torch.tensor([0.9, 1.0, 1.1]))
    assert warped.shape == mel.shape
    assert torch.equal(warped[1], mel[1]) and not torch.equal(warped[0], mel[0])
    # a single bright band near 1 kHz moves up by ~10 % in frequency for a = 1.1
    peak = int(np.argmin(np.abs(band_centres_hz() - 1000.0)))
    line = torch.zeros(2, C.N_MELS, 5)
    line[:, peak] = 1.0
    up, down = vtlp(line, torch.tensor([1.1, 0.9])).argmax(dim=1)[:, 0]
    centres = band_centres_hz()
    assert centres[int(up)] > centres[peak] > centres[int(down)]
    assert abs(centres[int(up)] / centres[peak] - 1.1) < 0.06


def test_eval_outputs_are_bit_identical_with_and_without_augmentation() -> None:
    torch.manual_seed(0)
    model = Echo(tiny_config()).eval()
    wave = torch.from_numpy(np.stack([harmonic(1.0, seed=1), harmonic(1.0, f0=210, seed=2)]))
    labels = torch.tensor([[5, 6, 7, C.EOS_ID], [8, 9, C.EOS_ID, -100]])
    augment = FeatureAugment(SpecAugmentOptions(), (0.9, 1.1))
    with torch.no_grad():
        plain = model(wave, labels=labels)
        with_flags = model(wave, labels=labels, augment=augment)
    assert torch.equal(plain["logits"], with_flags["logits"])
    assert torch.equal(plain["loss"], with_flags["loss"])
    # the Trainer's model, as `echo-edge train --spec-augment --vtlp 0.9 1.1` sets it up
    args = build_parser().parse_args(
        ["train", "--train", "x", "--spec-augment", "--vtlp", "0.9", "1.1"]
    )
    hf = EchoForSpeechSeq2Seq.from_echo(model).eval()
    hf.feature_augment = feature_augment(args)
    assert hf.feature_augment == augment
    with torch.no_grad():
        assert torch.equal(hf(wave, labels=labels)["logits"], plain["logits"])
        assert torch.equal(hf.generate(wave), model.generate(wave))
    model.train()  # and in training mode it does change the features
    with torch.no_grad():
        torch.manual_seed(1)
        trained = model(wave, labels=labels, augment=augment)
    assert not torch.equal(trained["logits"], plain["logits"])


def test_feature_augment_changes_only_the_mel() -> None:
    mel = random_mel(2, 100)
    f = Features(
        mel, torch.rand(2, 3, 100), torch.zeros(2, 100), torch.rand(2, 16000), torch.ones(2, 100)
    )
    out = FeatureAugment(SpecAugmentOptions(), (0.9, 1.1))(f, torch.Generator().manual_seed(0))
    assert out.mel.shape == mel.shape and not torch.equal(out.mel, mel)
    assert out.pitch is f.pitch and out.wave is f.wave and out.frame_mask is f.frame_mask
