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
YIN_WINDOW = 800  # 50 ms integration window: covers two periods of F0_MIN... almost (60 Hz = 267 samples)
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
