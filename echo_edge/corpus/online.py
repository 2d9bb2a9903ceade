"""Waveform augmentation applied while training: every read of an item draws new audio.

Unlike echo_edge.corpus.augment (baked into the stored corpus once, at synthesis), this chain
runs in the dataset each time an item is read, so every epoch hears a new room, noise, channel
and level. The effects, in the order they apply (room, then other sound, then channel, then
level): speed, reverb, babble, noise, telephone, lossy, gain; then a peak limiter that scales
down (never clips) to PEAK_LIMIT.

Reproducibility. Item `index` at draw `draw` (its `draw`-th read) is augmented by a numpy
Generator seeded with (seed, index, draw), so the audio depends on neither the worker that reads
it nor the number of workers. The RIR bank is drawn from (seed, RIR_STREAM) alone, so every
worker builds the same bank. Who counts the draws is SpeechDataset's business (echo_edge.data).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import soundfile as sf
import soxr

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus.augment import PEAK_LIMIT, speed_perturb

TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_ORDER = 8  # Butterworth band-pass order (sos): -40 dB by ~3.9 kHz at 8 kHz
G711 = {"ulaw": "ULAW", "alaw": "ALAW"}  # libsndfile's G.711 subtypes
LOSSY = {"vorbis": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}
RIR_STREAM = 0x5249_52  # "RIR": the bank's seed stream, apart from every (seed, index, draw)
RIR_MAX_ORDER = 30  # image-source order cap: full order costs up to 5 s a room (measured)
RIR_MAX_SECONDS = 1.0  # the bank keeps this much of each response
ROOM_MIN_M = (3.0, 3.0, 2.4)
ROOM_MAX_M = (10.0, 8.0, 4.0)
WALL_MARGIN_M = 0.5  # source and microphone keep this far from every wall
NOISE_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1/f^exponent


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (each effect on its own coin) and ranges of the online chain."""

    speed_prob: float = 0.0  # chance of speed perturbation (tempo, pitch and formants together)
    speed: tuple[float, float] = (0.9, 1.1)  # playback factor
    reverb_prob: float = 0.0  # chance of a room from the RIR bank
    rt60_s: tuple[float, float] = (0.15, 0.9)  # target reverberation time of the bank's rooms
    rir_bank: int = 32  # simulated rooms per bank (built once per process, seeded)
    babble_prob: float = 0.0  # chance of babble made of other training rows
    babble_talkers: tuple[int, int] = (3, 7)  # talkers per babble, inclusive
    babble_snr_db: tuple[float, float] = (10.0, 30.0)  # quiet: speech over babble
    noise_prob: float = 0.0  # chance of additive coloured noise
    noise_snr_db: tuple[float, float] = (0.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown")
    telephone_prob: float = 0.0  # chance of a 300-3400 Hz channel at 8 kHz
    telephone_codecs: tuple[str, ...] = ("ulaw", "alaw")  # G.711 companding laws
    lossy_prob: float = 0.0  # chance of a lossy codec round trip at 16 kHz
    lossy_codecs: tuple[str, ...] = ("vorbis", "mp3")
    lossy_level: tuple[float, float] = (0.0, 0.8)  # libsndfile compression level (1 = smallest)
    gain_prob: float = 0.0  # chance of a level change
    gain_db: tuple[float, float] = (-30.0, 30.0)
    min_rms_dbfs: float = -60.0  # a gain never takes the utterance below this RMS

    def __post_init__(self) -> None:
        for name in ("speed", "reverb", "babble", "noise", "telephone", "lossy", "gain"):
            if not 0.0 <= getattr(self, f"{name}_prob") <= 1.0:
                raise ValueError(f"{name}_prob must be in [0, 1]")
        for name in ("speed", "rt60_s", "babble_talkers", "babble_snr_db", "noise_snr_db"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"{name} needs low <= high, got {(low, high)}")
        if not 0 < self.speed[0] or self.babble_talkers[0] < 1 or self.rir_bank < 1:
            raise ValueError("speed must be > 0, babble needs >= 1 talker, the RIR bank >= 1 room")
        unknown = set(self.noise_kinds) - set(NOISE_EXPONENT)
        unknown |= set(self.telephone_codecs) - set(G711)
        unknown |= set(self.lossy_codecs) - set(LOSSY)
        if unknown:
            raise ValueError(f"unknown noise kind or codec: {', '.join(sorted(unknown))}")

    @property
    def active(self) -> bool:
        """Whether any effect can fire."""
        return any(getattr(self, f"{n}_prob") > 0 for n in EFFECTS)


EFFECTS = ("speed", "reverb", "babble", "noise", "telephone", "lossy", "gain")  # applied order

PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(),
    "light": AugmentConfig(
        speed_prob=0.3,
        reverb_prob=0.15,
        noise_prob=0.3,
        noise_snr_db=(10.0, 30.0),
        telephone_prob=0.05,
        gain_prob=0.5,
        gain_db=(-15.0, 15.0),
    ),
    "full": AugmentConfig(
        speed_prob=0.5,
        reverb_prob=0.3,
        babble_prob=0.2,
        noise_prob=0.5,
        telephone_prob=0.15,
        lossy_prob=0.1,
        gain_prob=0.8,
    ),
}


def augment_config(name: str) -> AugmentConfig:
    """The preset called `name` (none, light, full)."""
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation preset {name!r} (choose {', '.join(PRESETS)})")
    return PRESETS[name]


@dataclass(frozen=True)
class Step:
    """One drawn effect: what it was and with which values (for tests and logs)."""

    name: str  # one of EFFECTS
    value: float = 0.0  # speed factor, SNR dB, gain dB or codec level
    kind: str = ""  # noise colour or codec
    rir: int = -1  # index into the RIR bank
    talkers: tuple[int, ...] = field(default=())  # babble rows


def rms_dbfs(x: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for silence)."""
    power = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return 10 * np.log10(power) if power > 0 else float("-inf")


def gain(x: np.ndarray, db: float, min_rms_dbfs: float = -60.0) -> tuple[np.ndarray, float]:
    """Scale by `db`, less where that would take the RMS below `min_rms_dbfs`; returns the
    audio and the gain applied. Peaks are left to the chain's limiter."""
    level = rms_dbfs(x)
    if np.isfinite(level):
        db = max(db, min_rms_dbfs - level)
    return (x * np.float32(10 ** (db / 20))).astype(np.float32), db


def coloured_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise (n,) float32 with a 1/f^exponent power spectrum. The FFT runs at a fast
    length (a prime n made corpus.augment's noise 3-6x slower, measured)."""
    from scipy.fft import irfft, next_fast_len, rfft

    m = next_fast_len(max(n, 1), real=True)
    white = rng.standard_normal(m, dtype=np.float32)
    exponent = NOISE_EXPONENT[kind]
    if exponent == 0.0:
        return white[:n]
    spectrum = rfft(white)
    bins = np.arange(spectrum.size, dtype=np.float32)
    bins[0] = 1.0
    return irfft(spectrum / bins ** np.float32(exponent / 2), m)[:n].astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Mix noise of `kind` (white, pink, brown) at `snr_db` relative to the signal's power."""
    noise = coloured_noise(x.size, kind, rng)
    signal_power = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    noise_power = float(np.mean(np.square(noise, dtype=np.float64))) if x.size else 0.0
    if signal_power == 0.0 or noise_power == 0.0:
        return x
    scale = np.float32(np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10))))
    return (x + scale * noise).astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room response (direct path first); keeps the length and the RMS."""
    from scipy.signal import oaconvolve

    if not x.size:
        return x
    y = oaconvolve(x.astype(np.float64), rir)[: x.size]
    rms_in, rms_out = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y**2))
    return (y * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def babble(x: np.ndarray, talkers: Sequence[np.ndarray], snr_db: float, rng: np.random.Generator):
    """Mix `talkers` (each looped from a random start to x's length, at equal RMS) under x at
    `snr_db` speech-to-babble power."""
    mix = np.zeros(x.size, dtype=np.float64)
    for talker in talkers:
        if talker.size and np.any(talker):
            t = np.resize(np.roll(talker, -int(rng.integers(talker.size))), x.size)
            mix += t / max(np.sqrt(np.mean(t.astype(np.float64) ** 2)), 1e-12)
    signal_power, babble_power = np.mean(x.astype(np.float64) ** 2), np.mean(mix**2)
    if signal_power == 0 or babble_power == 0:
        return x
    scale = np.sqrt(signal_power / (babble_power * 10 ** (snr_db / 10)))
    return (x + scale * mix).astype(np.float32)


def _codec_roundtrip(x: np.ndarray, rate: int, fmt: str, subtype: str, **kw: float) -> np.ndarray:
    """Encode and decode through libsndfile in memory; the length is kept."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1.0, 1.0), rate, format=fmt, subtype=subtype, **kw)
    buffer.seek(0)
    y = sf.read(buffer, dtype="float32")[0]
    out = np.zeros(x.size, dtype=np.float32)
    out[: min(x.size, y.size)] = y[: x.size]
    return out


def telephone(x: np.ndarray, codec: str = "ulaw", sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Narrowband channel: down to 8 kHz, 300-3400 Hz band-pass, G.711 (mu-law or A-law) through
    libsndfile, back up to `sample_rate`."""
    from scipy.signal import butter, sosfilt

    if not x.size:
        return x
    narrow = soxr.resample(x.astype(np.float32), sample_rate, TELEPHONE_RATE)
    sos = butter(TELEPHONE_ORDER, TELEPHONE_BAND_HZ, btype="band", fs=TELEPHONE_RATE, output="sos")
    narrow = sosfilt(sos, narrow).astype(np.float32)
    narrow = _codec_roundtrip(narrow, TELEPHONE_RATE, "WAV", G711[codec])
    wide = soxr.resample(narrow, TELEPHONE_RATE, sample_rate)
    out = np.zeros(x.size, dtype=np.float32)
    out[: min(x.size, wide.size)] = wide[: x.size]
    return out


def lossy(x: np.ndarray, codec: str, level: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A lossy codec round trip (OGG Vorbis or MP3 via libsndfile) at compression `level`."""
    if not x.size:
        return x
    fmt, subtype = LOSSY[codec]
    return _codec_roundtrip(x, sample_rate, fmt, subtype, compression_level=level)


def rir_bank(
    n: int, seed: int, rt60_s: tuple[float, float], sample_rate: int = SAMPLE_RATE
) -> list[np.ndarray]:
    """`n` shoebox-room impulse responses from pyroomacoustics' image-source model: room size,
    wall absorption (from a target RT60 by Sabine's formula), source and microphone drawn from
    (seed, RIR_STREAM). Each starts at its direct path; deterministic for a seed."""
    import pyroomacoustics as pra

    rng = np.random.default_rng([seed, RIR_STREAM])
    bank = []
    for _ in range(n):
        dims = rng.uniform(ROOM_MIN_M, ROOM_MAX_M)
        rt60 = rng.uniform(*rt60_s)
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
        except ValueError:  # the room is too large for so short a reverberation
            absorption, order = 0.99, 1
        room = pra.ShoeBox(
            dims,
            fs=sample_rate,
            materials=pra.Material(min(absorption, 0.99)),
            max_order=min(order, RIR_MAX_ORDER),
        )
        low, high = np.full(3, WALL_MARGIN_M), dims - WALL_MARGIN_M
        source = rng.uniform(low, high)
        mic = rng.uniform(low, high)
        source[2], mic[2] = rng.uniform(1.2, 1.9), rng.uniform(0.7, 1.6)  # a talker, a device
        room.add_source(source)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], dtype=np.float64)
        start = max(0, int(np.argmax(np.abs(h))) - 16)  # keep the fractional-delay lead-in
        h = h[start : start + int(RIR_MAX_SECONDS * sample_rate)]
        bank.append((h / np.max(np.abs(h))).astype(np.float32))
    return bank


def load_row(row: dict) -> np.ndarray:
    """A row's audio at 16 kHz (the default babble loader)."""
    from echo_edge.audio import load_audio

    return load_audio(row["audio"], sample_rate=SAMPLE_RATE)


class Augmenter:
    """Draws and applies the online chain for item `index` at draw `draw`.

    `rows` (the dataset's row list) feeds babble through `load` (default: the row's audio file).
    The RIR bank is built on first use in each process (each DataLoader worker), from the seed.
    """

    def __init__(
        self,
        config: AugmentConfig,
        seed: int = 0,
        rows: Sequence[dict] = (),
        load: Callable[[dict], np.ndarray] = load_row,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.config, self.seed, self.rows, self.load = config, int(seed), rows, load
        self.sample_rate = sample_rate
        self._bank: list[np.ndarray] | None = None

    @property
    def bank(self) -> list[np.ndarray]:
        if self._bank is None:
            c = self.config
            self._bank = rir_bank(c.rir_bank, self.seed, c.rt60_s, self.sample_rate)
        return self._bank

    def __getstate__(self) -> dict:  # a worker started by spawn builds its own bank
        return {**self.__dict__, "_bank": None}

    def rng(self, index: int, draw: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(index), int(draw)])

    def draw_steps(self, rng: np.random.Generator, index: int) -> list[Step]:
        """The effects that fire and their values (the coins and values come first from rng)."""
        c, steps = self.config, []
        if rng.random() < c.speed_prob:
            steps.append(Step("speed", float(rng.uniform(*c.speed))))
        if rng.random() < c.reverb_prob:
            steps.append(Step("reverb", rir=int(rng.integers(c.rir_bank))))
        if rng.random() < c.babble_prob and len(self.rows) > 1:
            k = min(
                int(rng.integers(c.babble_talkers[0], c.babble_talkers[1] + 1)), len(self.rows) - 1
            )
            others = rng.choice(len(self.rows) - 1, size=k, replace=False)
            talkers = tuple(int(j) + (j >= index) for j in others)  # every row but this one
            steps.append(Step("babble", float(rng.uniform(*c.babble_snr_db)), talkers=talkers))
        if rng.random() < c.noise_prob:
            kind = str(rng.choice(c.noise_kinds))
            steps.append(Step("noise", float(rng.uniform(*c.noise_snr_db)), kind))
        if rng.random() < c.telephone_prob:
            steps.append(Step("telephone", kind=str(rng.choice(c.telephone_codecs))))
        if rng.random() < c.lossy_prob:
            level = float(rng.uniform(*c.lossy_level))
            steps.append(Step("lossy", level, str(rng.choice(c.lossy_codecs))))
        if rng.random() < c.gain_prob:
            steps.append(Step("gain", float(rng.uniform(*c.gain_db))))
        return steps

    def __call__(self, x: np.ndarray, index: int, draw: int) -> tuple[np.ndarray, list[Step]]:
        """Augmented float32 audio in [-PEAK_LIMIT, PEAK_LIMIT] and the steps it took."""
        rng = self.rng(index, draw)
        steps = self.draw_steps(rng, index)
        x = np.asarray(x, dtype=np.float32)
        for i, step in enumerate(steps):
            x, steps[i] = self.apply(x, step, rng)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > PEAK_LIMIT:
            x = x * np.float32(PEAK_LIMIT / peak)
        return x.astype(np.float32), steps

    def apply(self, x: np.ndarray, step: Step, rng: np.random.Generator) -> tuple[np.ndarray, Step]:
        """One step; returns the audio and the step as applied (a gain the RMS floor cut)."""
        if step.name == "speed":
            return speed_perturb(x, step.value, self.sample_rate), step
        if step.name == "reverb":
            return reverberate(x, self.bank[step.rir]), step
        if step.name == "babble":
            talkers = [np.asarray(self.load(self.rows[j]), np.float32) for j in step.talkers]
            return babble(x, talkers, step.value, rng), step
        if step.name == "noise":
            return add_noise(x, step.value, step.kind, rng), step
        if step.name == "telephone":
            return telephone(x, step.kind, self.sample_rate), step
        if step.name == "lossy":
            return lossy(x, step.kind, step.value, self.sample_rate), step
        if step.name == "gain":
            x, applied = gain(x, step.value, self.config.min_rms_dbfs)
            return x, replace(step, value=applied)
        raise ValueError(f"unknown effect {step.name!r}")
