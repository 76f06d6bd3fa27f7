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

from augment.base import RandomAugmentation, normal, uniform
from augment.dsp import causal_filter, complex_multiply, fft_convolve, fft_size, signal_length

STEPS = ("lnl", "isd", "ssi")


def parse_algo(algo):
    steps = tuple(step.strip() for step in algo.lower().split("+") if step.strip())
    unknown = [step for step in steps if step not in STEPS]
    if not steps or unknown or len(set(steps)) != len(steps):
        raise ValueError(f"RawBoost: algo must join distinct steps of {STEPS} with '+', got {algo!r}")
    return steps


def _sinc(ops, x):
    safe = ops.numpy.where(x == 0.0, 1.0, x)
    return ops.numpy.where(x == 0.0, 1.0, ops.numpy.sin(np.pi * safe) / (np.pi * safe))


def _peak_normalise(ops, x):
    """RawBoost's normWav(x, 0): divide by the peak only when it exceeds 1."""
    return x / ops.numpy.maximum(ops.numpy.max(ops.numpy.abs(x), axis=-1, keepdims=True), 1.0)


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
    >>> x = 0.1 * np.random.default_rng(0).standard_normal((2, 16000)).astype("float32")
    >>> tuple(RawBoost(algo="lnl+isd+ssi", seed=0)(x, training=True).shape)
    (2, 16000)
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
        """(*shape, response_length) random multi-band FIR taps (RawBoost's genNotchCoeffs).

        The gain bounds in dB may be arrays broadcastable to `shape` (one range per filter).
        """
        ops = self.backend
        band_shape = (*shape, self.n_bands)
        nyquist = self.sample_rate / 2.0
        centre = uniform(ops, band_shape, seed, *self.freq_hz)
        width = uniform(ops, band_shape, seed, *self.bandwidth_hz)
        low = ops.numpy.maximum(centre - width / 2.0, 1e-3)[..., None] / self.sample_rate
        high = ops.numpy.minimum(centre + width / 2.0, nyquist - 1e-3)[..., None] / self.sample_rate
        taps = ops.numpy.floor(uniform(ops, band_shape, seed, *map(float, self.fir_taps)))
        taps = (taps + 1.0 - ops.numpy.mod(taps, 2.0))[..., None]  # even lengths rounded up to odd
        n = ops.cast(ops.numpy.arange(self._max_taps), "float32")
        offset = n - (taps - 1.0) / 2.0
        hamming = 0.54 - 0.46 * ops.numpy.cos(2.0 * np.pi * n / ops.numpy.maximum(taps - 1.0, 1.0))
        band_pass = 2.0 * high * _sinc(ops, 2.0 * high * offset) - 2.0 * low * _sinc(ops, 2.0 * low * offset)
        band_taps = ops.numpy.where(n < taps, hamming * band_pass, 0.0)  # (*shape, bands, max_taps)
        real, imag = ops.math.rfft(band_taps, self._response_length)
        response = (real[..., 0, :], imag[..., 0, :])
        for band in range(1, self.n_bands):  # the cascade: product of the band responses
            response = complex_multiply(response, (real[..., band, :], imag[..., band, :]))
        magnitude = ops.numpy.sqrt(response[0] ** 2 + response[1] ** 2)
        peak = ops.numpy.max(magnitude, axis=-1, keepdims=True)
        gain_low = ops.convert_to_tensor(np.asarray(gain_low, np.float32))
        gain_high = ops.convert_to_tensor(np.asarray(gain_high, np.float32))
        gain_db = gain_low + (gain_high - gain_low) * uniform(ops, shape, seed)
        gain = ops.numpy.power(10.0, gain_db / 20.0)[..., None]
        return ops.math.irfft(response, self._response_length) * gain / ops.numpy.maximum(peak, 1e-12)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch, length = ops.shape(data)[0], signal_length(ops, data)
        transformation = {"apply": self._draw_apply(batch, seed)}
        # Every random filter (LnL's, one per order, then SSI's) is designed in one go: one gain range per filter.
        low, high = [], []
        if "lnl" in self._steps:
            nonlinear = (self.gain_db[0] - self.nonlinear_bias_db[0], self.gain_db[1] - self.nonlinear_bias_db[1])
            low += [self.gain_db[0]] + [nonlinear[0]] * (self.lnl_orders - 1)
            high += [self.gain_db[1]] + [nonlinear[1]] * (self.lnl_orders - 1)
        if "ssi" in self._steps:
            low, high = low + [self.gain_db[0]], high + [self.gain_db[1]]
        filters = self._random_filters((batch, len(low)), low, high, seed) if low else None  # (batch, filters, taps)
        if "lnl" in self._steps:
            transformation["lnl_filters"] = filters[:, :self.lnl_orders]  # (batch, orders, taps)
        if "isd" in self._steps:
            transformation["isd_noise"] = self._isd_noise(batch, length, seed)
        if "ssi" in self._steps:
            white = normal(ops, (batch, length), seed)
            transformation["ssi_noise"] = causal_filter(ops, white, filters[:, -1])
            transformation["ssi_snr_db"] = uniform(ops, (batch,), seed, *self.snr_db)
        return transformation

    def _isd_noise(self, batch, length, seed):
        """(batch, samples) relative perturbation: isd_gain * u1 * u2 on the selected samples, else 0."""
        ops = self.backend
        fraction = uniform(ops, (batch, 1), seed, 0.0, self.isd_max_percent / 100.0)
        picked = uniform(ops, (batch, length), seed) < fraction
        factor = uniform(ops, (batch, length), seed, -1.0, 1.0) * uniform(ops, (batch, length), seed, -1.0, 1.0)
        return ops.numpy.where(picked, self.isd_gain * factor, 0.0)

    def _lnl(self, x, filters):
        ops = self.backend
        powers = ops.numpy.stack([x ** (k + 1) for k in range(self.lnl_orders)], axis=1)  # (batch, orders, samples)
        length = signal_length(ops, x)
        fft_length = fft_size(ops, length + self._response_length - 1)
        y = ops.numpy.sum(fft_convolve(ops, powers, ops.cast(filters, "float32"), fft_length), axis=1)[:, :length]
        return _peak_normalise(ops, y - ops.numpy.mean(y, axis=-1, keepdims=True))

    def _ssi(self, x, noise, snr_db):
        ops = self.backend
        signal_norm = ops.numpy.sqrt(ops.numpy.sum(x**2, axis=-1, keepdims=True))
        noise_norm = ops.numpy.maximum(ops.numpy.sqrt(ops.numpy.sum(noise**2, axis=-1, keepdims=True)), 1e-12)
        return x + noise / noise_norm * signal_norm / ops.numpy.power(10.0, snr_db[:, None] / 20.0)

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        y = x
        for step in self._steps:
            if step == "lnl":
                y = self._lnl(y, transformation["lnl_filters"])
            elif step == "isd":
                y = _peak_normalise(ops, y + y * ops.cast(transformation["isd_noise"], "float32"))
            else:
                noise = ops.cast(transformation["ssi_noise"], "float32")
                y = self._ssi(y, noise, ops.cast(transformation["ssi_snr_db"], "float32"))
        return ops.numpy.where(transformation["apply"][:, None], y, x)  # (batch, samples)

