"""Waveform augmentations on (batch, samples) float batches: gain, additive noise, time shift, band limiting."""

import keras
import tensorflow as tf

from augment.base import RandomAugmentation, uniform, uniform_int

NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # exponent of the 1 / f ** exponent power spectrum
SHIFT_MODES = ("circular", "zero")


def _check_range(layer, name, bounds):
    low, high = bounds
    if low > high:
        raise ValueError(f"{layer}: {name} must be (low, high) with low <= high, got {tuple(bounds)}")
    return (float(low), float(high))


def _length(x):
    return x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]


def _power(x):
    return tf.reduce_mean(tf.square(x), axis=-1)


def colored_noise(shape, exponent, seed):
    """Gaussian noise with power spectrum ~ 1 / f ** exponent (0 white, 1 pink, 2 brown), unit power per row."""
    noise = tf.random.stateless_normal(shape, seed)
    if exponent:
        spectrum = tf.signal.rfft(noise)
        bins = tf.cast(tf.range(tf.shape(spectrum)[-1]), tf.float32)
        # The DC bin would be infinite; a zero-mean noise is what we want anyway.
        gain = tf.where(bins > 0, tf.math.pow(tf.maximum(bins, 1.0), -exponent / 2.0), 0.0)
        noise = tf.signal.irfft(spectrum * tf.cast(gain, spectrum.dtype), fft_length=[shape[-1]])
    return noise * tf.math.rsqrt(tf.maximum(_power(noise), 1e-12))[:, None]


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
    >>> layer(tf.ones((4, 16000)), training=True).shape
    TensorShape([4, 16000])
    """

    def __init__(self, gain_db=(-6.0, 6.0), probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.gain_db = _check_range("RandomGain", "gain_db", gain_db)

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, gain_seed = self._seeds(seed, 2)
        batch = tf.shape(data)[0]
        return {"apply": self._draw_apply(batch, apply_seed), "gain_db": uniform([batch], gain_seed, *self.gain_db)}

    def transform_inputs(self, inputs, transformation):
        gain = tf.math.pow(10.0, transformation["gain_db"] / 20.0)
        gain = tf.where(transformation["apply"], gain, 1.0)
        return inputs * tf.cast(gain[:, None], inputs.dtype)  # (batch, samples)

    def get_config(self):
        config = super().get_config()
        config.update(gain_db=self.gain_db)
        return config


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
    >>> AddNoise(snr_db=(10.0, 40.0), seed=0)(tf.ones((4, 16000)), training=True).shape
    TensorShape([4, 16000])
    """

    def __init__(self, snr_db=(10.0, 40.0), noise_color="white", probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if noise_color not in NOISE_COLORS:
            raise ValueError(f"AddNoise: noise_color must be one of {sorted(NOISE_COLORS)}, got {noise_color!r}")
        self.snr_db = _check_range("AddNoise", "snr_db", snr_db)
        self.noise_color = noise_color

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, snr_seed, noise_seed = self._seeds(seed, 3)
        batch = tf.shape(data)[0]
        noise = colored_noise([batch, _length(data)], NOISE_COLORS[self.noise_color], noise_seed)
        return {"apply": self._draw_apply(batch, apply_seed), "snr_db": uniform([batch], snr_seed, *self.snr_db),
                "noise": noise}

    def transform_inputs(self, inputs, transformation):
        x = tf.cast(inputs, tf.float32)
        noise_power = _power(x) / tf.math.pow(10.0, transformation["snr_db"] / 10.0)
        scale = tf.where(transformation["apply"], tf.sqrt(noise_power), 0.0)
        return tf.cast(x + scale[:, None] * transformation["noise"], inputs.dtype)  # (batch, samples)

    def get_config(self):
        config = super().get_config()
        config.update(snr_db=self.snr_db, noise_color=self.noise_color)
        return config


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
    >>> TimeShift(max_shift=1600, seed=0)(tf.ones((4, 16000)), training=True).shape
    TensorShape([4, 16000])
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
        apply_seed, shift_seed = self._seeds(seed, 2)
        batch = tf.shape(data)[0]
        apply = self._draw_apply(batch, apply_seed)
        shift = uniform_int([batch], shift_seed, -self.max_shift, self.max_shift)
        return {"apply": apply, "shift": tf.where(apply, shift, 0)}

    def transform_inputs(self, inputs, transformation):
        length = _length(inputs)
        source = tf.range(length)[None, :] - transformation["shift"][:, None]  # (batch, samples)
        shifted = tf.gather(inputs, tf.math.floormod(source, length), batch_dims=1)
        if self.mode == "zero":
            inside = (source >= 0) & (source < length)
            shifted = tf.where(inside, shifted, tf.zeros_like(shifted))
        return shifted  # (batch, samples)

    def get_config(self):
        config = super().get_config()
        config.update(max_shift=self.max_shift, mode=self.mode)
        return config


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
    >>> BandLimit(sample_rate=16000, seed=0)(tf.ones((4, 16000)), training=True).shape
    TensorShape([4, 16000])
    """

    def __init__(self, sample_rate=16000, low_hz=(0.0, 300.0), high_hz=(3400.0, 7000.0), probability=1.0,
                 seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.sample_rate = sample_rate
        self.low_hz = _check_range("BandLimit", "low_hz", low_hz)
        self.high_hz = _check_range("BandLimit", "high_hz", high_hz)
        if not (0.0 <= self.low_hz[0] and self.low_hz[1] < self.high_hz[0] and self.high_hz[1] <= sample_rate / 2):
            raise ValueError(f"BandLimit: need 0 <= low_hz < high_hz <= sample_rate / 2, got low_hz={self.low_hz}, "
                             f"high_hz={self.high_hz}, sample_rate={sample_rate}")

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, low_seed, high_seed = self._seeds(seed, 3)
        batch = tf.shape(data)[0]
        return {"apply": self._draw_apply(batch, apply_seed), "low_hz": uniform([batch], low_seed, *self.low_hz),
                "high_hz": uniform([batch], high_seed, *self.high_hz)}

    def transform_inputs(self, inputs, transformation):
        length = _length(inputs)
        x = tf.cast(inputs, tf.float32)
        spectrum = tf.signal.rfft(x)  # (batch, freq)
        hz_per_bin = self.sample_rate / tf.cast(length, tf.float32)
        bin_hz = tf.cast(tf.range(tf.shape(spectrum)[-1]), tf.float32) * hz_per_bin
        keep = (bin_hz[None, :] >= transformation["low_hz"][:, None]) & (
            bin_hz[None, :] <= transformation["high_hz"][:, None])
        filtered = tf.signal.irfft(spectrum * tf.cast(keep, spectrum.dtype), fft_length=[length])
        return tf.cast(tf.where(transformation["apply"][:, None], filtered, x), inputs.dtype)  # (batch, samples)

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, low_hz=self.low_hz, high_hz=self.high_hz)
        return config

