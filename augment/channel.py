"""Channel and codec degradations of (batch, samples) waveforms in [-1, 1]: what a telephone line, a codec or a
cheap sound card does to speech before a detector sees it.

- `Companding`: mu-law or A-law encode, quantise, decode (the G.711 curves, continuous form).
- `TelephoneChannel`: the 300-3400 Hz telephone band and an 8 kHz round trip, in-graph.
- `Quantize`: reduction to a random bit depth, optionally with triangular dither.
- `RandomEQ`: random peaking and shelving equalisers, realised as zero-delay linear-phase FIR filters.

The fixed filters are designed with scipy at construction; everything applied per batch is Keras ops on the
backend that runs (see augment.base).
"""

import math

import keras
import numpy as np
import scipy.signal

from augment.base import RandomAugmentation, check_range, uniform, uniform_int
from augment.dsp import centred_filter, signal_length

LAWS = ("mu", "a", "random")
MU = 255.0  # G.711 mu-law
A = 87.6  # G.711 A-law


def _mu_law(ops, x, bits):
    """mu-law compress, quantise the companded value to 2 ** bits levels, expand."""
    y = ops.numpy.sign(x) * ops.numpy.log1p(MU * ops.numpy.abs(x)) / math.log1p(MU)
    y = _quantise_unit(ops, y, bits)
    return ops.numpy.sign(y) * (ops.numpy.power(1.0 + MU, ops.numpy.abs(y)) - 1.0) / MU


def _a_law(ops, x, bits):
    """A-law compress, quantise the companded value to 2 ** bits levels, expand."""
    scale = 1.0 + math.log(A)
    magnitude = ops.numpy.abs(x)
    linear = A * magnitude / scale
    logarithmic = (1.0 + ops.numpy.log(ops.numpy.maximum(A * magnitude, 1.0))) / scale
    y = ops.numpy.sign(x) * ops.numpy.where(magnitude < 1.0 / A, linear, logarithmic)
    y = _quantise_unit(ops, y, bits)
    magnitude = ops.numpy.abs(y)
    expanded = ops.numpy.where(magnitude < 1.0 / scale, magnitude * scale / A,
                               ops.numpy.exp(magnitude * scale - 1.0) / A)
    return ops.numpy.sign(y) * expanded


def _quantise_unit(ops, y, bits):
    """y in [-1, 1] to the nearest of 2 ** bits evenly spaced levels spanning [-1, 1]."""
    top = 2.0**bits - 1.0
    return ops.numpy.round((y + 1.0) / 2.0 * top) / top * 2.0 - 1.0


@keras.saving.register_keras_serializable(package="fakespeech")
class Companding(RandomAugmentation):
    """mu-law or A-law companding round trip: compress, quantise to `bits`, expand (as G.711 telephony does).

    The curves are the continuous mu-law (mu = 255) and A-law (A = 87.6) of ITU-T G.711; G.711 itself uses
    piecewise-linear approximations of them, which agree with these to within about one quantisation step. The
    waveform is clipped to [-1, 1] first, as a codec saturates. With `law="random"` each example gets mu-law or
    A-law with equal chance. The transformation holds `a_law` (batch,) bool.

    Args:
        law: "mu", "a" or "random".
        bits: bits per companded sample (8 for G.711).
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((4, 16000)).astype("float32")
    >>> tuple(Companding(law="random", seed=0)(x, training=True).shape)
    (4, 16000)
    """

    def __init__(self, law="mu", bits=8, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if law not in LAWS:
            raise ValueError(f"Companding: law must be one of {LAWS}, got {law!r}")
        if not 2 <= bits <= 16:
            raise ValueError(f"Companding: bits must be in [2, 16], got {bits}")
        self.law = law
        self.bits = int(bits)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        apply = self._draw_apply(batch, seed)
        if self.law == "random":
            a_law = uniform(ops, (batch,), seed) < 0.5
        else:
            a_law = ops.numpy.full((batch,), self.law == "a", dtype="bool")
        return {"apply": apply, "a_law": a_law}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        clipped = ops.numpy.clip(x, -1.0, 1.0)
        coded = ops.numpy.where(transformation["a_law"][:, None], _a_law(ops, clipped, self.bits),
                                _mu_law(ops, clipped, self.bits))
        return ops.numpy.where(transformation["apply"][:, None], coded, x)  # (batch, samples)


def resampling_filter(factor):
    """The anti-aliasing low-pass `scipy.signal.resample_poly` designs for a rate change by `factor` (float32)."""
    half_length = 10 * factor
    return scipy.signal.firwin(2 * half_length + 1, 1.0 / factor, window=("kaiser", 5.0)).astype(np.float32)


@keras.saving.register_keras_serializable(package="fakespeech")
class TelephoneChannel(RandomAugmentation):
    """Telephone band and narrowband round trip: down to `narrowband_rate`, band-pass, back up to `sample_rate`.

    The rate changes are those of `scipy.signal.resample_poly` (its Kaiser-windowed anti-aliasing filter,
    zero padding at the edges), by the integer factor `sample_rate / narrowband_rate`; the band-pass is a
    Hamming-windowed FIR of `band_taps` taps at the narrowband rate. Every filter is linear-phase and applied
    centred, so the clip is not shifted; the output has the input's length. The filters are fixed (designed at
    construction), so the transformation holds only `apply`.

    Args:
        sample_rate: sampling rate of the waveforms in Hz.
        narrowband_rate: rate of the telephone channel in Hz; must divide `sample_rate`.
        low_hz: lower edge of the telephone band in Hz.
        high_hz: upper edge of the telephone band in Hz, below narrowband_rate / 2.
        band_taps: length of the band-pass filter (odd).
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Attributes:
        band_filter: the band-pass FIR taps at the narrowband rate (float32).

    Example:
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((4, 16000)).astype("float32")
    >>> tuple(TelephoneChannel(sample_rate=16000)(x, training=True).shape)
    (4, 16000)
    """

    def __init__(self, sample_rate=16000, narrowband_rate=8000, low_hz=300.0, high_hz=3400.0, band_taps=101,
                 probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if narrowband_rate <= 0 or sample_rate % narrowband_rate:
            raise ValueError(f"TelephoneChannel: narrowband_rate must divide sample_rate, got "
                             f"narrowband_rate={narrowband_rate}, sample_rate={sample_rate}")
        if not 0.0 < low_hz < high_hz < narrowband_rate / 2:
            raise ValueError(f"TelephoneChannel: need 0 < low_hz < high_hz < narrowband_rate / 2, got "
                             f"low_hz={low_hz}, high_hz={high_hz}, narrowband_rate={narrowband_rate}")
        if band_taps < 3 or band_taps % 2 == 0:
            raise ValueError(f"TelephoneChannel: band_taps must be odd and >= 3, got {band_taps}")
        self.sample_rate = int(sample_rate)
        self.narrowband_rate = int(narrowband_rate)
        self.low_hz = float(low_hz)
        self.high_hz = float(high_hz)
        self.band_taps = int(band_taps)
        self._factor = self.sample_rate // self.narrowband_rate
        self.band_filter = scipy.signal.firwin(self.band_taps, [self.low_hz, self.high_hz], pass_zero=False,
                                               fs=self.narrowband_rate).astype(np.float32)
        self._resampling_filter = resampling_filter(self._factor) if self._factor > 1 else None

    def get_random_transformation(self, data, training=True, seed=None):
        return {"apply": self._draw_apply(self.backend.shape(data)[0], self._generator(seed))}

    def _downsample(self, x):
        filtered = centred_filter(self.backend, x, self.backend.convert_to_tensor(self._resampling_filter))
        return filtered[:, ::self._factor]

    def _upsample(self, x, length):
        ops = self.backend
        zeros = [ops.numpy.zeros_like(x)] * (self._factor - 1)
        stuffed = ops.numpy.reshape(ops.numpy.stack([x, *zeros], axis=-1), (ops.shape(x)[0], -1))
        taps = ops.convert_to_tensor(self._resampling_filter * self._factor)
        return centred_filter(ops, stuffed, taps)[:, :length]

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        narrow = self._downsample(x) if self._factor > 1 else x  # (batch, samples / factor)
        narrow = centred_filter(ops, narrow, ops.convert_to_tensor(self.band_filter))
        y = self._upsample(narrow, signal_length(ops, x)) if self._factor > 1 else narrow
        return ops.numpy.where(transformation["apply"][:, None], y, x)  # (batch, samples)


@keras.saving.register_keras_serializable(package="fakespeech")
class Quantize(RandomAugmentation):
    """Requantisation to a random bit depth: round to the signed PCM grid of `b` bits, b uniform in `bits`.

    A sample x in [-1, 1] becomes clip(round(x * 2^(b-1) + d), -2^(b-1), 2^(b-1) - 1) / 2^(b-1), where d is 0 or,
    with `dither=True`, triangular (TPDF) dither of +-1 step, which makes the error independent of the signal.
    The transformation holds `bits` (batch,) int32 and, with dither, `dither` (batch, samples) in steps.

    Args:
        bits: (low, high) range of the bit depth, integers in [2, 24].
        dither: add triangular dither before rounding.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((4, 16000)).astype("float32")
    >>> tuple(Quantize(bits=(6, 12), dither=True, seed=0)(x, training=True).shape)
    (4, 16000)
    """

    def __init__(self, bits=(8, 16), dither=False, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        low, high = (int(b) for b in bits)
        if not 2 <= low <= high <= 24:
            raise ValueError(f"Quantize: bits must be (low, high) with 2 <= low <= high <= 24, got {tuple(bits)}")
        self.bits = (low, high)
        self.dither = bool(dither)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        transformation = {"apply": self._draw_apply(batch, seed),
                          "bits": uniform_int(ops, (batch,), seed, *self.bits)}
        if self.dither:
            shape = (batch, signal_length(ops, data))
            transformation["dither"] = uniform(ops, shape, seed, -0.5, 0.5) + uniform(ops, shape, seed, -0.5, 0.5)
        return transformation

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        steps = ops.numpy.power(2.0, ops.cast(transformation["bits"], "float32") - 1.0)[:, None]  # per unit
        level = x * steps
        if "dither" in transformation:
            level = level + ops.cast(transformation["dither"], "float32")
        y = ops.numpy.clip(ops.numpy.round(level), -steps, steps - 1.0) / steps
        return ops.numpy.where(transformation["apply"][:, None], y, x)  # (batch, samples)


def _bilinear_grid(ops, w, w0):
    """(tan(w0 / 2)^2 cos(w / 2)^2, sin(w / 2)^2, tan(w0 / 2)^2 sin(w / 2)^2 cos(w / 2)^2) for a grid w (bins,)
    and centre or corner frequencies w0 (...,), broadcast to (..., bins)."""
    t0 = ops.numpy.square(ops.numpy.tan(w0 / 2.0))[..., None]
    c, s = ops.numpy.square(ops.numpy.cos(w / 2.0)), ops.numpy.square(ops.numpy.sin(w / 2.0))
    return t0 * c, s, t0 * s * c


def peaking_power(ops, w, w0, gain_db, q):
    """|H|^2 on the grid w of the RBJ Audio EQ Cookbook peaking filter (..., bins).

    The cookbook filters are bilinear transforms, prewarped at w0, of analog prototypes; evaluating the prototype at
    Omega = tan(w / 2) / tan(w0 / 2) gives the digital response exactly, as sums of squares that float32 holds
    accurately (the textbook |B|^2 / |A|^2 of the coefficients cancels badly at low frequencies).
    """
    amplitude = ops.numpy.power(10.0, gain_db / 40.0)[..., None]
    t0c, s, cross = _bilinear_grid(ops, w, w0)
    shared = ops.numpy.square(t0c - s)
    q = q[..., None]
    return (shared + ops.numpy.square(amplitude / q) * cross) / (shared + cross / ops.numpy.square(amplitude * q))


def shelf_power(ops, w, w0, gain_db, high):
    """|H|^2 on the grid w of the RBJ Audio EQ Cookbook low (high=False) or high shelf of slope 1 (..., bins)."""
    amplitude = ops.numpy.power(10.0, gain_db / 40.0)[..., None]
    t0c, s, cross = _bilinear_grid(ops, w, w0)
    low_numerator = ops.numpy.square(amplitude * t0c - s) + 2.0 * amplitude * cross
    low_denominator = ops.numpy.square(t0c - amplitude * s) + 2.0 * amplitude * cross
    ratio = low_denominator / low_numerator if high else low_numerator / low_denominator
    return ops.numpy.square(amplitude) * ratio


@keras.saving.register_keras_serializable(package="fakespeech")
class RandomEQ(RandomAugmentation):
    """Random equaliser: `peaks` peaking filters and optional low and high shelves, as one zero-delay FIR.

    Each peak has a centre frequency drawn log-uniformly in `freq_hz`, a gain uniform in `gain_db` and a Q uniform
    in `q`; each shelf a corner frequency log-uniform in its range and a gain uniform in `gain_db`. Their magnitude
    responses (those of the RBJ Audio EQ Cookbook biquads) are multiplied and turned into a linear-phase FIR of
    `taps` taps (frequency sampling, Hann window), applied centred so the clip is not shifted. The transformation
    holds the drawn parameters and `fir` (batch, taps), the filter actually applied.

    Args:
        sample_rate: sampling rate in Hz.
        peaks: number of peaking filters.
        gain_db: (low, high) range of every filter's gain in dB.
        freq_hz: (low, high) range of the peak centre frequencies in Hz.
        q: (low, high) range of the peak quality factors.
        low_shelf_hz: (low, high) range of the low-shelf corner in Hz, or None for no low shelf.
        high_shelf_hz: (low, high) range of the high-shelf corner in Hz, or None for no high shelf.
        taps: length of the FIR filter (odd); longer resolves narrower peaks at low frequencies.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((4, 16000)).astype("float32")
    >>> tuple(RandomEQ(sample_rate=16000, seed=0)(x, training=True).shape)
    (4, 16000)
    """

    def __init__(self, sample_rate=16000, peaks=3, gain_db=(-6.0, 6.0), freq_hz=(200.0, 6000.0), q=(0.5, 2.0),
                 low_shelf_hz=(100.0, 300.0), high_shelf_hz=(3000.0, 6000.0), taps=1025, probability=1.0,
                 seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.sample_rate = int(sample_rate)
        self.peaks = int(peaks)
        self.gain_db = check_range("RandomEQ", "gain_db", gain_db)
        self.freq_hz = self._check_hz("freq_hz", freq_hz)
        self.q = check_range("RandomEQ", "q", q)
        self.low_shelf_hz = None if low_shelf_hz is None else self._check_hz("low_shelf_hz", low_shelf_hz)
        self.high_shelf_hz = None if high_shelf_hz is None else self._check_hz("high_shelf_hz", high_shelf_hz)
        self.taps = int(taps)
        if self.peaks < 0 or self.q[0] <= 0.0:
            raise ValueError(f"RandomEQ: need peaks >= 0 and q > 0, got peaks={peaks}, q={tuple(q)}")
        if self.taps < 3 or self.taps % 2 == 0:
            raise ValueError(f"RandomEQ: taps must be odd and >= 3, got {taps}")
        self._design_length = 1 << (4 * self.taps - 1).bit_length()  # frequency grid of the FIR design
        self._window = np.hanning(self.taps).astype(np.float32)

    def _check_hz(self, name, bounds):
        low, high = check_range("RandomEQ", name, bounds)
        if not 0.0 < low <= high < self.sample_rate / 2:
            raise ValueError(f"RandomEQ: {name} must lie in (0, sample_rate / 2), got {tuple(bounds)} at "
                             f"sample_rate={self.sample_rate}")
        return (low, high)

    def _log_uniform(self, shape, seed, bounds):
        ops = self.backend
        return ops.numpy.exp(uniform(ops, shape, seed, math.log(bounds[0]), math.log(bounds[1])))

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        transformation = {
            "apply": self._draw_apply(batch, seed),
            "peak_hz": self._log_uniform((batch, self.peaks), seed, self.freq_hz),
            "peak_gain_db": uniform(ops, (batch, self.peaks), seed, *self.gain_db),
            "peak_q": uniform(ops, (batch, self.peaks), seed, *self.q),
        }
        for name, bounds in (("low_shelf", self.low_shelf_hz), ("high_shelf", self.high_shelf_hz)):
            if bounds is not None:
                transformation[f"{name}_hz"] = self._log_uniform((batch,), seed, bounds)
                transformation[f"{name}_gain_db"] = uniform(ops, (batch,), seed, *self.gain_db)
        transformation["fir"] = self.design_fir(transformation)
        return transformation

    def design_fir(self, parameters):
        """(batch, taps) linear-phase FIR whose magnitude follows the product of the drawn filters."""
        ops = self.backend
        w = ops.convert_to_tensor(np.linspace(0.0, np.pi, self._design_length // 2 + 1, dtype=np.float32))
        radians = 2.0 * np.pi / self.sample_rate
        power = ops.numpy.prod(peaking_power(ops, w, ops.cast(parameters["peak_hz"], "float32") * radians,
                                             ops.cast(parameters["peak_gain_db"], "float32"),
                                             ops.cast(parameters["peak_q"], "float32")), axis=1)  # (batch, bins)
        for name, high in (("low_shelf", False), ("high_shelf", True)):
            if f"{name}_hz" in parameters:
                power = power * shelf_power(ops, w, ops.cast(parameters[f"{name}_hz"], "float32") * radians,
                                            ops.cast(parameters[f"{name}_gain_db"], "float32"), high)
        zero_phase = ops.math.irfft((ops.numpy.sqrt(power), ops.numpy.zeros_like(power)), self._design_length)
        half = self.taps // 2
        centred = ops.numpy.concatenate([zero_phase[:, -half:], zero_phase[:, :half + 1]], axis=-1)
        return centred * ops.convert_to_tensor(self._window)  # (batch, taps)

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        y = centred_filter(ops, x, ops.cast(transformation["fir"], "float32"))
        return ops.numpy.where(transformation["apply"][:, None], y, x)  # (batch, samples)

