"""EchoConfig: every dimension and switch of the Echo model, saved next to its weights.

Torch-free so that bundles and the runtime can read it. Rebuild with `EchoConfig(**json)`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from echo_edge import constants as C

FEATURES = ("spectrogram", "waveform", "pitch")
SCORES = ("dot", "cosine", "blend")
PAD_MASKS = ("hard", "soft")
# The Hugging Face model type a checkpoint's config.json names (AutoConfig reads it; see
# echo_edge.hf). It is not a field: `save` writes it, `from_dict` accepts and drops it.
MODEL_TYPE = "echo"
# Fields that must be whole numbers >= 1 and fields that must be finite numbers: a config.json
# edited by hand (n_heads 0, "192" as a string) fails here with the field's name, not later in
# a ZeroDivisionError or a tensor shape error.
POSITIVE_INTS = (
    "vocab_size",
    "d_model",
    "n_heads",
    "encoder_layers",
    "decoder_layers",
    "mlp_ratio",
    "betweenness_dim",
    "max_target_len",
)
FINITE_FLOATS = (
    "dropout",
    "silence_scale",
    "rope_base",
    "ctc_weight",
    "max_tokens_per_second",
    "f0_min",
    "f0_max",
    "silence_dbfs",
)
BOOLS = (
    "learned_freq",
    "pitch_theta",
    "pitch_radius",
    "pitch_bias",
    "betweenness",
    "cross_gate",
    "level_norm",
)


@dataclass(frozen=True)
class EchoConfig:
    # Sizes.
    vocab_size: int = 32  # char tokenizer: 4 specials + space + apostrophe + a-z
    d_model: int = 192
    n_heads: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 3
    mlp_ratio: int = 4
    dropout: float = 0.0
    # Feature streams fused by a learnable softmax blend (seed idea 1).
    features: tuple[str, ...] = ("spectrogram", "waveform")
    # Soft silence masking (seed idea 2): silent keys' weights scaled by silence_scale;
    # 1.0 switches it off, 0.0 masks silent keys hard (the baseline the seeds compared with). pad_mask "soft" applies the same scale to padding (a seed variant).
    silence_scale: float = 1e-3
    pad_mask: str = "hard"
    # Attention score (seed idea 3).
    score: str = "dot"
    # Rotary positions (seed idea 4); the pitch terms start at zero and are learned.
    rope_base: float = 10000.0
    learned_freq: bool = False
    pitch_theta: bool = False  # pitch-modulated phase accumulation (gamma)
    pitch_radius: bool = False  # variable radius exp(rho * z) (rho)
    pitch_bias: bool = False  # pitch-similarity bias lambda * exp(-|z_i - z_j|)
    betweenness: bool = False  # bRoPE offsets beta * (btw - 0.5)
    betweenness_dim: int = 16
    # Training aid: weight of an auxiliary CTC loss on the encoder (joint CTC/attention);
    # it teaches the alignment early. The CTC head is not used for decoding or export.
    ctc_weight: float = 0.0
    # Decoder.
    cross_gate: bool = True  # learnable gate on the cross-attention residual (seed's blend)
    max_target_len: int = 256  # decoder positions, also the size of the exported self cache
    max_tokens_per_second: float = 30.0  # loop guard for greedy decoding
    # Frontend settings (kept with the weights: the model was trained on them).
    f0_min: float = C.F0_MIN
    f0_max: float = C.F0_MAX
    silence_dbfs: float = C.SILENCE_DBFS
    # Bring the encoder's input to the training corpus's speech level, from the utterance's
    # own frames (echo_edge/level.py); off: the frontend's fixed map alone, as before.
    level_norm: bool = False
    extra: dict = field(default_factory=dict)  # free-form notes (training data, run id)

    def __post_init__(self) -> None:
        self._check_types()
        object.__setattr__(self, "features", tuple(self.features))
        bad = [f for f in self.features if f not in FEATURES]
        if bad or not self.features:
            raise ValueError(
                f"features must be a non-empty subset of {FEATURES}, got {self.features}"
            )
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.pad_mask not in PAD_MASKS:
            raise ValueError(f"pad_mask must be one of {PAD_MASKS}, got {self.pad_mask!r}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model / n_heads must be an even integer (rotary pairs)")
        if not 0.0 <= self.ctc_weight < 1.0:
            raise ValueError("ctc_weight must be in [0, 1)")
        if not 0.0 <= self.silence_scale <= 1.0:
            raise ValueError("silence_scale must be in [0, 1] (0: hard mask, 1: off)")

    def _check_types(self) -> None:
        """Refuse wrong types and sizes with the field's name (before any arithmetic on them)."""
        for name in POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in FINITE_FLOATS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        for name in BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.features, str) or not isinstance(self.features, (list, tuple)):
            raise ValueError(f"features must be a list of names, got {self.features!r}")
        for name in ("score", "pad_mask"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a JSON object, got {self.extra!r}")
        if self.f0_min <= 0 or self.f0_max <= self.f0_min:
            raise ValueError(f"need 0 < f0_min < f0_max, got {self.f0_min} and {self.f0_max}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def pitch_rotary(self) -> bool:
        return self.pitch_theta or self.pitch_radius or self.pitch_bias

    def seed_features(self) -> dict[str, object]:
        """Which of the seed papers' ideas this config switches on."""
        return {
            "streams": list(self.features),
            "learnable_blend": len(self.features) > 1,
            "soft_silence_mask": self.silence_scale < 1.0,
            "silence_scale": self.silence_scale,
            "pad_mask": self.pad_mask,
            "score": self.score,
            "learned_freq": self.learned_freq,
            "pitch_theta": self.pitch_theta,
            "pitch_radius": self.pitch_radius,
            "pitch_bias": self.pitch_bias,
            "betweenness": self.betweenness,
            "cross_gate": self.cross_gate,
        }

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return d

    def save(self, path: str | Path) -> None:
        """Write config.json: the fields, with `model_type` first for Hugging Face's AutoConfig."""
        data = {"model_type": MODEL_TYPE, **self.to_dict()}
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> EchoConfig:
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a JSON object, got {type(d).__name__}")
        d = dict(d)
        model_type = d.pop("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ValueError(f"model_type must be {MODEL_TYPE!r}, got {model_type!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown EchoConfig fields: {unknown}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> EchoConfig:
        """Read a config.json; ValueError naming the file for bad JSON, UTF-8 or fields."""
        path = Path(path)
        data = read_json_file(path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None


def read_json_file(path: Path) -> object:
    """Parsed JSON of a file; ValueError naming the file (and line) for bad UTF-8 or JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e.msg}, line {e.lineno})") from None


PRESETS: dict[str, EchoConfig] = {
    # Edge default, ~4 M parameters.
    "tiny": EchoConfig(),
    # ~20 M parameters.
    "small": EchoConfig(d_model=384, n_heads=6, encoder_layers=6, decoder_layers=4),
    # The seed papers' size: 512 dims, 4 heads, 4 + 4 layers.
    "seed": EchoConfig(d_model=512, n_heads=4, encoder_layers=4, decoder_layers=4),
}


def preset(name: str, **overrides: object) -> EchoConfig:
    """A preset with fields replaced, e.g. preset("tiny", score="blend")."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
