"""Waveform augmentations on (batch, samples) float batches: gain, additive noise, time shift, band limiting."""

import keras

from augment.base import RandomAugmentation, check_range, normal, uniform, uniform_int
from augment.dsp import power, signal_length

NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # exponent of the 1 / f ** exponent power spectrum
SHIFT_MODES = ("circular", "zero")


def colored_noise(ops, shape, exponent, seed):
    """Gaussian noise with power spectrum ~ 1 / f ** exponent (0 white, 1 pink, 2 brown), unit power per row."""
    noise = normal(ops, shape, seed)
    if exponent:
        length = shape[-1]
        real, imag = ops.math.rfft(noise)
        bins = ops.cast(ops.numpy.arange(ops.shape(real)[-1]), "float32")
        # The DC bin would be infinite; a zero-mean noise is what we want anyway.
        gain = ops.numpy.where(bins > 0, ops.numpy.power(ops.numpy.maximum(bins, 1.0), -exponent / 2.0), 0.0)
        noise = ops.math.irfft((real * gain, imag * gain), length)
    return noise / ops.numpy.sqrt(ops.numpy.maximum(power(ops, noise), 1e-12))[:, None]


@keras.saving.register_keras_serializable(package="fakespeech")
class RandomGain(RandomAugmentation):
    """Multiplies each waveform by a gain drawn uniformly in decibels.

    Args:
        gain_db: (low, high) range of the gain in dB.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> layer = RandomGain(gain_db=(-6.0, 6.0), probability=0.5, seed=0)
    >>> tuple(layer(np.ones((4, 16000), "float32"), training=True).shape)
    (4, 16000)
    """

    def __init__(self, gain_db=(-6.0, 6.0), probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.gain_db = check_range("RandomGain", "gain_db", gain_db)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        return {"apply": self._draw_apply(batch, seed), "gain_db": uniform(ops, (batch,), seed, *self.gain_db)}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        gain = ops.numpy.power(10.0, ops.cast(transformation["gain_db"], "float32") / 20.0)
        gain = ops.numpy.where(transformation["apply"], gain, 1.0)
        return ops.cast(inputs, "float32") * gain[:, None]  # (batch, samples)


@keras.saving.register_keras_serializable(package="fakespeech")
class AddNoise(RandomAugmentation):
    """Adds Gaussian (white, pink or brown) noise at a signal-to-noise ratio drawn uniformly in decibels.

    The SNR is measured against each waveform's own mean power; silent waveforms are left silent.

    Args:
        snr_db: (low, high) range of the SNR in dB.
        noise_color: "white", "pink" (1/f) or "brown" (1/f^2).
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(AddNoise(snr_db=(10.0, 40.0), seed=0)(np.ones((4, 16000), "float32"), training=True).shape)
    (4, 16000)
    """

    def __init__(self, snr_db=(10.0, 40.0), noise_color="white", probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if noise_color not in NOISE_COLORS:
            raise ValueError(f"AddNoise: noise_color must be one of {sorted(NOISE_COLORS)}, got {noise_color!r}")
        self.snr_db = check_range("AddNoise", "snr_db", snr_db)
        self.noise_color = noise_color

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        apply = self._draw_apply(batch, seed)
        snr_db = uniform(ops, (batch,), seed, *self.snr_db)
        noise = colored_noise(ops, (batch, signal_length(ops, data)), NOISE_COLORS[self.noise_color], seed)
        return {"apply": apply, "snr_db": snr_db, "noise": noise}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        noise_power = power(ops, x) / ops.numpy.power(10.0, ops.cast(transformation["snr_db"], "float32") / 10.0)
        scale = ops.numpy.where(transformation["apply"], ops.numpy.sqrt(noise_power), 0.0)
        return x + scale[:, None] * ops.cast(transformation["noise"], "float32")  # (batch, samples)


@keras.saving.register_keras_serializable(package="fakespeech")
class TimeShift(RandomAugmentation):
    """Shifts each waveform by a whole number of samples drawn uniformly in [-max_shift, max_shift].

    Args:
        max_shift: largest shift in samples.
        mode: "circular" (samples wrap around) or "zero" (vacated samples become zero).
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(TimeShift(max_shift=1600, seed=0)(np.ones((4, 16000), "float32"), training=True).shape)
    (4, 16000)
    """

    def __init__(self, max_shift=1600, mode="circular", probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if mode not in SHIFT_MODES:
            raise ValueError(f"TimeShift: mode must be one of {SHIFT_MODES}, got {mode!r}")
        if max_shift < 0:
            raise ValueError(f"TimeShift: max_shift must be >= 0, got {max_shift}")
        self.max_shift = int(max_shift)
        self.mode = mode

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        apply = self._draw_apply(batch, seed)
        shift = uniform_int(ops, (batch,), seed, -self.max_shift, self.max_shift)
        return {"apply": apply, "shift": ops.numpy.where(apply, shift, 0)}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        length = signal_length(ops, x)
        source = ops.numpy.arange(length)[None, :] - ops.cast(transformation["shift"], "int32")[:, None]
        shifted = ops.numpy.take_along_axis(x, ops.numpy.mod(source, length), axis=1)
        if self.mode == "zero":
            inside = ops.numpy.logical_and(source >= 0, source < length)
            shifted = ops.numpy.where(inside, shifted, 0.0)
        return shifted  # (batch, samples)


@keras.saving.register_keras_serializable(package="fakespeech")
class BandLimit(RandomAugmentation):
    """Random telephone-like band limiting: zeroes every FFT bin outside a random [low, high] Hz pass band.

    The cut-offs are drawn uniformly from `low_hz` and `high_hz`; a low cut-off of 0 makes it a pure low-pass.
    The mask is applied to the FFT of the whole clip (a brick-wall filter; its ringing is itself realistic of
    codec band limiting and cheaper than a long FIR).

    Args:
        sample_rate: sampling rate in Hz.
        low_hz: (low, high) range of the high-pass cut-off in Hz.
        high_hz: (low, high) range of the low-pass cut-off in Hz, above `low_hz` and at most sample_rate / 2.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(BandLimit(sample_rate=16000, seed=0)(np.ones((4, 16000), "float32"), training=True).shape)
    (4, 16000)
    """

    def __init__(self, sample_rate=16000, low_hz=(0.0, 300.0), high_hz=(3400.0, 7000.0), probability=1.0,
                 seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.sample_rate = sample_rate
        self.low_hz = check_range("BandLimit", "low_hz", low_hz)
        self.high_hz = check_range("BandLimit", "high_hz", high_hz)
        if not (0.0 <= self.low_hz[0] and self.low_hz[1] < self.high_hz[0] and self.high_hz[1] <= sample_rate / 2):
            raise ValueError(f"BandLimit: need 0 <= low_hz < high_hz <= sample_rate / 2, got low_hz={self.low_hz}, "
                             f"high_hz={self.high_hz}, sample_rate={sample_rate}")

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        apply = self._draw_apply(batch, seed)
        low_hz = uniform(ops, (batch,), seed, *self.low_hz)
        return {"apply": apply, "low_hz": low_hz, "high_hz": uniform(ops, (batch,), seed, *self.high_hz)}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        length = signal_length(ops, x)
        real, imag = ops.math.rfft(x)  # (batch, freq) each
        hz_per_bin = self.sample_rate / ops.cast(length, "float32")
        bin_hz = ops.cast(ops.numpy.arange(ops.shape(real)[-1]), "float32")[None, :] * hz_per_bin
        low = ops.cast(transformation["low_hz"], "float32")[:, None]
        high = ops.cast(transformation["high_hz"], "float32")[:, None]
        keep = ops.cast(ops.numpy.logical_and(bin_hz >= low, bin_hz <= high), "float32")
        filtered = ops.math.irfft((real * keep, imag * keep), length)
        return ops.numpy.where(transformation["apply"][:, None], filtered, x)  # (batch, samples)


