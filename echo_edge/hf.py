"""Hugging Face wrapper: Echo as a PreTrainedModel that Seq2SeqTrainer trains.

The core model imports no transformers; this thin module adapts it (config, generate,
generation_config) so that Trainer, predict_with_generate, torchrun and accelerate work.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GenerationConfig, PretrainedConfig, PreTrainedModel

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.decoding import DecodingOptions
from echo_edge.model import Echo


class EchoHFConfig(PretrainedConfig):
    model_type = "echo"

    def __init__(self, echo: dict | None = None, **kwargs: object) -> None:
        kwargs.setdefault("pad_token_id", C.PAD_ID)
        kwargs.setdefault("bos_token_id", C.BOS_ID)
        kwargs.setdefault("eos_token_id", C.EOS_ID)
        kwargs.setdefault("decoder_start_token_id", C.BOS_ID)
        kwargs.setdefault("is_encoder_decoder", True)
        super().__init__(**kwargs)
        self.echo = echo or EchoConfig().to_dict()


class EchoForSpeechSeq2Seq(PreTrainedModel):
    config_class = EchoHFConfig
    base_model_prefix = "echo"
    main_input_name = "input_values"

    def __init__(self, config: EchoHFConfig) -> None:
        super().__init__(config)
        self.echo = Echo(EchoConfig.from_dict(config.echo))
        cfg = self.echo.config
        self.generation_config = GenerationConfig(
            max_length=cfg.max_target_len,
            pad_token_id=C.PAD_ID,
            bos_token_id=C.BOS_ID,
            eos_token_id=C.EOS_ID,
            decoder_start_token_id=C.BOS_ID,
        )
        self.post_init()

    @classmethod
    def from_pretrained(cls, directory: str | Path, *args: object, **kwargs: object):  # noqa: ANN206
        """Load a Trainer checkpoint (or a plain Echo one) with every buffer computed.

        transformers builds models on the meta device and fills in only the saved tensors, so
        Echo's non-persistent buffers (window, mel filters) would stay uninitialised (NaN
        features). Echo builds itself for real instead; extra arguments are not supported."""
        if args or kwargs:
            raise TypeError("EchoForSpeechSeq2Seq.from_pretrained takes a directory only")
        return cls.from_echo(Echo.from_pretrained(directory))

    @classmethod
    def from_echo(cls, model: Echo) -> EchoForSpeechSeq2Seq:
        wrapped = cls(EchoHFConfig(echo=model.config.to_dict()))
        wrapped.echo.load_state_dict(model.state_dict())
        return wrapped

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Echo initialises itself; Trainer must not re-initialise it."""

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        **_: object,
    ) -> dict[str, torch.Tensor]:
        return self.echo(input_values, attention_mask, labels, decoder_input_ids)

    @torch.no_grad()
    def generate(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int | None = None,
        **_: object,
    ) -> torch.Tensor:
        """Greedy decoding; Trainer's extra generate kwargs (num_beams, synced_gpus) are ignored."""
        return self.echo.generate(input_values, attention_mask, DecodingOptions(max_new_tokens))

    def save_echo(self, directory: str | Path) -> Path:
        """Save as a plain Echo checkpoint (config.json + model.safetensors)."""
        return self.echo.save_pretrained(directory)
