"""Word times (issue 14): CTC forced alignment in numpy, the exported CTC head, words in Results.

The Viterbi alignment is checked on hand-made log-prob matrices whose best path is known; a
tiny bundle without a CTC head still gives no words; the shipped model (which has the head),
exported to an ONNX fp32 bundle, times the words of two espeak-ng sentences 1 s apart. The
ExecuTorch encoder method's CTC output is checked when ECHO_EDGE_SLOW_TESTS=1 (a tiny export
takes minutes), TensorRT's where TensorRT is installed (marker requires_tensorrt).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from echo_edge import constants as C
from echo_edge.runtime.alignment import BLANK_ID, FRAME_SECONDS, forced_align, word_times
from echo_edge.runtime.stream import Result
from tests.conftest import harmonic, tiny_config
from tests.test_runtime import SLOW_ENV, tiny_bundle_root

VOCAB = 8
A, B, SPACE = 4, 5, 6  # token ids of a toy character vocabulary
TEXTS = ["[pad]", "[bos]", "[eos]", "[unk]", "a", "b", " ", "c"]
FIRST, SECOND = "what time does the last train leave tonight", "open the window"


def path_logprobs(path: list[int], sure: float = 0.9) -> np.ndarray:
    """(S, VOCAB) log-probs that put `sure` on path[t] at frame t and spread the rest."""
    p = np.full((len(path), VOCAB), (1.0 - sure) / (VOCAB - 1))
    p[np.arange(len(path)), path] = sure
    return np.log(p).astype(np.float32)


def test_a_clear_path_gives_exact_frames() -> None:
    _ = BLANK_ID
    lp = path_logprobs([_, _, A, A, _, _, B, B, B, _])
    assert forced_align(lp, [A, B]) == [(2, 3), (6, 8)]
    # Tokens on the first and last frames, no blank around them.
    assert forced_align(path_logprobs([A, B, B]), [A, B]) == [(0, 0), (1, 2)]


def test_repeated_tokens_need_a_blank_between_them() -> None:
    _ = BLANK_ID
    lp = path_logprobs([A, A, A, _, A, A])
    assert forced_align(lp, [A, A]) == [(0, 2), (4, 5)]
    # Without a blank frame the model's A A A still splits into two A's around one blank.
    spans = forced_align(path_logprobs([A, A, A]), [A, A])
    assert spans == [(0, 0), (2, 2)]
    # The path the log-probs prefer (no blank) cannot spell a repeat: one A is not two.
    assert forced_align(path_logprobs([A, A]), [A, A]) is None


def test_impossible_alignments_give_none() -> None:
    lp = path_logprobs([A, B])
    assert forced_align(lp, [A, B, A]) is None  # three tokens, two frames
    assert forced_align(lp, [BLANK_ID]) is None  # the blank is not a token
    assert forced_align(lp, [VOCAB + 3]) is None  # outside the vocabulary
    assert forced_align(lp, []) == []
    assert word_times([A, B, A], TEXTS, lp) == ()


def test_words_are_runs_between_spaces_in_seconds() -> None:
    _ = BLANK_ID
    #        0  1  2  3  4  5      6  7  8  9  10
    path = [_, A, A, B, _, SPACE, _, B, _, A, _]
    lp = path_logprobs(path)
    words = word_times([A, B, SPACE, B, A], TEXTS, lp, offset=1.0)
    assert [w.text for w in words] == ["ab", "ba"]
    f = FRAME_SECONDS
    assert words[0].start == pytest.approx(1.0 + 1 * f) and words[0].end == pytest.approx(
        1.0 + 4 * f
    )
    assert words[1].start == pytest.approx(1.0 + 7 * f) and words[1].end == pytest.approx(
        1.0 + 10 * f
    )
    # An end past the utterance's audio is clipped to it.
    clipped = word_times([A, B, SPACE, B, A], TEXTS, lp, offset=1.0, limit=1.15)
    assert clipped[-1].end == pytest.approx(1.15)
    # A BPE token with its own leading space starts a word too.
    bpe = ["[pad]", "[bos]", "[eos]", "[unk]", "an", " ox", "en", "!"]
    words = word_times([4, 5, 6], bpe, path_logprobs([4, _, 5, 6, _]))
    assert [(w.text, round(w.start / f), round(w.end / f)) for w in words] == [
        ("an", 0, 1),
        ("oxen", 2, 4),
    ]


def test_result_json_has_words_only_when_present() -> None:
    plain = Result("ab", (A, B), True, 0.0, 1.0, 0)
    assert plain.words == () and "words" not in plain.to_dict()
    words = word_times([A, SPACE, B], TEXTS, path_logprobs([A, SPACE, B, BLANK_ID]), 2.0)
    timed = Result("a b", (A, SPACE, B), True, 2.0, 3.0, 0, words=words)
    assert timed.to_dict()["words"] == [
        {"word": "a", "start": 2.0, "end": 2.02},
        {"word": "b", "start": 2.04, "end": 2.06},
    ]


def test_a_bundle_without_a_ctc_head_loads_and_gives_no_words() -> None:
    from echo_edge.runtime.recognizer import Recognizer

    with Recognizer.from_bundle(tiny_bundle_root() / "bundle") as r:
        assert r.manifest.graphs["encoder"]["outputs"] == ["cross_k", "cross_v", "cross_bias"]
        assert not r.backend.has_ctc
        encoder = onnx.load(str(r.manifest.graph_file("encoder")))
        assert len(encoder.graph.output) == 3
        assert "ctc_blank_id" not in {p.key for p in encoder.metadata_props}
        x = harmonic(1.5)
        f = r.conditioned_features(x)
        assert r.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None]).ctc is None
        result = r.recognize(x)
        assert result.tokens and result.words == () and "words" not in result.to_dict()
        segments = r.transcribe_samples(x).segments
        assert segments and all(s.words == () for s in segments)


@pytest.fixture(scope="module")
def shipped_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model (it has a CTC head) as an ONNX fp32 bundle, ~30 s."""
    from echo_edge.export.pipeline import export_bundle

    out = tmp_path_factory.mktemp("shipped") / "fp32"
    return export_bundle(None, "onnx", "fp32", out, log=lambda _: None, verify=False)


def test_the_shipped_model_times_the_words_of_two_sentences(shipped_bundle: Path) -> None:
    from echo_edge.runtime.recognizer import Recognizer
    from tests.speech import speak

    first, second = speak(FIRST), speak(SECOND)
    gap = np.zeros(C.SAMPLE_RATE, np.float32)  # 1 s of silence
    audio = np.concatenate([first, gap, second])
    with Recognizer.from_bundle(shipped_bundle) as r:
        assert r.backend.has_ctc
        transcript = r.transcribe_samples(audio)
    segments = transcript.segments
    assert len(segments) == 2, [s.text for s in segments]
    words_json = [w for s in transcript.to_dict()["segments"] for w in s["words"]]  # type: ignore[union-attr]
    assert [w["word"] for w in words_json] == transcript.text.split()
    for s in segments:
        assert len(s.words) == len(s.text.split()) > 1, s
        assert [w.text for w in s.words] == s.text.split()
        times = [t for w in s.words for t in (w.start, w.end)]
        assert all(a <= b for a, b in zip(times, times[1:])), times  # increasing
        assert all(w.start < w.end for w in s.words)
        assert s.start <= times[0] and times[-1] <= s.end  # inside the utterance
        assert s.to_dict()["words"][0]["word"] == s.words[0].text
    end_first, start_second = segments[0].words[-1].end, segments[1].words[0].start
    assert start_second >= end_first + 1.0, (end_first, start_second)
    assert end_first <= len(first) / C.SAMPLE_RATE + 0.1
    assert start_second >= (len(first) + len(gap)) / C.SAMPLE_RATE - 0.1


def test_a_long_transcript_aligns_across_hundreds_of_states() -> None:
    rng = np.random.default_rng(0)
    tokens = [int(t) for t in rng.choice([A, B, SPACE, 7], size=150)]
    path = []
    for t in tokens:  # each token on two frames, a blank after it
        path += [t, t, BLANK_ID]
    spans = forced_align(path_logprobs(path), tokens)
    assert spans == [(3 * i, 3 * i + 1) for i in range(len(tokens))]


def _tiny_ctc_checkpoint(root: Path) -> tuple[Path, object]:
    """A seeded random tiny Echo with a CTC head, saved under root -> (path, model)."""
    import torch

    from echo_edge.model import Echo

    torch.manual_seed(0)
    model = Echo(tiny_config(ctc_weight=0.3)).eval()
    return model.save_pretrained(root / "ckpt"), model


def _eager_ctc(model: object, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(encoder inputs, eager CTC log-probs (S, V)) of a tiny model for audio x."""
    import torch

    with torch.no_grad():
        f = model.features(torch.from_numpy(x)[None])  # type: ignore[attr-defined]
        inputs = (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        states, _ = model.encoder(*inputs)  # type: ignore[attr-defined]
        ctc = model.ctc_head(states).log_softmax(-1)[0]  # type: ignore[attr-defined]
    return [t.numpy() for t in inputs[:4]], ctc.numpy()


def _check_backend_ctc(bundle: Path, model: object, tol: float) -> None:
    """The bundle's encoder returns the eager CTC log-probs, and its finals carry word slots."""
    from echo_edge.runtime.bundle import CTC_OUTPUT
    from echo_edge.runtime.recognizer import Recognizer

    x = harmonic(1.2, seed=4)
    inputs, want = _eager_ctc(model, x)
    with Recognizer.from_bundle(bundle) as r:
        assert CTC_OUTPUT in r.manifest.graphs["encoder"]["outputs"] and r.backend.has_ctc
        got = r.encode(*inputs).ctc
        assert got.shape == want.shape
        assert float(np.linalg.norm(got - want) / np.linalg.norm(want)) < tol
        result = r.recognize(x)
    assert all(w.start < w.end <= result.end for w in result.words)


def test_the_executorch_encoder_method_returns_ctc(tmp_path: Path) -> None:
    if not os.environ.get(SLOW_ENV):
        pytest.skip(f"exporting a tiny model to ExecuTorch takes minutes: set {SLOW_ENV}=1")
    pytest.importorskip("executorch", reason="executorch is not installed")
    from echo_edge.export.pipeline import export_bundle

    checkpoint, model = _tiny_ctc_checkpoint(tmp_path)
    bundle = export_bundle(
        checkpoint, "executorch", "fp32", tmp_path / "pte", log=lambda _: None, verify=False
    )
    _check_backend_ctc(bundle, model, tol=1e-4)


@pytest.mark.requires_tensorrt
def test_the_tensorrt_encoder_engine_returns_ctc(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (run this on the Jetson)")
    from echo_edge.export.pipeline import export_bundle

    checkpoint, model = _tiny_ctc_checkpoint(tmp_path)
    bundle = export_bundle(
        checkpoint,
        "tensorrt",
        "fp32",
        tmp_path / "trt",
        timing_cache=tmp_path / "timing.cache",
        log=lambda _: None,
        verify=False,
    )
    _check_backend_ctc(bundle, model, tol=1e-3)  # TensorRT may pick TF32 kernels
