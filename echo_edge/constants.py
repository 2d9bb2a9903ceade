"""Audio and token constants shared by the reference, the exporters and the torch-free runtime.

Everything here is plain Python: the runtime imports it on devices without torch.
"""


def exact_div(x: int, y: int) -> int:
    assert x % y == 0, f"{x} is not a multiple of {y}"
    return x // y


SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms analysis window
HOP = 160  # 10 ms hop
N_MELS = 80
FRAMES_PER_SECOND = exact_div(SAMPLE_RATE, HOP)  # 100 frames/s
ENCODER_STRIDE = 2  # stems downsample 100 Hz frames to the 50 Hz encoder rate
SAMPLES_PER_ENCODER_FRAME = HOP * ENCODER_STRIDE  # 320 samples = 20 ms
ENCODER_FRAMES_PER_SECOND = exact_div(SAMPLE_RATE, SAMPLES_PER_ENCODER_FRAME)  # 50 Hz

# Pitch tracker (YIN) defaults.
F0_MIN = 60.0  # Hz
F0_MAX = 500.0  # Hz
YIN_THRESHOLD = 0.15  # absolute threshold on the cumulative-mean-normalised difference
YIN_WINDOW = (
    800  # 50 ms integration window: covers two periods of F0_MIN... almost (60 Hz = 267 samples)
)
F_REF = 200.0  # Hz: reference pitch for log(f0 / F_REF)

# Energy / silence.
SILENCE_DBFS = -60.0  # frames below this energy are "silence" (the seeds' zero frames)

# Special token ids.
PAD_ID = 0
BOS_ID = 1
EOS_ID = 2
UNK_ID = 3


def num_frames(num_samples: int) -> int:
    """Frames of the 100 Hz streams for `num_samples` samples: frame t is centred on t * HOP."""
    return 1 + num_samples // HOP


def num_encoder_frames(num_samples: int) -> int:
    """Frames after the stride-2 stems (conv k=3, s=2, p=1 over num_frames)."""
    return (num_frames(num_samples) - 1) // ENCODER_STRIDE + 1


# ---- Frontend normalisation and streaming arithmetic (echo_edge/frontend.py documents them).

# log-mel: x = log10(max(mel, 1e-10)), clamped below at LOG_MEL_FLOOR (80 dB under a mel
# power of 1; -60 dBFS white noise sits near -5.4), then (x + LOG_MEL_SHIFT) / LOG_MEL_SCALE,
# so silence maps to -1 and full-scale speech to roughly [0, 1.5]. Fixed: no utterance statistic.
LOG_MEL_FLOOR = -8.0
LOG_MEL_SHIFT = 4.0
LOG_MEL_SCALE = 4.0
ENERGY_EPS = 1e-10  # energy dBFS = 10 log10(mean(x^2) + ENERGY_EPS): digital silence is -100 dBFS
# Pitch channel 0 is log(f0 / F_REF) / LOG_F0_SCALE: 60-500 Hz -> [-0.96, 0.73].
LOG_F0_SCALE = 1.25


def yin_max_lag(f0_min: float = F0_MIN) -> int:
    """Longest lag (samples) the pitch tracker computes: one past ceil(period of f0_min)."""
    return int(-(-SAMPLE_RATE // f0_min)) + 1


def frontend_context(f0_min: float = F0_MIN, yin_window: int = YIN_WINDOW) -> tuple[int, int]:
    """(left context, look-ahead) in samples: frame t reads samples [t*HOP - left, t*HOP + ahead].

    The mel/energy window reads [c - N_FFT/2, c + N_FFT/2 - 1] around the centre c; a pitch
    frame reads yin_window + yin_max_lag samples, split as evenly as possible around c.
    """
    span = yin_window + yin_max_lag(f0_min)
    left = max(N_FFT // 2, span // 2)
    ahead = max(N_FFT // 2 - 1, span - 1 - span // 2)
    return left, ahead


FRONTEND_LEFT_CONTEXT, FRONTEND_LOOKAHEAD = frontend_context()  # 534, 533 samples


def determined_frames(
    start: int,
    num_samples: int,
    final: bool,
    left: int = FRONTEND_LEFT_CONTEXT,
    ahead: int = FRONTEND_LOOKAHEAD,
) -> tuple[int, int]:
    """Frames [first, stop) fully determined by samples [start, start + num_samples).

    The signal is zero before sample 0 and, when `final`, after the buffer's end; `start`
    must be a multiple of HOP so that buffer-local frames sit on the global frame grid.
    """
    if start < 0 or start % HOP:
        raise ValueError(f"buffer start {start} is not a non-negative multiple of HOP={HOP}")
    end = start + num_samples
    first = 0 if start == 0 else -(-(start + left) // HOP)
    stop = num_frames(end) if final else (end - 1 - ahead) // HOP + 1
    return first, max(first, stop)


def window_start(frame: int, left: int = FRONTEND_LEFT_CONTEXT) -> int:
    """First sample (a multiple of HOP) a buffer must hold so that `frame` can be determined."""
    return max(0, frame - -(-left // HOP)) * HOP


# The exported frontend graph takes buffers of HOP .. FRONTEND_MAX_SAMPLES samples: 30 s of
# audio plus its context (ExecuTorch plans memory for this bound). Pad a shorter final buffer
# with zeros; that is exact, the signal is zero past its end anyway.
FRONTEND_MAX_SAMPLES = 30 * SAMPLE_RATE + FRONTEND_LEFT_CONTEXT + FRONTEND_LOOKAHEAD + HOP
