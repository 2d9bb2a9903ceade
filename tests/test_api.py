"""The Python API (issue 14): Recognizer.default, context manager, pinned bundles, the token
table in place of `tokenizers`, confidences, silence, Echo.transcribe and AutoModel.

The runtime tests read the tiny random ONNX fp32 bundle of tests/test_runtime.py (a random
model transcribes garbage, so they compare numbers, not words); the shipped model reads one
espeak-ng sentence.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from echo_edge import constants as C
from tests.conftest import harmonic, tiny_config
from tests.test_runtime import ROOT, tiny_bundle_root

SENTENCE = "what time does the last train leave tonight"


@pytest.fixture(scope="module")
def bundle() -> Path:
    return tiny_bundle_root() / "bundle"


@pytest.fixture(scope="module")
def recognizer(bundle: Path):
    from echo_edge.runtime.recognizer import Recognizer

    with Recognizer.from_bundle(bundle) as r:
        yield r


@pytest.fixture(scope="module")
def reference():
    from echo_edge.model import Echo

    return Echo.from_pretrained(tiny_bundle_root() / "checkpoint")


# ---- Recognizer.default, context manager, pinned bundles ------------------------------------
def test_default_opens_the_shipped_bundle(bundle: Path, monkeypatch) -> None:
    from echo_edge.runtime import recognizer as module
    from echo_edge.runtime.recognizer import Recognizer

    monkeypatch.setattr(module, "SHIPPED_BUNDLE", bundle)
    x = harmonic(1.5, seed=21)
    with Recognizer.default(threads=1) as default, Recognizer.from_bundle(bundle) as plain:
        assert default.manifest.path == plain.manifest.path
        assert default.recognize(x).tokens == plain.recognize(x).tokens


def test_default_without_a_shipped_bundle_is_one_line(tmp_path: Path, monkeypatch) -> None:
    from echo_edge.runtime import recognizer as module
    from echo_edge.runtime.recognizer import Recognizer, RecognizerError

    monkeypatch.setattr(module, "SHIPPED_BUNDLE", tmp_path / "onnx-int8")
    with pytest.raises(RecognizerError) as info:
        Recognizer.default()
    message = str(info.value)
    assert "\n" not in message
    assert "no shipped bundle in this install" in message and "make bundles" in message


def test_the_shipped_bundle_path_is_package_data() -> None:
    import echo_edge.assets
    from echo_edge.checkpoint import ASSETS
    from echo_edge.runtime.recognizer import SHIPPED_BUNDLE

    assert SHIPPED_BUNDLE == Path(echo_edge.assets.__file__).resolve().parent / "onnx-int8"
    assert SHIPPED_BUNDLE.parent == ASSETS


def test_context_manager_closes_the_sessions(bundle: Path) -> None:
    from echo_edge.runtime.recognizer import Recognizer

    with Recognizer.from_bundle(bundle) as r:
        assert r.backend.sessions  # the ONNX backend's three graphs
        assert r.recognize(harmonic(0.8, seed=22)).final
    assert not r.backend.sessions
    with pytest.raises(ZeroDivisionError), Recognizer.from_bundle(bundle) as failing:
        1 / 0  # noqa: B018
    assert not failing.backend.sessions  # closed on the way out of an exception too


def test_expected_sha256_pins_the_manifest(bundle: Path) -> None:
    from echo_edge.runtime.recognizer import Recognizer, RecognizerError

    digest = hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    with Recognizer.from_bundle(bundle, expected_sha256=digest.upper()) as r:
        assert r.manifest.path == bundle
    with pytest.raises(RecognizerError, match="sha256") as info:
        Recognizer.from_bundle(bundle, expected_sha256="0" * 64)
    assert digest in str(info.value) and "\n" not in str(info.value)


# ---- no `tokenizers` on the runtime side ----------------------------------------------------
BLOCK = textwrap.dedent(
    """
    import sys

    BLOCKED = ("torch", "tokenizers")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_the_runtime_decodes_without_tokenizers(bundle: Path) -> None:
    from echo_edge.tokenizer import EchoTokenizer

    code = f"""
        import json
        import numpy as np
        from echo_edge.runtime import Recognizer
        from echo_edge.runtime import microphone, stream, transcribe
        from echo_edge.runtime.token_table import TokenTable
        t = np.arange(32000) / 16000
        x = (0.3 * np.sin(2 * np.pi * 150 * t) * (t % 0.5 < 0.35)).astype(np.float32)
        with Recognizer.from_bundle({str(bundle)!r}) as r:
            assert isinstance(r.tokenizer, TokenTable)
            result = r.recognize(x)
            transcript = r.transcribe_samples(x)
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
        print(json.dumps({{"loaded": loaded, "tokens": result.tokens, "text": result.text}}))
        """
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["loaded"] == []
    reference = EchoTokenizer.from_file(bundle / "tokenizer.json")  # with `tokenizers`, here
    assert out["text"] == reference.decode(out["tokens"])


# ---- confidence ---------------------------------------------------------------------------
def _teacher_forced_logprobs(reference, x: np.ndarray, tokens: tuple[int, ...]) -> np.ndarray:
    """The reference's log-probability of each token and then eos, in one forced pass."""
    import torch

    ids = torch.tensor([[C.BOS_ID, *tokens]])  # (1, L + 1)
    with torch.no_grad():
        logits = reference(torch.from_numpy(x)[None], decoder_input_ids=ids)["logits"]
    lp = torch.log_softmax(logits[0].double(), -1)  # (L + 1, V)
    chosen = torch.tensor([*tokens, C.EOS_ID])
    return lp[torch.arange(len(chosen)), chosen].numpy()


def test_confidence_is_the_mean_log_probability_of_tokens_and_eos(recognizer, reference) -> None:
    for x in (harmonic(1.2, seed=23), harmonic(2.0, f0=220.0, seed=24)):
        result = recognizer.recognize(x)
        assert result.tokens, "the tiny random model should say something"
        expected = _teacher_forced_logprobs(reference, x, result.tokens)
        assert result.confidence is not None and result.confidence <= 0.0
        # fp32 ONNX against torch: logits agree to ~1e-4.
        assert result.confidence == pytest.approx(float(expected.mean()), abs=2e-3)
        assert result.to_dict()["confidence"] == round(result.confidence, 4)


def test_logprobs_follow_the_cap_the_guard_and_a_verified_prefix(recognizer) -> None:
    from echo_edge.runtime.decoding import confidence, greedy_decode

    f = recognizer.features(harmonic(2.5, seed=25))
    cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
    full: list[float] = []
    ids, calls = greedy_decode(recognizer.backend, cross, 40, logprobs=full)
    assert (ids, calls) == greedy_decode(recognizer.backend, cross, 40)  # same search
    assert len(full) == len(ids) + 1 and max(full) <= 0.0
    assert confidence(full) == pytest.approx(float(np.mean(full)))
    for cap in range(min(len(ids), 4)):
        capped: list[float] = []
        short, _ = greedy_decode(recognizer.backend, cross, cap, logprobs=capped)
        assert short == ids[:cap] and len(capped) == cap + 1
        np.testing.assert_allclose(capped[:cap], full[:cap], atol=1e-9)
    # A verified prefix reads its log-probabilities from the batched pass: the same numbers.
    for prefix in (ids, ids[: len(ids) // 2], [5, 6, 7]):
        verified: list[float] = []
        again, _ = greedy_decode(recognizer.backend, cross, 40, prefix, verified)
        assert again == ids
        np.testing.assert_allclose(verified, full, atol=1e-4)
    empty: list[float] = []
    assert greedy_decode(recognizer.backend, cross, 0, logprobs=empty)[0] == []
    assert len(empty) == 1 and confidence(empty) is None


def test_segments_carry_confidence_into_json(recognizer) -> None:
    from echo_edge.runtime.stream import Result

    x = np.concatenate([harmonic(1.5, seed=26), np.zeros(C.SAMPLE_RATE, np.float32)])
    x = np.concatenate([x, harmonic(1.5, f0=200.0, seed=27)])
    transcript = recognizer.transcribe_samples(x)
    assert len(transcript.segments) == 2
    for segment, entry in zip(transcript.segments, transcript.to_dict()["segments"]):
        assert segment.confidence is not None and -50.0 < segment.confidence <= 0.0
        assert entry["confidence"] == round(segment.confidence, 4)
    assert Result("", (), True, 0.0, 1.0, 0).to_dict()["confidence"] is None


# ---- silence --------------------------------------------------------------------------------
def test_silence_is_an_empty_transcript_not_an_error(recognizer, tmp_path: Path) -> None:
    import soundfile as sf

    zeros = np.zeros(3 * C.SAMPLE_RATE, np.float32)
    rng = np.random.default_rng(28)
    hiss = (rng.standard_normal(3 * C.SAMPLE_RATE) * 1e-3).astype(np.float32)  # -60 dBFS
    sf.write(tmp_path / "silent.wav", zeros, C.SAMPLE_RATE, subtype="PCM_16")
    for transcript in (
        recognizer.transcribe_samples(zeros),
        recognizer.transcribe_samples(hiss),
        recognizer.transcribe_file(tmp_path / "silent.wav"),
    ):
        assert transcript.text == "" and transcript.segments == []
        assert transcript.seconds == pytest.approx(3.0, abs=0.01)
        assert transcript.to_dict()["segments"] == []


# ---- PyTorch: Echo.from_pretrained() and Echo.transcribe --------------------------------------
def _manual_transcript(model, x: np.ndarray) -> str:
    """The four-import path Echo.transcribe replaces: generate, strip bos/eos, decode."""
    import torch

    from echo_edge.decoding import strip_special
    from echo_edge.tokenizer import default_tokenizer

    with torch.no_grad():
        ids = model.generate(torch.from_numpy(x)[None])[0].tolist()
    return default_tokenizer().decode(strip_special(ids))


def test_transcribe_equals_generate_and_decode(tmp_path: Path) -> None:
    import soundfile as sf
    import torch

    from echo_edge.audio import AudioError, to_mono_16k
    from echo_edge.model import Echo

    torch.manual_seed(0)
    model = Echo(tiny_config()).eval()
    x = harmonic(1.3, seed=29)
    text = model.transcribe(x)
    assert isinstance(text, str) and text == _manual_transcript(model, x)
    assert text, "the tiny random model should say something"
    sf.write(tmp_path / "x.wav", x, C.SAMPLE_RATE, subtype="FLOAT")
    assert model.transcribe(tmp_path / "x.wav") == text
    assert model.transcribe(str(tmp_path / "x.wav")) == text
    # Other rates and int16 go through echo_edge.audio, as every path's input does.
    pcm = (np.stack([x, x], axis=1) * 32767).astype(np.int16)[::2]  # (N / 2, 2) at 8 kHz
    assert model.transcribe(pcm, 8000) == _manual_transcript(model, to_mono_16k(pcm, 8000))
    with pytest.raises(AudioError, match="no samples"):
        model.transcribe(np.zeros(0, np.float32))


def test_from_pretrained_defaults_to_the_shipped_model_and_reads_speech() -> None:
    from echo_edge.checkpoint import ASSETS, has_default_model
    from echo_edge.metrics import word_error_rate
    from echo_edge.model import Echo
    from tests.speech import speak

    if not has_default_model():
        pytest.skip("no shipped checkpoint in echo_edge/assets")
    model = Echo.from_pretrained()
    assert model.checkpoint_dir == ASSETS and not model.training
    text = model.transcribe(speak(SENTENCE))
    assert word_error_rate([SENTENCE], [text]) <= 0.25, text
    assert "what time does the last train" in text


def test_a_checkpoints_own_tokenizer_decodes(tmp_path: Path) -> None:
    import torch

    from echo_edge.model import Echo
    from echo_edge.tokenizer import build_char_tokenizer

    torch.manual_seed(0)
    Echo(tiny_config()).save_pretrained(tmp_path)
    tok = build_char_tokenizer()
    tok.save(tmp_path / "tokenizer.json")
    model = Echo.from_pretrained(tmp_path)
    assert model.tokenizer.to_str() == tok.to_str()
    torch.manual_seed(0)
    wrong = Echo(tiny_config(vocab_size=40))
    with pytest.raises(ValueError, match="40"):
        wrong.transcribe(harmonic(0.5))


# ---- Hugging Face: model_type and AutoModel -------------------------------------------------
def test_config_json_names_its_model_type(tmp_path: Path) -> None:
    from echo_edge.config import MODEL_TYPE, EchoConfig

    cfg = tiny_config(score="blend")
    cfg.save(tmp_path / "config.json")
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == MODEL_TYPE == "echo"
    assert EchoConfig.load(tmp_path / "config.json") == cfg
    assert "model_type" not in cfg.to_dict()  # manifests embed the fields only
    with pytest.raises(ValueError, match="model_type"):
        EchoConfig.from_dict({**data, "model_type": "whisper"})
    shipped = json.loads((ROOT / "echo_edge" / "assets" / "config.json").read_text())
    assert shipped["model_type"] == "echo"


def _save_tiny(directory: Path):
    import torch

    from echo_edge.model import Echo

    torch.manual_seed(3)
    Echo(tiny_config()).save_pretrained(directory)
    return Echo.from_pretrained(directory)


def test_auto_model_loads_a_plain_echo_checkpoint(tmp_path: Path) -> None:
    import torch
    import transformers

    import echo_edge.hf
    from echo_edge.checkpoint import ASSETS, has_default_model
    from echo_edge.model import Echo

    echo = _save_tiny(tmp_path / "tiny")
    directories = [tmp_path / "tiny"] + ([ASSETS] if has_default_model() else [])
    x = torch.from_numpy(harmonic(1.1, seed=30))[None]  # (1, N)
    for directory in directories:
        config = transformers.AutoConfig.from_pretrained(directory)
        assert isinstance(config, echo_edge.hf.EchoHFConfig)
        expected = echo if directory != ASSETS else Echo.from_pretrained()
        assert config.echo == expected.config.to_dict()
        for auto in (transformers.AutoModel, transformers.AutoModelForSpeechSeq2Seq):
            model = auto.from_pretrained(directory)
            assert isinstance(model, echo_edge.hf.EchoForSpeechSeq2Seq)
            state, want = model.echo.state_dict(), expected.state_dict()
            assert state.keys() == want.keys()
            assert all(torch.equal(state[k], want[k]) for k in want)
            assert torch.equal(model.generate(x), expected.generate(x))
    nested = transformers.AutoModel.from_pretrained(tmp_path, subfolder="tiny")
    assert torch.equal(nested.generate(x), echo.generate(x))
    # What AutoModel passes when peft is installed: hub arguments that mean nothing here.
    hub = dict(revision="main", adapter_kwargs={"revision": None}, trust_remote_code=False)
    echo_edge.hf.EchoForSpeechSeq2Seq.from_pretrained(tmp_path / "tiny", config=None, **hub)
    with pytest.raises(TypeError, match="dtype"):
        transformers.AutoModel.from_pretrained(tmp_path / "tiny", dtype=torch.float16)


def test_auto_model_loads_a_trainer_checkpoint(tmp_path: Path) -> None:
    import torch
    import transformers
    from safetensors import safe_open

    from echo_edge.hf import EchoForSpeechSeq2Seq
    from echo_edge.model import HF_PREFIX

    echo = _save_tiny(tmp_path / "tiny")
    wrapped = EchoForSpeechSeq2Seq.from_echo(echo).eval()
    wrapped.save_pretrained(tmp_path / "checkpoint-1")  # transformers' layout, as Trainer saves
    with safe_open(str(tmp_path / "checkpoint-1" / "model.safetensors"), "pt") as f:
        assert all(k.startswith(HF_PREFIX) for k in f.keys())
    model = transformers.AutoModel.from_pretrained(tmp_path / "checkpoint-1")
    x = torch.from_numpy(harmonic(0.9, seed=31))[None]
    assert torch.equal(model.generate(x), echo.generate(x))
