"""RawBoost (Tak et al., ICASSP 2022) data boosting for raw-waveform anti-spoofing, in-graph.

Three kinds of distortion, applied in series in the order `algo` names them (e.g. "lnl+isd+ssi", RawBoost's
algorithm 4; "lnl" alone is algorithm 1, "isd" 2, "ssi" 3, "lnl+isd" 5, "lnl+ssi" 6, "isd+ssi" 7):

- LnL, linear and non-linear convolutive noise: sum over k = 1..`lnl_orders` of x ** k filtered by a random
  multi-band FIR filter (a cascade of `n_bands` Hamming-windowed band-pass filters of random centre, bandwidth and
  odd length), each normalised to peak gain 1 and then scaled by a random gain, orders above 1 attenuated by a
  further `nonlinear_bias_db`; the sum is made zero-mean and peak-normalised when it exceeds 1.
- ISD, impulsive signal-dependent noise: a random fraction (up to `isd_max_percent` %) of samples gets
  `isd_gain * x * u1 * u2`, u ~ U(-1, 1). Samples are selected independently (Bernoulli) rather than as an exact
  count, which keeps shapes static.
- SSI, stationary signal-independent noise: white noise through a random multi-band filter, added at an SNR drawn
  from `snr_db`.

Filters are applied by FFT (exact linear convolution, truncated to the input length, as `scipy.signal.lfilter`).
The peak of each cascade's response is taken on a grid of at least 512 frequencies, like `scipy.signal.freqz`.
"""

import keras
import numpy as np
import tensorflow as tf

from augment.base import RandomAugmentation, uniform

STEPS = ("lnl", "isd", "ssi")


def parse_algo(algo):
    steps = tuple(step.strip() for step in algo.lower().split("+") if step.strip())
    unknown = [step for step in steps if step not in STEPS]
    if not steps or unknown or len(set(steps)) != len(steps):
        raise ValueError(f"RawBoost: algo must join distinct steps of {STEPS} with '+', got {algo!r}")
    return steps


def fast_fft_length(minimum):
    """The smallest 2^a 3^b 5^c >= minimum: lengths the FFT handles quickly."""
    best = 1 << (int(minimum) - 1).bit_length()
    power5 = 1
    while power5 < best:
        power3 = power5
        while power3 < best:
            length = power3
            while length < minimum:
                length *= 2
            best = min(best, length)
            power3 *= 3
        power5 *= 5
    return best


def _sinc(x):
    safe = tf.where(tf.equal(x, 0.0), 1.0, x)
    return tf.where(tf.equal(x, 0.0), 1.0, tf.sin(np.pi * safe) / (np.pi * safe))


def _peak_normalise(x):
    """RawBoost's normWav(x, 0): divide by the peak only when it exceeds 1."""
    return x / tf.maximum(tf.reduce_max(tf.abs(x), axis=-1, keepdims=True), 1.0)


@keras.saving.register_keras_serializable(package="fakespeech")
class RawBoost(RandomAugmentation):
    """RawBoost LnL / ISD / SSI distortions of (batch, samples) waveforms (amplitudes about [-1, 1]).

    Defaults are those of the RawBoost paper's ASVspoof 2021 LA recipe.

    Args:
        algo: steps joined by '+', applied in that order: "lnl", "isd", "ssi".
        sample_rate: sampling rate in Hz.
        lnl_orders: number of powers of the signal summed by LnL (RawBoost's N_f).
        n_bands: band-pass filters cascaded in each random filter.
        freq_hz: (low, high) range of the band centres in Hz.
        bandwidth_hz: (low, high) range of the band widths in Hz.
        fir_taps: (low, high) range of each band filter's length (made odd).
        gain_db: (low, high) range of the gain of each random filter in dB.
        nonlinear_bias_db: (low, high) further attenuation in dB of the LnL orders above 1.
        isd_max_percent: largest percentage of samples ISD perturbs.
        isd_gain: ISD's noise gain (RawBoost's g_sd).
        snr_db: (low, high) range of the SSI signal-to-noise ratio in dB.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> RawBoost(algo="lnl+isd+ssi", seed=0)(tf.random.normal((2, 16000)) * 0.1, training=True).shape
    TensorShape([2, 16000])
    """

    def __init__(self, algo="lnl+isd+ssi", sample_rate=16000, lnl_orders=5, n_bands=5, freq_hz=(20.0, 8000.0),
                 bandwidth_hz=(100.0, 1000.0), fir_taps=(10, 100), gain_db=(0.0, 0.0), nonlinear_bias_db=(5.0, 20.0),
                 isd_max_percent=10.0, isd_gain=2.0, snr_db=(10.0, 40.0), probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.algo = algo
        self.sample_rate = sample_rate
        self.lnl_orders = int(lnl_orders)
        self.n_bands = int(n_bands)
        self.freq_hz = tuple(float(v) for v in freq_hz)
        self.bandwidth_hz = tuple(float(v) for v in bandwidth_hz)
        self.fir_taps = tuple(int(v) for v in fir_taps)
        self.gain_db = tuple(float(v) for v in gain_db)
        self.nonlinear_bias_db = tuple(float(v) for v in nonlinear_bias_db)
        self.isd_max_percent = float(isd_max_percent)
        self.isd_gain = float(isd_gain)
        self.snr_db = tuple(float(v) for v in snr_db)
        self._steps = parse_algo(algo)
        if not 3 <= self.fir_taps[0] < self.fir_taps[1]:
            raise ValueError(f"RawBoost: fir_taps must be (low, high) with 3 <= low < high, got {fir_taps}")
        if self.lnl_orders < 1 or self.n_bands < 1:
            raise ValueError(f"RawBoost: lnl_orders and n_bands must be >= 1, got {lnl_orders}, {n_bands}")
        # Lengths are made odd by rounding even draws up, as RawBoost does.
        self._max_taps = (self.fir_taps[1] - 1) | 1
        cascade = self.n_bands * (self._max_taps - 1) + 1
        self._response_length = max(1024, 1 << (cascade - 1).bit_length())

    def _random_filters(self, shape, gain_low, gain_high, seed):
        """(*shape, response_length) random multi-band FIR taps (RawBoost's genNotchCoeffs)."""
        centre_seed, width_seed, taps_seed, gain_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
        band_shape = [*shape, self.n_bands]
        nyquist = self.sample_rate / 2.0
        centre = uniform(band_shape, centre_seed, *self.freq_hz)
        width = uniform(band_shape, width_seed, *self.bandwidth_hz)
        low = tf.maximum(centre - width / 2.0, 1e-3) / self.sample_rate
        high = tf.minimum(centre + width / 2.0, nyquist - 1e-3) / self.sample_rate
        taps = tf.math.floor(uniform(band_shape, taps_seed, *map(float, self.fir_taps)))
        taps = tf.cast(tf.bitwise.bitwise_or(tf.cast(taps, tf.int32), 1), tf.float32)[..., None]
        n = tf.range(self._max_taps, dtype=tf.float32)
        offset = n - (taps - 1.0) / 2.0
        hamming = 0.54 - 0.46 * tf.cos(2.0 * np.pi * n / tf.maximum(taps - 1.0, 1.0))
        band_pass = 2.0 * high[..., None] * _sinc(2.0 * high[..., None] * offset) - 2.0 * low[..., None] * _sinc(
            2.0 * low[..., None] * offset)
        band_taps = tf.where(n < taps, hamming * band_pass, 0.0)  # (*shape, bands, max_taps)
        response = tf.reduce_prod(tf.signal.rfft(band_taps, fft_length=[self._response_length]), axis=-2)
        peak = tf.reduce_max(tf.abs(response), axis=-1, keepdims=True)
        gain = tf.math.pow(10.0, uniform(shape, gain_seed, gain_low, gain_high) / 20.0)[..., None]
        return tf.signal.irfft(response, fft_length=[self._response_length]) * gain / tf.maximum(peak, 1e-12)

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, lnl_seed, isd_seed, ssi_seed = self._seeds(seed, 4)
        batch, length = tf.shape(data)[0], data.shape[-1]
        transformation = {"apply": self._draw_apply(batch, apply_seed)}
        if "lnl" in self._steps:
            linear_seed, nonlinear_seed = tf.unstack(tf.random.experimental.stateless_split(lnl_seed, 2))
            linear = self._random_filters([batch, 1], *self.gain_db, linear_seed)
            low_gain = self.gain_db[0] - self.nonlinear_bias_db[0]
            high_gain = self.gain_db[1] - self.nonlinear_bias_db[1]
            nonlinear = self._random_filters([batch, self.lnl_orders - 1], low_gain, high_gain, nonlinear_seed)
            transformation["lnl_filters"] = tf.concat([linear, nonlinear], axis=1)  # (batch, orders, taps)
        if "isd" in self._steps:
            transformation["isd_noise"] = self._isd_noise(batch, length, isd_seed)
        if "ssi" in self._steps:
            noise_seed, filter_seed, snr_seed = tf.unstack(tf.random.experimental.stateless_split(ssi_seed, 3))
            white = tf.random.stateless_normal([batch, length], noise_seed)
            taps = self._random_filters([batch], *self.gain_db, filter_seed)
            transformation["ssi_noise"] = self._filter(white, taps)
            transformation["ssi_snr_db"] = uniform([batch], snr_seed, *self.snr_db)
        return transformation

    def _isd_noise(self, batch, length, seed):
        """(batch, samples) relative perturbation: isd_gain * u1 * u2 on the selected samples, else 0."""
        percent_seed, pick_seed, u1_seed, u2_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
        fraction = uniform([batch, 1], percent_seed, 0.0, self.isd_max_percent / 100.0)
        picked = uniform([batch, length], pick_seed) < fraction
        factor = uniform([batch, length], u1_seed, -1.0, 1.0) * uniform([batch, length], u2_seed, -1.0, 1.0)
        return tf.where(picked, self.isd_gain * factor, 0.0)

    def _filter(self, signals, taps):
        length = signals.shape[-1]
        fft_length = fast_fft_length(length + self._response_length - 1)
        spectrum = tf.signal.rfft(signals, fft_length=[fft_length]) * tf.signal.rfft(taps, fft_length=[fft_length])
        return tf.signal.irfft(spectrum, fft_length=[fft_length])[..., :length]

    def _lnl(self, x, filters):
        powers = tf.stack([x ** (k + 1) for k in range(self.lnl_orders)], axis=1)  # (batch, orders, samples)
        length = x.shape[-1]
        fft_length = fast_fft_length(length + self._response_length - 1)
        spectrum = tf.signal.rfft(powers, fft_length=[fft_length]) * tf.signal.rfft(filters, fft_length=[fft_length])
        y = tf.signal.irfft(tf.reduce_sum(spectrum, axis=1), fft_length=[fft_length])[:, :length]
        return _peak_normalise(y - tf.reduce_mean(y, axis=-1, keepdims=True))

    def _ssi(self, x, noise, snr_db):
        signal_norm = tf.norm(x, axis=-1, keepdims=True)
        noise_norm = tf.maximum(tf.norm(noise, axis=-1, keepdims=True), 1e-12)
        return x + noise / noise_norm * signal_norm / tf.math.pow(10.0, snr_db[:, None] / 20.0)

    def transform_inputs(self, inputs, transformation):
        x = tf.cast(inputs, tf.float32)
        y = x
        for step in self._steps:
            if step == "lnl":
                y = self._lnl(y, transformation["lnl_filters"])
            elif step == "isd":
                y = _peak_normalise(y + y * transformation["isd_noise"])
            else:
                y = self._ssi(y, transformation["ssi_noise"], transformation["ssi_snr_db"])
        return tf.cast(tf.where(transformation["apply"][:, None], y, x), inputs.dtype)  # (batch, samples)

    def get_config(self):
        config = super().get_config()
        config.update(algo=self.algo, sample_rate=self.sample_rate, lnl_orders=self.lnl_orders,
                      n_bands=self.n_bands, freq_hz=self.freq_hz, bandwidth_hz=self.bandwidth_hz,
                      fir_taps=self.fir_taps, gain_db=self.gain_db, nonlinear_bias_db=self.nonlinear_bias_db,
                      isd_max_percent=self.isd_max_percent, isd_gain=self.isd_gain, snr_db=self.snr_db)
        return config
