"""CTC decoding (runtime/ctc.py): greedy on hand-made frames, the prefix score against brute
force over every alignment, joint decoding at weight 0 against attention greedy, and the
reference's joint search (echo_edge.decoding) against the runtime's on one model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from echo_edge.runtime.ctc import CtcPrefixScorer, ctc_greedy, joint_greedy_decode
from tests.conftest import harmonic
from tests.test_runtime import tiny_bundle_root


def frames(ids: list[int], vocab: int = 8, p: float = 0.9) -> np.ndarray:
    """(T, V) log-probs whose argmax at frame t is ids[t], probability p."""
    out = np.full((len(ids), vocab), (1.0 - p) / (vocab - 1))
    out[np.arange(len(ids)), ids] = p
    return np.log(out)


def test_ctc_greedy_collapses_repeats_and_drops_blanks() -> None:
    assert ctc_greedy(frames([0, 4, 4, 0, 4, 5, 5, 0])) == [4, 4, 5]
    assert ctc_greedy(frames([4, 4, 4])) == [4]
    assert ctc_greedy(frames([0, 0, 0])) == []
    assert ctc_greedy(frames([1, 4, 2, 3, 5, 0])) == [4, 5]  # bos, eos, unk are not output


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    merged = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
    return tuple(s for s in merged if s != 0)


def brute_force(logp: np.ndarray) -> dict[str, dict[tuple[int, ...], float]]:
    """P(output starts with g) and P(output == g) for every g, summed over all V^T paths."""
    T, V = logp.shape
    starts: dict[tuple[int, ...], float] = {}
    exact: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V), repeat=T):
        p = float(np.exp(logp[np.arange(T), path].sum()))
        out = collapse(path)
        exact[out] = exact.get(out, 0.0) + p
        for n in range(len(out) + 1):
            starts[out[:n]] = starts.get(out[:n], 0.0) + p
    return {"starts": starts, "exact": exact}


def test_prefix_score_equals_the_sum_over_alignments() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3)) * 2.0  # T = 5 frames, blank 0 and tokens 1, 2
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    truth = brute_force(logp)
    scorer = CtcPrefixScorer(logp)
    # Every prefix of up to 4 tokens (repeats included), grown one token at a time.
    frontier = [((), scorer.initial())]
    checked = 0
    for _ in range(4):
        grown = []
        for g, state in frontier:
            for c, s in zip((1, 2), scorer.extend(state, np.array([1, 2]))):
                h = (*g, c)
                assert np.exp(s.score) == pytest.approx(truth["starts"].get(h, 0.0), abs=1e-12)
                assert np.exp(scorer.full(s)) == pytest.approx(
                    truth["exact"].get(h, 0.0), abs=1e-12
                )
                grown.append((h, s))
                checked += 1
        frontier = grown
    assert checked == 2 + 4 + 8 + 16
    assert np.exp(scorer.full(scorer.initial())) == pytest.approx(truth["exact"][()])
    assert sum(truth["exact"].values()) == pytest.approx(1.0)


def test_prefix_score_of_a_clear_spelling() -> None:
    logp = frames([0, 4, 4, 0, 4, 5, 0], p=0.99)
    scorer = CtcPrefixScorer(logp)
    state = scorer.initial()
    for c in (4, 4, 5):
        scores = {int(t): s for t, s in zip(range(4, 8), scorer.extend(state, np.arange(4, 8)))}
        assert max(scores, key=lambda t: scores[t].score) == c
        state = scores[c]
    assert scorer.full(state) > np.log(0.5)


@pytest.fixture(scope="module")
def recognizer():
    from echo_edge.runtime.recognizer import Recognizer

    return Recognizer.from_bundle(tiny_bundle_root() / "bundle")


def test_joint_decoding_at_weight_zero_is_attention_greedy(recognizer) -> None:
    from echo_edge.runtime.decoding import greedy_decode

    rng = np.random.default_rng(0)
    for seed, seconds in ((5, 3.0), (6, 1.0)):
        f = recognizer.features(harmonic(seconds, seed=seed))
        cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
        if cross.ctc is None:  # the tiny model has no CTC head: random frames stand in
            x = rng.normal(size=(cross.bias.shape[-1], recognizer.tokenizer.vocab_size))
            cross = cross._replace(ctc=x - np.log(np.exp(x).sum(-1, keepdims=True)))
        for cap in (0, 3, 40):
            assert joint_greedy_decode(recognizer.backend, cross, cap, 0.0) == greedy_decode(
                recognizer.backend, cross, cap
            )
            ids, calls = joint_greedy_decode(recognizer.backend, cross, cap, 0.5)
            assert len(ids) <= cap and calls <= cap + 1
            assert all(i >= 4 for i in ids)  # no blank or special id


def test_joint_decoding_fills_attention_logprobs_like_greedy(recognizer) -> None:
    from echo_edge.runtime.decoding import greedy_decode

    f = recognizer.features(harmonic(2.0, seed=5))
    cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
    x = np.random.default_rng(1).normal(
        size=(cross.bias.shape[-1], recognizer.tokenizer.vocab_size)
    )
    cross = cross._replace(ctc=x - np.log(np.exp(x).sum(-1, keepdims=True)))
    for cap in (0, 3, 40):
        ours: list[float] = []
        greedy: list[float] = []
        joint_greedy_decode(recognizer.backend, cross, cap, 0.0, logprobs=ours)
        greedy_decode(recognizer.backend, cross, cap, logprobs=greedy)
        assert ours == pytest.approx(greedy)
        joint: list[float] = []
        ids, _ = joint_greedy_decode(recognizer.backend, cross, cap, 0.5, logprobs=joint)
        assert len(joint) == len(ids) + 1 and all(v <= 0 for v in joint)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("ctc_weight", -0.1, "ctc_weight"),
        ("ctc_weight", 1.0, "ctc_weight"),
        ("ctc_weight", float("nan"), "ctc_weight"),
        ("ctc_top_k", 0, "ctc_top_k"),
    ],
)
def test_decoding_options_refuse_bad_ctc_settings(field: str, value: float, needle: str) -> None:
    from echo_edge.runtime.decoding import DecodingOptions

    with pytest.raises(ValueError, match=needle):
        DecodingOptions(**{field: value})
    # Joint decoding is the default, at the weight picked on the dev split.
    assert DecodingOptions().ctc_weight == 0.4 and DecodingOptions().ctc_top_k == 5


# ---- the reference's joint search (echo_edge.decoding) against the runtime's ----------------
@pytest.fixture(scope="module")
def ctc_model_and_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """A seeded random tiny Echo whose CTC head is scaled up (peaked, so that it changes the
    search) and its ONNX fp32 export -> (model, Recognizer)."""
    import torch

    from echo_edge.export.pipeline import export_bundle
    from echo_edge.model import Echo
    from echo_edge.runtime.recognizer import Recognizer
    from tests.conftest import tiny_config

    root = tmp_path_factory.mktemp("joint")
    torch.manual_seed(0)
    model = Echo(tiny_config(ctc_weight=0.3)).eval()
    with torch.no_grad():
        model.ctc_head.weight.mul_(30.0)
    model.save_pretrained(root / "ckpt")
    bundle = export_bundle(root / "ckpt", "onnx", "fp32", root / "b", log=lambda _: None,
                           verify=False)  # fmt: skip
    recognizer = Recognizer.from_bundle(bundle)
    yield model, recognizer
    recognizer.close()


def test_reference_and_runtime_joint_search_give_the_same_tokens(ctc_model_and_bundle) -> None:
    import torch

    from echo_edge.decoding import DecodingOptions as ReferenceOptions
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.verify_checks import generated_ids

    model, recognizer = ctc_model_and_bundle
    assert recognizer.backend.has_ctc
    differs = 0
    for seed, seconds in ((5, 3.0), (6, 1.0), (7, 2.2)):
        x = harmonic(seconds, seed=seed)
        for weight in (0.0, 0.4, 0.7):
            options = DecodingOptions(ctc_weight=weight)
            ref = generated_ids(
                model.generate(torch.from_numpy(x)[None], options=ReferenceOptions.like(options))[
                    0
                ].tolist()
            )
            got = list(recognizer.recognize(x, options=options).tokens)
            assert got == ref, (seed, weight)
            if weight == 0.0:
                attention = ref
            else:
                differs += ref != attention
    assert differs >= 1  # the CTC term changed the search: the joint path really ran


def test_reference_joint_search_is_the_same_in_a_batch(ctc_model_and_bundle) -> None:
    import torch

    from echo_edge.decoding import DecodingOptions

    model, _ = ctc_model_and_bundle
    a, b = harmonic(2.0, seed=5), harmonic(1.2, seed=6)
    batch = torch.zeros(2, len(a))
    batch[0], batch[1, : len(b)] = torch.from_numpy(a), torch.from_numpy(b)
    mask = torch.zeros(2, len(a), dtype=torch.long)
    mask[0], mask[1, : len(b)] = 1, 1
    options = DecodingOptions(ctc_weight=0.4)
    both = model.generate(batch, mask, options)
    for row, x in zip(both.tolist(), (a, b)):
        alone = model.generate(torch.from_numpy(x)[None], options=options)[0].tolist()
        assert row[: len(alone)] == alone and set(row[len(alone) :]) <= {0}


def test_reference_and_runtime_lm_search_give_the_same_tokens(ctc_model_and_bundle) -> None:
    """The word-LM beam search (runtime/lm_search.py) on both sides of one model: the same
    tokens, and not joint greedy's on every input (the LM search really ran)."""
    import torch

    pytest.importorskip("pocketsphinx")
    from echo_edge.decoding import DecodingOptions as ReferenceOptions
    from echo_edge.runtime.decoding import DecodingOptions
    from echo_edge.verify_checks import generated_ids

    model, recognizer = ctc_model_and_bundle
    differs = 0
    for seed, seconds in ((5, 3.0), (6, 1.0), (7, 2.2)):
        x = harmonic(seconds, seed=seed)
        greedy = list(recognizer.recognize(x, options=DecodingOptions(ctc_weight=0.4)).tokens)
        options = DecodingOptions(ctc_weight=0.4, lm_weight=0.5)
        ref = generated_ids(
            model.generate(torch.from_numpy(x)[None], options=ReferenceOptions.like(options))[
                0
            ].tolist()
        )
        got = list(recognizer.recognize(x, options=options).tokens)
        assert got == ref, seed
        differs += got != greedy
    assert differs >= 1
