"""What `echo-edge verify` measures on one utterance: a bundle against its reference model.

Each stage is fed the reference's own inputs, so an error is the stage's and not an echo of
the one before: the encoders both get the reference features, the decoders both get the
reference greedy transcript (teacher forcing), each on its own encoder's output. End to end,
the bundle's greedy transcript (its own frontend, encoder and decoder), in one pass and
through the endpointed stream that `echo-edge transcribe` runs, is compared with
`Echo.generate`, and the runtime's streaming frontend with its offline one. Both searches run
with the same decoding options (joint CTC/attention greedy by default: the reference's options
are `echo_edge.decoding.DecodingOptions.like` the runtime's). The reference side decodes with
the checkpoint's own tokenizer, the bundle side with the bundle's: a tokenizer.json altered in
the bundle shows as different text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import numpy as np
import torch

from echo_edge import constants as C
from echo_edge.decoding import DecodingOptions as ReferenceOptions
from echo_edge.evalset import EvalUtterance
from echo_edge.model import Echo
from echo_edge.runtime.decoding import DecodingOptions
from echo_edge.runtime.highpass import remove_dc
from echo_edge.runtime.recognizer import FILE_OPTIONS, Recognizer
from echo_edge.runtime.stream import FrameBlock, IncrementalFrontend
from echo_edge.tokenizer import EchoTokenizer


class Decoder(Protocol):
    """What verify needs of a bundle's tokenizer."""

    vocab_size: int

    def decode(self, ids: Iterable[int]) -> str: ...


STREAM_SEED = 0  # chunk sizes of the streaming-vs-offline check
STREAM_MAX_CHUNK = 8000  # samples (0.5 s); chunks are 1 .. this long


@dataclass
class UtteranceCheck:
    """The measurements of one utterance (errors: bundle vs reference)."""

    id: str
    voice: str  # synthesiser voice, "" for recorded audio
    engine: str  # synthesiser ("espeak-ng", "flite"), a manifest's "engine", or ""
    condition: str  # "clean", the noise added ("noise=pink@12dB"), or "" when not known
    seconds: float
    truth: str  # the eval set's transcript
    reference: str  # Echo.generate, decoded with the checkpoint's tokenizer
    bundle: str  # Recognizer.recognize (one pass), decoded with the bundle's tokenizer
    bundle_streaming: str  # Recognizer.transcribe_samples (endpointed stream, as transcribe)
    frontend_mel_rel: float  # ||a - b|| / ||b|| over (N_MELS, T)
    frontend_pitch_max_abs: float  # over (3, T') on the T' frames that are not silent
    frontend_silence_agreement: float  # share of frames with the same silence flag
    encoder_kv_rel: float  # max of the relative errors of cross K and cross V
    encoder_bias_max_abs: float  # cross key bias (0 or log(silence_scale) per frame)
    logits_rel: float  # teacher-forced logits (L, V), relative
    logits_max_abs: float  # teacher-forced logits, max abs
    teacher_forced_agreement: float  # share of positions with the same argmax
    transcript_agreement: float  # 1.0 when the greedy token ids and texts are identical
    streaming_transcript_agreement: float  # 1.0 when the streamed text is the reference's
    stream_features_max_abs: float  # streaming vs offline runtime frames (mel, pitch, silence)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Relative Frobenius error ||a - b|| / ||b|| (b the reference)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-12))


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, with equal entries (infinite biases included) counting as 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise RuntimeError(f"shape {a.shape} where the reference has {b.shape}")
    diff = np.where(a == b, 0.0, np.abs(a - b))
    return float(diff.max()) if diff.size else 0.0


def same_words(a: str, b: str) -> bool:
    """Two transcripts with the same words (the stream joins its finals with one space)."""
    return a.split() == b.split()


def tokenizer_agreement(bundle: Decoder, reference: EchoTokenizer) -> float:
    """Share of the vocabulary (the larger of the two) that both tokenizers decode alike, id by
    id (the bundle's may be the runtime's torch-free TokenTable: decode is what both have)."""
    size = max(bundle.vocab_size, reference.vocab_size)
    common = min(bundle.vocab_size, reference.vocab_size)
    return sum(bundle.decode([i]) == reference.decode([i]) for i in range(common)) / size


def generated_ids(row: list[int]) -> list[int]:
    """Echo.generate's row (bos, ids, eos, pads) -> the ids between bos and the first eos.

    Unlike decoding.strip_special this keeps any pad or bos the model chose mid-sequence (a
    random model does), as the runtime's greedy decoder does: the same search, token for token.
    """
    ids = row[1:]
    return ids[: ids.index(C.EOS_ID)] if C.EOS_ID in ids else ids


def streamed_features(recognizer: Recognizer, samples: np.ndarray, seed: int) -> FrameBlock:
    """The runtime's frames of `samples` pushed in random-sized chunks (fixed seed)."""
    rng = np.random.default_rng(seed)
    frontend = IncrementalFrontend(recognizer.backend.frontend, *recognizer.context)
    blocks: list[FrameBlock] = []
    start = 0
    while start < len(samples):
        size = int(rng.integers(1, STREAM_MAX_CHUNK + 1))
        blocks.extend(frontend.push(samples[start : start + size]))
        start += size
    blocks.extend(frontend.push(np.zeros(0, np.float32), final=True))
    return FrameBlock(0, *(np.concatenate(s, axis=-1) for s in list(zip(*blocks))[1:]))


def stream_difference(a: FrameBlock, b: FrameBlock) -> float:
    """max abs difference of two frame blocks' mel, pitch and silence (inf if lengths differ)."""
    if a.mel.shape != b.mel.shape:
        return float("inf")
    return max(
        max_abs(x, y) for x, y in ((a.mel, b.mel), (a.pitch, b.pitch), (a.silence, b.silence))
    )


@torch.no_grad()
def check_utterance(
    model: Echo,
    tokenizer: EchoTokenizer,
    recognizer: Recognizer,
    utt: EvalUtterance,
    decoding: DecodingOptions | None = None,
) -> UtteranceCheck:
    """Run every check on one utterance of 16 kHz mono audio; `tokenizer`: the reference's.

    `decoding`: the bundle's search (default DecodingOptions(), joint CTC/attention); the
    reference runs the same one (ReferenceOptions.like)."""
    decoding = decoding or DecodingOptions()
    samples = np.asarray(utt.audio, np.float32)  # (N,)
    x = torch.from_numpy(samples)[None]  # (1, N)

    # 1. Frontend: the reference on the whole utterance vs the runtime's bounded calls.
    ref = model.features(x)  # mel (1, 80, T), pitch (1, 3, T), silence (1, T), wave (1, T*HOP)
    # Both sides see DC-free audio: Echo.features and conditioned_features apply one filter.
    got = recognizer.conditioned_features(samples)  # mel (80, T), pitch (3, T), silence (T,)
    if got.mel.shape != ref.mel.shape[1:]:
        raise RuntimeError(
            f"{utt.id}: bundle frontend gives {got.mel.shape[-1]} frames, "
            f"the reference {ref.mel.shape[-1]}"
        )
    mel_rel = rel(got.mel, ref.mel[0].numpy())
    # Silent frames carry no pitch (unvoiced, log-f0 0); their periodicity, 1 - min of a
    # 0/0 ratio on digital silence, is rounding noise (up to ~0.04 between two fp32 convs).
    loud = ref.silence[0].numpy() == 0  # (T,)
    pitch_err = max_abs(got.pitch[:, loud], ref.pitch[0].numpy()[:, loud])
    silence_agree = float(np.mean(got.silence == ref.silence[0].numpy()))

    # 2. Encoder on the SAME reference features.
    ref_k, ref_v, ref_bias = model.encode(ref.mel, ref.pitch, ref.silence, ref.wave, ref.frame_mask)
    feats = [t.numpy() for t in (ref.mel, ref.pitch, ref.silence, ref.wave)]
    cross = recognizer.encode(*feats)  # k, v (layers, 1, H, S, Dh), bias (1, S)
    kv_rel = max(rel(cross.k, ref_k.numpy()), rel(cross.v, ref_v.numpy()))
    bias_err = max_abs(cross.bias, ref_bias.numpy())

    # 3. Teacher forcing: bos + the reference greedy tokens, one decoder call at offset 0.
    ref_ids = generated_ids(model.generate(x, options=ReferenceOptions.like(decoding))[0].tolist())
    tokens = torch.tensor([[C.BOS_ID, *ref_ids]])  # (1, L), L <= max_target_len
    self_k, self_v = model.decoder.empty_cache(1)
    offset = torch.zeros((), dtype=torch.long)
    ref_logits, _, _ = model.decoder.decode_step(
        tokens, offset, self_k, self_v, ref_k, ref_v, ref_bias
    )
    ref_logits = ref_logits[0].numpy()  # (L, V)
    got_logits, _, _ = recognizer.backend.decode_step(
        tokens.numpy(), 0, *recognizer.backend.empty_cache(), cross
    )
    got_logits = got_logits[0]  # (L, V)
    tf_agree = float(np.mean(got_logits.argmax(-1) == ref_logits.argmax(-1)))

    # 4. Greedy transcripts, end to end (the bundle with its own frontend).
    result = recognizer.recognize(samples, options=decoding)
    bundle_ids = list(result.tokens)

    # 5. Streaming vs offline frames, both through the runtime.
    conditioned = remove_dc(samples)
    stream_diff = stream_difference(streamed_features(recognizer, conditioned, STREAM_SEED), got)

    # 6. The path users run: the endpointed stream of `echo-edge transcribe`.
    streamed = recognizer.transcribe_samples(
        samples, options=replace(FILE_OPTIONS, decoding=decoding)
    )
    streamed = streamed.text
    reference = tokenizer.decode(ref_ids)
    return UtteranceCheck(
        id=utt.id,
        voice=utt.voice,
        engine=utt.engine,
        condition=utt.condition,
        seconds=round(utt.seconds, 3),
        truth=utt.text,
        reference=reference,
        bundle=result.text,
        bundle_streaming=streamed,
        frontend_mel_rel=mel_rel,
        frontend_pitch_max_abs=pitch_err,
        frontend_silence_agreement=silence_agree,
        encoder_kv_rel=kv_rel,
        encoder_bias_max_abs=bias_err,
        logits_rel=rel(got_logits, ref_logits),
        logits_max_abs=max_abs(got_logits, ref_logits),
        teacher_forced_agreement=tf_agree,
        transcript_agreement=float(bundle_ids == ref_ids and result.text == reference),
        streaming_transcript_agreement=float(same_words(streamed, reference)),
        stream_features_max_abs=stream_diff,
    )
