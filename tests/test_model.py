"""The Echo model's contracts (DESIGN §3), on tiny random configs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from echo_edge import constants as C
from echo_edge.attention import Attention, key_bias
from echo_edge.config import PRESETS, EchoConfig
from echo_edge.decoding import DecodingOptions, token_budget
from echo_edge.model import Echo, shift_right
from echo_edge.rotary import Rotary, apply_rotary
from tests.conftest import append_without_guard, harmonic, tiny_config


def make(**overrides: object) -> Echo:
    torch.manual_seed(0)
    return Echo(tiny_config(**overrides)).eval()


def audio_batch(seconds: tuple[float, ...] = (1.0, 0.7)) -> tuple[torch.Tensor, torch.Tensor]:
    waves = [torch.from_numpy(harmonic(s, f0=120 + 40 * i, seed=i)) for i, s in enumerate(seconds)]
    n = max(len(w) for w in waves)
    x = torch.zeros(len(waves), n)
    mask = torch.zeros(len(waves), n, dtype=torch.long)
    for i, w in enumerate(waves):
        x[i, : len(w)] = w
        mask[i, : len(w)] = 1
    return x, mask


def test_decoder_is_causal() -> None:
    model = make()
    x, mask = audio_batch()
    tokens = torch.randint(4, 32, (2, 12))
    base = model(x, mask, decoder_input_ids=tokens)["logits"]
    for t in range(11):
        changed = tokens.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 7) % 28 + 4
        logits = model(x, mask, decoder_input_ids=changed)["logits"]
        assert torch.equal(logits[:, : t + 1], base[:, : t + 1]), f"token {t + 1} leaked back"
        assert not torch.allclose(logits[:, t + 1 :], base[:, t + 1 :])


@pytest.mark.parametrize("eps", [1e-3, 1e-6])
@pytest.mark.parametrize("score", ["dot", "cosine", "blend"])
def test_soft_silence_scales_weight_by_eps(eps: float, score: str) -> None:
    torch.manual_seed(0)
    attn = Attention(tiny_config(n_heads=1, d_model=16, score=score))
    q, k = torch.randn(1, 1, 5, 16), torch.randn(1, 1, 7, 16)
    silent = torch.tensor([[False, True, False, True, False, False, True]])
    plain = attn.weights(q, k, None)[0, 0].double()  # (5, 7)
    masked = attn.weights(q, k, key_bias(silent, eps)[:, None, None, :])[0, 0].double()
    # Ratio silent key 1 : speech key 0, masked vs unmasked, for every query.
    ratio = (masked[:, 1] / masked[:, 0]) / (plain[:, 1] / plain[:, 0])
    assert torch.allclose(ratio, torch.full_like(ratio, eps), rtol=1e-3)
    assert torch.allclose(masked.sum(-1), torch.ones(5, dtype=torch.double), atol=1e-6)


def test_hard_padding_mask_gives_zero_weight() -> None:
    torch.manual_seed(0)
    attn = Attention(tiny_config())
    q, k = torch.randn(1, 2, 3, 16), torch.randn(1, 2, 4, 16)
    pad = torch.tensor([[False, False, True, True]])
    w = attn.weights(q, k, key_bias(pad, 0.0)[:, None, None, :])
    assert torch.all(w[..., 2:] == 0.0)


def test_hard_silence_mask_gives_silent_keys_zero_weight() -> None:
    """silence_scale 0 (the ablation's hard baseline): silent keys get no weight at all."""
    from echo_edge.encoder import encoder_key_bias

    cfg = tiny_config(n_heads=1, d_model=16, silence_scale=0.0)
    attn = Attention(cfg)
    q, k = torch.randn(1, 1, 5, 16), torch.randn(1, 1, 7, 16)
    silence = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    bias = encoder_key_bias(torch.ones(1, 7), silence, cfg)  # (1, 7)
    w = attn.weights(q, k, bias[:, None, None, :])[0, 0]  # (5, 7)
    assert torch.all(w[:, silence[0] > 0.5] == 0.0)
    assert torch.allclose(w.sum(-1), torch.ones(5), atol=1e-6)


def polar_reference(x, positions, inv_freq, radius):  # noqa: ANN001, ANN201
    """The complex form: (x1 + i x2) * polar(r, p * inv_freq), in float64."""
    xc = torch.complex(*x.double().chunk(2, dim=-1))  # (B, H, T, D/2)
    angle = positions.double()[:, None, :, None] * inv_freq.double()
    rot = torch.polar(radius.double()[:, None, :, None].expand_as(angle), angle)
    out = xc * rot
    return torch.cat([out.real, out.imag], dim=-1)


@pytest.mark.parametrize("learned", [False, True])
def test_real_rotary_equals_complex_polar(learned: bool) -> None:
    torch.manual_seed(0)
    rot = Rotary(16, learned=learned)
    x = torch.randn(2, 3, 9, 16)
    positions = torch.rand(2, 9).cumsum(-1) * 3  # continuous, pitch-warped positions
    radius = torch.exp(0.3 * torch.randn(2, 9))
    cos, sin = rot.cos_sin(positions)
    ours = apply_rotary(x, cos, sin, radius).double()
    ref = polar_reference(x, positions, rot.inv_freq.detach(), radius)
    assert (ours - ref).abs().max() < 1e-5


def test_rotary_scores_depend_on_relative_position_only() -> None:
    rot = Rotary(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(pq: float, pk: float) -> float:
        cq, sq = rot.cos_sin(torch.tensor([[pq]]))
        ck, sk = rot.cos_sin(torch.tensor([[pk]]))
        return float((apply_rotary(q, cq, sq) * apply_rotary(k, ck, sk)).sum())

    assert math.isclose(score(3.5, 1.25), score(10.5, 8.25), rel_tol=1e-4)


ALL_ON = dict(
    features=("spectrogram", "waveform", "pitch"),
    score="blend",
    pitch_theta=True,
    pitch_radius=True,
    pitch_bias=True,
    betweenness=True,
    learned_freq=True,
    cross_gate=True,
)


def test_every_learnable_seed_parameter_gets_gradient() -> None:
    model = make(**ALL_ON).train()
    x, mask = audio_batch()
    labels = torch.randint(4, 32, (2, 10))
    model(x, mask, labels=labels)["loss"].backward()
    enc = model.encoder
    params = {
        "blend": enc.blend.logits,
        "gamma": enc.positions.gamma,
        "rho": enc.positions.rho,
        "lambda": enc.positions.lam,
        "beta": enc.positions.beta,
        "learned_freq": enc.rotary.log_inv_freq,
        "score_beta": enc.blocks[0].attn.score.beta,
        "score_tau": enc.blocks[0].attn.score.log_tau,
        "cross_gate": model.decoder.blocks[0].gate,
    }
    for name, p in params.items():
        assert p.requires_grad, name
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"
    # Pitch terms start at zero: every variant starts as plain RoPE.
    for name in ("gamma", "rho", "lambda", "beta"):
        assert float(params[name].detach()) == 0.0


def test_cached_greedy_equals_uncached_decoding(monkeypatch) -> None:
    import echo_edge.decoding as decoding

    # The repetition guard forces eos where the argmax continues a loop (tests/test_loopguard.py).
    monkeypatch.setattr(decoding, "append_or_stop", append_without_guard)
    model = make(**ALL_ON)
    x, mask = audio_batch()
    out = model.generate(x, mask)  # (B, L) bos ... eos pads
    assert out.shape[1] > 3
    logits = model(x, mask, decoder_input_ids=out[:, :-1])["logits"]
    caps = token_budget(mask.sum(-1) / C.SAMPLE_RATE, DecodingOptions(), model.decoder)
    for b in range(out.shape[0]):
        ids = out[b].tolist()
        end = ids.index(C.EOS_ID) if C.EOS_ID in ids else len(ids) - 1
        free = min(end, int(caps[b]))  # the loop guard forces eos at the cap: not an argmax
        uncached = logits[b, :free].argmax(-1).tolist()
        assert uncached == ids[1 : free + 1]


def test_generation_respects_loop_guard() -> None:
    model = make(max_tokens_per_second=5.0)
    x = torch.from_numpy(harmonic(1.0))[None]
    out = model.generate(x)
    assert out.shape[1] <= 1 + 5 + 8 + 1  # bos + 5 tok/s + min_tokens + eos


def test_padded_batch_matches_single_items() -> None:
    model = make(**ALL_ON)
    x, mask = audio_batch((1.0, 0.6))
    tokens = torch.randint(4, 32, (2, 6))
    batch = model(x, mask, decoder_input_ids=tokens)["logits"]
    n = int(mask[1].sum())
    alone = model(x[1:, :n], decoder_input_ids=tokens[1:])["logits"]
    assert torch.allclose(batch[1], alone[0], atol=1e-4)


def test_presets_build_with_expected_sizes() -> None:
    counts = {}
    for name, cfg in PRESETS.items():
        counts[name] = Echo(cfg).num_parameters()
    assert 3e6 <= counts["tiny"] <= 6e6, counts
    assert 15e6 <= counts["small"] <= 25e6, counts
    seed = PRESETS["seed"]
    assert (seed.d_model, seed.n_heads, seed.encoder_layers, seed.decoder_layers) == (512, 4, 4, 4)


GRID = list(
    itertools.product(
        [("spectrogram",), ("waveform",), ("spectrogram", "waveform", "pitch")],
        ["dot", "cosine", "blend"],
        [(1.0, "hard"), (1e-3, "soft")],
        [False, True],
    )
)


@pytest.mark.parametrize("features,score,masking,pitch", GRID)
def test_switch_grid_runs_forward_and_backward(features, score, masking, pitch) -> None:  # noqa: ANN001
    scale, pad = masking
    model = make(
        features=features,
        score=score,
        silence_scale=scale,
        pad_mask=pad,
        pitch_theta=pitch,
        pitch_radius=pitch,
        pitch_bias=pitch,
        betweenness=pitch,
        learned_freq=pitch,
        cross_gate=pitch,
    ).train()
    x, mask = audio_batch((0.5, 0.3))
    labels = torch.randint(4, 32, (2, 5))
    labels[1, 3:] = -100
    out = model(x, mask, labels=labels)
    assert out["logits"].shape == (2, 5, 32)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_save_load_round_trips_bit_exactly(tmp_path) -> None:  # noqa: ANN001
    model = make(**ALL_ON)
    with torch.no_grad():
        model.encoder.positions.gamma.fill_(0.25)  # non-default values survive too
    model.save_pretrained(tmp_path)
    loaded = Echo.from_pretrained(tmp_path)
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    x, mask = audio_batch()
    assert torch.equal(model.generate(x, mask), loaded.generate(x, mask))


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        EchoConfig(features=("spectrogram", "video"))
    with pytest.raises(ValueError):
        EchoConfig(score="l2")
    with pytest.raises(ValueError):
        EchoConfig.from_dict({"d_model": 64, "colour": "red"})


def test_shift_right_replaces_ignore_index() -> None:
    labels = torch.tensor([[5, 6, 2, -100]])
    assert shift_right(labels).tolist() == [[C.BOS_ID, 5, 6, 2]]


def test_blend_weights_are_reportable() -> None:
    model = make(features=("spectrogram", "waveform"))
    report = model.learned_report()["blend"]
    assert set(report) == {"spectrogram", "waveform"}
    assert np.isclose(sum(report.values()), 1.0)


def test_auxiliary_ctc_loss_mixes_in_and_trains_its_head() -> None:
    x, mask = audio_batch()
    labels = torch.randint(4, 32, (2, 8))
    labels[:, -1] = C.EOS_ID
    plain = make()
    with_ctc = make(ctc_weight=0.3).train()
    with_ctc.load_state_dict(plain.state_dict(), strict=False)  # same weights but the head
    ce = plain(x, mask, labels=labels)["loss"]
    f = with_ctc.features(x, mask)
    states, _ = with_ctc.encoder(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
    ctc = with_ctc.ctc_loss(states, f.frame_mask, labels)
    total = with_ctc(x, mask, labels=labels)["loss"]
    assert torch.isfinite(ctc) and ctc > 0
    assert torch.allclose(total, 0.7 * ce + 0.3 * ctc, atol=1e-5)
    total.backward()
    assert with_ctc.ctc_head.weight.grad.abs().sum() > 0


def test_the_reference_searches_grow_the_cache_and_decode_as_with_the_full_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """greedy and joint greedy start at MIN_CACHE_SLOTS and double (Decoder.fit_cache, capped
    at max_target_len): the same ids as a search that starts with the full cache."""
    import echo_edge.decoding as decoding
    from echo_edge.runtime.bundle import MIN_CACHE_SLOTS

    model = make()
    decoder = model.decoder
    k, v = decoder.empty_cache(2, MIN_CACHE_SLOTS)
    assert decoder.fit_cache(k, v, MIN_CACHE_SLOTS)[0] is k  # enough room: unchanged
    k2, v2 = decoder.fit_cache(k + 1, v + 1, MIN_CACHE_SLOTS + 1)
    assert k2.shape[3] == v2.shape[3] == 2 * MIN_CACHE_SLOTS
    assert (k2[..., :MIN_CACHE_SLOTS, :] == 1).all() and (k2[..., MIN_CACHE_SLOTS:, :] == 0).all()
    cap = model.config.max_target_len
    assert decoder.fit_cache(k, v, cap)[0].shape[3] == cap  # 16 -> 64 would pass the cap
    # Step by step over 40 tokens (16 -> 32 -> 48 slots): the full cache's logits.
    x, mask = audio_batch((1.0, 0.7))
    with torch.no_grad():
        cross = model.encode_audio(x, mask)
        tokens = torch.randint(4, model.config.vocab_size, (2, 40))
        runs = []
        for cache in (decoding.start_cache(decoder, 2, None), decoder.empty_cache(2)):
            k, v = cache
            steps = []
            for i in range(tokens.shape[1]):
                k, v = decoder.fit_cache(k, v, i + 1)
                logits, k, v = decoder.decode_step(
                    tokens[:, i : i + 1], torch.tensor(i), k, v, *cross
                )
                steps.append(logits[:, 0])
            runs.append((torch.stack(steps), k.shape[3]))
    assert runs[0][1] == 48 == runs[1][1]
    assert (runs[0][0] - runs[1][0]).abs().max() < 1e-5
    # The searches themselves: the same ids either way.
    for options in (DecodingOptions(ctc_weight=0.0), DecodingOptions(ctc_weight=0.4)):
        with torch.no_grad():
            grown = model.generate(x, mask, options=options)
        with monkeypatch.context() as m:
            m.setattr(decoding, "start_cache", lambda d, b, device: d.empty_cache(b, None, device))
            with torch.no_grad():
                full = model.generate(x, mask, options=options)
        assert torch.equal(grown, full), options
