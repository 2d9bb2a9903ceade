"""Hugging Face wrapper: Echo as a PreTrainedModel that Seq2SeqTrainer trains.

The core model imports no transformers; this thin module adapts it (config, generate,
generation_config) so that Trainer, predict_with_generate, torchrun and accelerate work.
Importing it registers model type "echo" with AutoConfig, AutoModel and
AutoModelForSpeechSeq2Seq, so that a checkpoint directory (plain Echo or Trainer's) loads with

    import echo_edge.hf
    model = transformers.AutoModel.from_pretrained("path/to/checkpoint")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSpeechSeq2Seq,
    GenerationConfig,
    PretrainedConfig,
    PreTrainedModel,
)

from echo_edge import constants as C
from echo_edge.config import MODEL_TYPE, EchoConfig
from echo_edge.decoding import DecodingOptions
from echo_edge.model import Echo

# What AutoModel.from_pretrained passes on to the class's from_pretrained besides the path:
# the config it read from the same config.json, and hub arguments that mean nothing for a
# local directory (whatever their values: peft, when installed, fills in adapter_kwargs).
AUTO_ARGS = frozenset(
    {
        "config",
        "_from_auto",
        "adapter_kwargs",
        "cache_dir",
        "code_revision",
        "force_download",
        "local_files_only",
        "proxies",
        "revision",
        "token",
        "trust_remote_code",
    }
)


class EchoHFConfig(PretrainedConfig):
    """The wrapper's config: the EchoConfig as a dict under `echo` (Trainer's config.json).

    A plain Echo checkpoint's config.json (EchoConfig's fields at the top level, which is
    what AutoConfig passes for one) is gathered into `echo` the same way."""

    model_type = MODEL_TYPE

    def __init__(self, echo: dict | None = None, **kwargs: object) -> None:
        if echo is None:
            fields = {f.name for f in dataclasses.fields(EchoConfig)}
            flat = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
            echo = EchoConfig.from_dict(flat).to_dict() if flat else None
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
        self.feature_augment = None  # training-only feature augmentation (set by echo_edge.train)
        self.post_init()

    @classmethod
    def from_pretrained(cls, directory: str | Path, *args: object, **kwargs: object):  # noqa: ANN206
        """Load a Trainer checkpoint (or a plain Echo one) with every buffer computed.

        transformers builds models on the meta device and fills in only the saved tensors, so
        Echo's non-persistent buffers (window, mel filters) would stay uninitialised (NaN
        features). Echo builds itself for real instead (Echo.from_pretrained reads both
        layouts: plain weight names, or HF_PREFIX ones with the config under "echo"). From
        AutoModel, `config` (read from the same config.json), `subfolder` and the hub
        arguments are accepted; other arguments (dtype, device_map, ...) are not supported."""
        if kwargs.get("subfolder"):
            directory = Path(directory) / str(kwargs["subfolder"])
        other = sorted(set(kwargs) - AUTO_ARGS - {"subfolder"})
        if args or other:
            raise TypeError(
                "EchoForSpeechSeq2Seq.from_pretrained takes a local directory only, "
                f"not {other or list(args)}"
            )
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
        mel: torch.Tensor | None = None,
        pitch: torch.Tensor | None = None,
        silence: torch.Tensor | None = None,
        **_: object,
    ) -> dict[str, torch.Tensor]:
        """Echo.forward; mel/pitch/silence: a batch of cached features (echo_edge/feature_cache),
        and `feature_augment` (echo_edge/specaugment), if set, in training mode only."""
        cached = (mel, pitch, silence) if mel is not None else None
        return self.echo(
            input_values, attention_mask, labels, decoder_input_ids, cached, self.feature_augment
        )

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


AutoConfig.register(MODEL_TYPE, EchoHFConfig, exist_ok=True)
AutoModel.register(EchoHFConfig, EchoForSpeechSeq2Seq, exist_ok=True)
AutoModelForSpeechSeq2Seq.register(EchoHFConfig, EchoForSpeechSeq2Seq, exist_ok=True)
