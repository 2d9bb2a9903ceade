"""Echo: the reference encoder-decoder recogniser (frontend + encoder + decoder).

HF-style interface (`forward(input_values, attention_mask, labels, decoder_input_ids)`,
`generate`, `save_pretrained` / `from_pretrained`) without importing transformers; the
Trainer wrapper (and AutoModel registration) lives in echo_edge.hf. For a quick answer:

    Echo.from_pretrained().transcribe("speech.wav")  # the shipped model -> "the text"
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.decoder import Decoder
from echo_edge.decoding import (
    DecodingOptions,
    greedy_decode,
    joint_greedy_decode,
    lm_beam_decode,
    reference_lm,
    seconds_of,
    strip_special,
    token_budget,
)
from echo_edge.frontend import Frontend
from echo_edge.level import encoder_class
from echo_edge.runtime.highpass import remove_dc

if TYPE_CHECKING:
    from echo_edge.tokenizer import EchoTokenizer


def remove_dc_rows(waveform: torch.Tensor) -> torch.Tensor:
    """runtime/highpass.remove_dc on each row of (B, N) audio, on the CPU in numpy (exact)."""
    rows = waveform.detach().to("cpu", torch.float32).numpy()  # (B, N)
    out = torch.from_numpy(np.stack([remove_dc(r) for r in rows]) if len(rows) else rows)
    return out.to(waveform.device, waveform.dtype)


CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"  # a checkpoint's own vocabulary, when it was trained on one
HF_PREFIX = "echo."  # parameter prefix in checkpoints of the HF wrapper (echo_edge.hf)
IGNORE_INDEX = -100


@dataclass
class Features:
    """The frontend's streams for a batch, on the 100 Hz frame grid."""

    mel: torch.Tensor  # (B, 80, T)
    pitch: torch.Tensor  # (B, 3, T)
    silence: torch.Tensor  # (B, T) 1.0 where silent
    wave: torch.Tensor  # (B, T*HOP) zero-padded waveform
    frame_mask: torch.Tensor  # (B, T) 1.0 on real frames, 0.0 on padding


def shift_right(labels: torch.Tensor) -> torch.Tensor:
    """Labels (B, L) with -100 -> decoder inputs (B, L): bos, then labels[:-1], pads for -100."""
    tokens = labels.masked_fill(labels == IGNORE_INDEX, C.PAD_ID)
    bos = torch.full_like(tokens[:, :1], C.BOS_ID)
    return torch.cat([bos, tokens[:, :-1]], dim=1)


class Echo(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = Frontend(
            f0_min=config.f0_min, f0_max=config.f0_max, silence_dbfs=config.silence_dbfs
        )
        self.encoder = encoder_class(config)(config)  # level_norm: echo_edge/level.py
        self.decoder = Decoder(config)
        # Auxiliary CTC head (training only; blank = pad id, which never occurs in labels).
        self.ctc_head = nn.Linear(config.d_model, config.vocab_size) if config.ctc_weight else None
        self.checkpoint_dir: Path | None = None  # the directory from_pretrained read, if any
        self._tokenizer: EchoTokenizer | None = None

    # --- the three exported pieces -------------------------------------------------------
    def features(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cached: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> Features:
        """Waveform (B, N) in [-1, 1] (+ sample mask (B, N)) -> the frontend's streams.

        DC is removed first, with the runtime's own causal filter, so the reference and a
        bundle see the same audio; padding stays zero, as past the end of a single utterance.
        `cached`: (mel, pitch, silence) of this batch from echo_edge/feature_cache.py
        (training), used instead of running the frontend.
        """
        input_values = remove_dc_rows(input_values)  # (B, N)
        if attention_mask is not None:  # the filter's tail must not leak into the padding
            input_values = input_values * attention_mask.to(input_values.dtype)
        if cached is None:
            mel, pitch, _energy, silence = self.frontend.compute(input_values)  # bounded memory
        else:
            mel, pitch, silence = cached  # (B, 80, T), (B, 3, T), (B, T)
        frames = mel.shape[-1]
        wave = F.pad(input_values, (0, frames * C.HOP - input_values.shape[1]))  # (B, T*HOP)
        if attention_mask is None:
            frame_mask = torch.ones_like(silence)
        else:
            valid = 1 + attention_mask.long().sum(-1) // C.HOP  # (B,) frames per item
            frame_mask = (torch.arange(frames, device=mel.device)[None] < valid[:, None]).float()
        return Features(mel, pitch, silence, wave, frame_mask)

    def encode(
        self,
        mel: torch.Tensor,
        pitch: torch.Tensor,
        silence: torch.Tensor,
        wave: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features -> per-layer cross K, V (layers, B, H, S, Dh) and cross bias (B, S)."""
        states, key_bias = self.encoder(mel, pitch, silence, wave, frame_mask)
        cross_k, cross_v = self.decoder.cross_kv(states)
        return cross_k, cross_v, key_bias

    def decode_step(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """See Decoder.decode_step: (tokens, offset, self_k, self_v, cross_k, cross_v, cross_bias)."""
        return self.decoder.decode_step(*args)

    # --- HF-style interface ---------------------------------------------------------------
    def encode_audio(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.features(input_values, attention_mask)
        return self.encode(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        cached: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        augment: Callable[[Features], Features] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Teacher-forced pass: one decode_step over the whole sequence at offset 0.

        Training only: `cached` features (see `features`) and `augment`, a feature-space
        augmentation (echo_edge/specaugment.py) applied in training mode and never in eval."""
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("forward needs labels or decoder_input_ids")
            decoder_input_ids = shift_right(labels)
        f = self.features(input_values, attention_mask, cached)
        if augment is not None and self.training:
            f = augment(f)
        states, cross_bias = self.encoder(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        cross_k, cross_v = self.decoder.cross_kv(states)
        batch, length = decoder_input_ids.shape
        self_k, self_v = self.decoder.empty_cache(batch, length, device=input_values.device)
        offset = torch.zeros((), dtype=torch.long, device=input_values.device)
        logits, _, _ = self.decoder.decode_step(
            decoder_input_ids, offset, self_k, self_v, cross_k, cross_v, cross_bias
        )
        out = {"logits": logits}
        if labels is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
            )
            if self.ctc_head is not None:
                w = self.config.ctc_weight
                loss = (1.0 - w) * loss + w * self.ctc_loss(states, f.frame_mask, labels)
            out["loss"] = loss
        return out

    def ctc_loss(
        self, states: torch.Tensor, frame_mask: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Auxiliary CTC on encoder states (B, S, D) against the labels without eos/-100."""
        log_probs = self.ctc_head(states).float().log_softmax(-1).transpose(0, 1)  # (S, B, V)
        frames = frame_mask[:, :: C.ENCODER_STRIDE].sum(-1).long()  # (B,) real encoder frames
        keep = (labels != IGNORE_INDEX) & (labels != C.EOS_ID)  # (B, L)
        targets = labels.masked_fill(~keep, C.PAD_ID)
        return F.ctc_loss(
            log_probs,
            targets,
            frames,
            keep.sum(-1),
            blank=C.PAD_ID,
            reduction="mean",
            zero_infinity=True,
        )

    @torch.no_grad()
    def generate(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        options: DecodingOptions | None = None,
    ) -> torch.Tensor:
        """Greedy transcription -> (B, L) ids: bos, text, eos, pads. Joint CTC/attention
        greedy when options.ctc_weight > 0 (the default) and the model has a CTC head."""
        options = options or DecodingOptions()
        f = self.features(input_values, attention_mask)
        states, cross_bias = self.encoder(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        cross_k, cross_v = self.decoder.cross_kv(states)
        if attention_mask is None:
            samples = torch.full((input_values.shape[0],), input_values.shape[1])
        else:
            samples = attention_mask.long().sum(-1)
        caps = token_budget(seconds_of(samples).to(input_values.device), options, self.decoder)
        if options.ctc_weight > 0 and self.ctc_head is not None:
            ctc = self.ctc_head(states).float().log_softmax(-1)  # (B, S, V)
            frames = f.frame_mask[:, :: C.ENCODER_STRIDE].sum(-1).long()  # (B,) real frames
            vocab = [self.tokenizer.token(i) for i in range(len(self.tokenizer))]
            lm = reference_lm(vocab) if options.lm_weight > 0 else None
            if lm is not None:
                return lm_beam_decode(
                    self.decoder, cross_k, cross_v, cross_bias, ctc, frames, caps, lm, vocab,
                    options,
                )  # fmt: skip
            return joint_greedy_decode(
                self.decoder, cross_k, cross_v, cross_bias, ctc, frames, caps,
                options.ctc_weight, options.ctc_top_k,
            )  # fmt: skip
        return greedy_decode(self.decoder, cross_k, cross_v, cross_bias, caps)

    def transcribe(
        self, audio: np.ndarray | str | os.PathLike, sample_rate: float = C.SAMPLE_RATE
    ) -> str:
        """One utterance -> its text (greedy, specials stripped), decoded with `tokenizer`.

        `audio`: an array (N,) or (N, channels), float in [-1, 1] or int16/int32 PCM, at
        `sample_rate`; or an audio file's path (any rate; `sample_rate` is not used). Checked,
        mixed to mono and resampled by echo_edge.audio as every other path does. One pass over
        the whole input: for long recordings use echo_edge.runtime's Recognizer, which cuts
        them at pauses.
        """
        from echo_edge.audio import AudioError, load_audio, to_mono_16k

        if isinstance(audio, (str, os.PathLike)):
            samples = load_audio(audio)  # (N,) 16 kHz
        else:
            samples = to_mono_16k(audio, sample_rate)  # (N,) 16 kHz
        if samples.size == 0:
            raise AudioError("audio samples: contains no samples")
        device = next(self.parameters()).device
        ids = self.generate(torch.from_numpy(samples)[None].to(device))[0]  # (L,)
        return self.tokenizer.decode(strip_special(ids.tolist()))

    @property
    def tokenizer(self) -> EchoTokenizer:
        """The checkpoint's tokenizer.json if it has one, else the shipped vocabulary."""
        if self._tokenizer is None:
            from echo_edge.tokenizer import EchoTokenizer, default_tokenizer

            own = self.checkpoint_dir / TOKENIZER_NAME if self.checkpoint_dir is not None else None
            tokenizer = (
                EchoTokenizer.from_file(own) if own and own.is_file() else default_tokenizer()
            )
            if tokenizer.vocab_size != self.config.vocab_size:
                raise ValueError(
                    f"the tokenizer has {tokenizer.vocab_size} ids, the model "
                    f"{self.config.vocab_size}: put its tokenizer.json in the checkpoint"
                )
            self._tokenizer = tokenizer
        return self._tokenizer

    # --- reporting and persistence --------------------------------------------------------
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def learned_report(self) -> dict[str, object]:
        """The learnable seed parameters: stream blend, pitch terms, score, cross gates."""
        report: dict[str, object] = {"blend": self.encoder.blend.report()}
        report["pitch"] = self.encoder.positions.report()
        scores = [b.attn.score.report() for b in self.encoder.blocks]
        if any(scores):
            report["encoder_score"] = scores
        report.update(self.decoder.report())
        return report

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        return directory

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu") -> Echo:
        """Load a checkpoint directory, config.json + model.safetensors (None: the shipped
        model in echo_edge/assets), in eval mode. CheckpointError (one line, naming the file)
        for a missing, truncated or mismatched file."""
        from echo_edge.checkpoint import (
            DEFAULT_CHECKPOINT,
            CheckpointError,
            check_state,
            read_checkpoint_files,
        )

        directory = Path(path) if path is not None else DEFAULT_CHECKPOINT
        data, state = read_checkpoint_files(directory, device)
        if isinstance(data.get("echo"), dict):  # a Trainer checkpoint of the HF wrapper
            data = data["echo"]
            state = {k.removeprefix(HF_PREFIX): v for k, v in state.items()}
        try:
            config = EchoConfig.from_dict(data)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{directory / CONFIG_NAME}: {e}") from None
        model = cls(config)
        check_state(model.state_dict(), state, directory / WEIGHTS_NAME)
        model.load_state_dict(state, strict=True)
        model.checkpoint_dir = directory
        return model.eval()
