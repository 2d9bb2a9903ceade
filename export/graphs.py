"""The three nn.Module wrappers every exporter traces, with their example inputs and limits.

Each wrapper calls the reference model's own code (Frontend.forward, Echo.encode,
Echo.decode_step) with plain tensors in and out, batch 1, so an exported graph is the
reference, not a copy. Input/output names live in the torch-free runtime/bundle.py.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from echo_edge import constants as C
from echo_edge.level import LEVEL_MODULE
from echo_edge.model import Echo
from echo_edge.runtime.bundle import CTC_OUTPUT, GRAPH_INPUTS, GRAPH_OUTPUTS, GRAPHS

# Longest utterance the exported graphs are built for (ExecuTorch upper bounds, TensorRT
# profiles); the streaming runtime segments longer audio at endpoints.
MAX_AUDIO_SECONDS = 30.0
# The frontend reads a chunk plus its left context and look-ahead, so one call may see
# 30 s of audio and both contexts; the encoder sees the frames of 30 s.
MAX_SAMPLES = (
    int(MAX_AUDIO_SECONDS * C.SAMPLE_RATE) + C.FRONTEND_LEFT_CONTEXT + C.FRONTEND_LOOKAHEAD
)
MAX_FRAMES = C.num_frames(MAX_SAMPLES)  # 3007 frames at 100 Hz
MAX_ENCODER_FRAMES = C.num_encoder_frames(MAX_SAMPLES)  # 1504 frames at 50 Hz
MIN_FRAMES = 3  # torch.export specialises sizes 0 and 1; 3 frames = 20 ms
# The stem that must stay fp32 in every reduced-precision graph (its 400-tap filters see raw
# samples); exporters match its nodes by this module path.
WAVEFORM_STEM = "encoder.blend.stems.waveform"
# Every module kept fp32 in reduced-precision graphs: the waveform stem and the level
# normalisation's spectrum (echo_edge/level.py; power spectra span 16 decades).
FP32_MODULES = (WAVEFORM_STEM, LEVEL_MODULE)


def within(path: str, modules: Sequence[str]) -> bool:
    """Whether module path `path` is one of `modules` or a module inside one
    (encoder.blocks.1 holds encoder.blocks.1.mlp, not encoder.blocks.10)."""
    return any(path == m or path.startswith(m + ".") for m in modules)


CTC_HEAD = "ctc_head"  # module path of the auxiliary CTC head (EncoderGraph, Echo)


class FrontendGraph(nn.Module):
    """samples (1, N) -> mel (1, 80, T), pitch (1, 3, T), energy (1, T), silence (1, T)."""

    def __init__(self, model: Echo) -> None:
        super().__init__()
        self.frontend = model.frontend

    def forward(
        self, samples: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mel, pitch, energy, silence = self.frontend(samples)
        return mel, pitch, energy, silence


class EncoderGraph(nn.Module):
    """mel (1, 80, T), pitch (1, 3, T), silence (1, T), wave (1, T*HOP), frame_mask (1, T)
    -> cross_k, cross_v (layers, 1, H, S, Dh), cross_bias (1, S), S = ceil(T / 2), and,
    when the model has a CTC head, ctc_logprobs (1, S, V) (blank = pad id)."""

    def __init__(self, model: Echo) -> None:
        super().__init__()
        # Held under the model's own names, so module paths (WAVEFORM_STEM, CTC_HEAD) match
        # the model's and the frontend is left out.
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.ctc_head = model.ctc_head

    def forward(
        self,
        mel: torch.Tensor,
        pitch: torch.Tensor,
        silence: torch.Tensor,
        wave: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        # Echo.encode's two steps, keeping the states the CTC head reads.
        states, cross_bias = self.encoder(mel, pitch, silence, wave, frame_mask)  # (1, S, D)
        cross_k, cross_v = self.decoder.cross_kv(states)  # (layers, 1, H, S, Dh)
        if self.ctc_head is None:
            return cross_k, cross_v, cross_bias
        return cross_k, cross_v, cross_bias, ctc_logprobs(self.ctc_head, states)


def ctc_logprobs(head: nn.Module, states: torch.Tensor) -> torch.Tensor:
    """Encoder states (B, S, D) -> CTC log-probabilities (B, S, V), as Echo.ctc_loss has them."""
    return head(states).float().log_softmax(-1)


class DecoderGraph(nn.Module):
    """tokens (1, L) int64, offset () int64, self_k/v (layers, 1, H, C, Dh), cross_k/v
    (layers, 1, H, S, Dh), cross_bias (1, S) -> logits (1, L, V), self_k/v with slots
    offset .. offset + L - 1 written. C is dynamic (2 .. max_target_len): slots the query
    positions have not reached are masked, so any C > offset + L - 1 gives the same logits."""

    def __init__(self, model: Echo) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(
        self,
        tokens: torch.Tensor,
        offset: torch.Tensor,
        self_k: torch.Tensor,
        self_v: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        cross_bias: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.decoder.decode_step(
            tokens, offset, self_k, self_v, cross_k, cross_v, cross_bias
        )


def plain_buffers(model: Echo) -> Echo:
    """A copy of the model whose buffers are contiguous and persistent.

    ExecuTorch 1.5's lowering rejects strided constants (0 or transposed strides, as
    torch.tensor keeps from numpy views) and non-persistent buffers (the frontend's DFT
    bases, the rotary frequencies); values and outputs are unchanged."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        for name, buf in list(module.named_buffers(recurse=False)):
            delattr(module, name)
            fresh = buf.new_empty(buf.shape).copy_(buf)  # row-major strides, none 0
            module.register_buffer(name, fresh, persistent=True)
    return model


def graph_modules(model: Echo) -> dict[str, nn.Module]:
    """The three wrappers of an eval-mode copy of the model, keyed by graph name."""
    model = plain_buffers(model)
    return {
        "frontend": FrontendGraph(model).eval(),
        "encoder": EncoderGraph(model).eval(),
        "decoder": DecoderGraph(model).eval(),
    }


@torch.no_grad()
def example_inputs(
    model: Echo, samples: torch.Tensor | None = None, tokens: int = 4
) -> dict[str, tuple[torch.Tensor, ...]]:
    """Consistent example inputs for the three graphs from one waveform (1, N).

    The default is 1 s of a quiet chirp; tokens is the decoder's L."""
    if samples is None:
        t = torch.arange(C.SAMPLE_RATE) / C.SAMPLE_RATE
        samples = (0.1 * torch.sin(2 * torch.pi * (120 + 80 * t) * t))[None]  # (1, N)
    f = model.features(samples)
    cross_k, cross_v, cross_bias = model.encode(f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
    self_k, self_v = model.decoder.empty_cache(1)
    ids = torch.full((1, tokens), C.BOS_ID, dtype=torch.long)
    offset = torch.zeros((), dtype=torch.long)
    return {
        "frontend": (samples,),
        "encoder": (f.mel, f.pitch, f.silence, f.wave, f.frame_mask),
        "decoder": (ids, offset, self_k, self_v, cross_k, cross_v, cross_bias),
    }


def dynamic_shapes(
    model: Echo, bounded: bool = True, growing_cache: bool = True
) -> dict[str, dict[str, dict[int, object]]]:
    """torch.export dynamic shapes per graph: samples N, frames T (wave = T*HOP derived),
    encoder frames S, decoder tokens L and, with `growing_cache`, cache slots C.
    `bounded` gives the upper bounds ExecuTorch needs."""
    dim = torch.export.Dim
    # DYNAMIC rather than a named Dim: the frontend's guards (T != 1) are checked at run time
    # instead of having to be proved for every N in range.
    samples = dim.DYNAMIC(min=2 * C.HOP, max=MAX_SAMPLES if bounded else None)
    frames = dim.DYNAMIC(min=MIN_FRAMES, max=MAX_FRAMES if bounded else None)
    wave = dim.DYNAMIC(min=MIN_FRAMES * C.HOP, max=MAX_FRAMES * C.HOP if bounded else None)
    enc = dim("encoder_frames", min=2, max=MAX_ENCODER_FRAMES if bounded else None)
    tokens = dim("tokens", min=1, max=model.config.max_target_len)
    # The runtime starts with MIN_CACHE_SLOTS and doubles (runtime/bundle.py GROWING_CACHE).
    slots = dim("cache_slots", min=2, max=model.config.max_target_len)
    return {
        "frontend": {"samples": {1: samples}},
        "encoder": {
            "mel": {2: frames},
            "pitch": {2: frames},
            "silence": {1: frames},
            "wave": {1: wave},  # T * HOP: checked at run time
            "frame_mask": {1: frames},
        },
        "decoder": {
            "tokens": {1: tokens},
            "offset": None,
            "self_k": {3: slots} if growing_cache else None,
            "self_v": {3: slots} if growing_cache else None,
            "cross_k": {3: enc},
            "cross_v": {3: enc},
            "cross_bias": {1: enc},
        },
    }


def has_ctc(model: Echo) -> bool:
    """Whether the model has a CTC head, so its encoder graph returns ctc_logprobs."""
    return model.ctc_head is not None


def graph_io(graph: str, ctc: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input names, output names) of a graph; `ctc`: the encoder also returns CTC_OUTPUT."""
    assert graph in GRAPHS, graph
    outputs = GRAPH_OUTPUTS[graph]
    if ctc and graph == "encoder":
        outputs = (*outputs, CTC_OUTPUT)
    return GRAPH_INPUTS[graph], outputs


@dataclass
class BackendExport:
    """What one backend exporter wrote into a bundle directory (the manifest's inputs)."""

    files: list[str]  # file names inside the bundle, all checksummed
    graphs: dict[str, dict]  # graph name -> {"file", "method"?, "inputs", "outputs", ...}
    exporter: dict[str, str]  # package -> version
    quantization: dict = field(default_factory=dict)  # how int8 graphs were made


def graph_spec(graph: str, file: str, ctc: bool = False, **extra: object) -> dict:
    """The manifest entry of one graph: its file (and method), I/O names and extras."""
    inputs, outputs = graph_io(graph, ctc)
    return {"file": file, "inputs": list(inputs), "outputs": list(outputs), **extra}


def limits(model: Echo) -> dict[str, int | float]:
    """The sizes the exported graphs are built for, as stored in the manifest."""
    return {
        "max_audio_seconds": MAX_AUDIO_SECONDS,
        "min_samples": 2 * C.HOP,  # one frontend call
        "max_samples": MAX_SAMPLES,  # one frontend call: 30 s plus both contexts
        "max_frames": MAX_FRAMES,
        "max_encoder_frames": MAX_ENCODER_FRAMES,
        "max_target_len": model.config.max_target_len,  # the decoder's largest cache
    }
