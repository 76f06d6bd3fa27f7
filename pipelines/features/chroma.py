"""Chromagrams with librosa's `chroma_stft` semantics, and librosa's tuning estimate, in `keras.ops`.

`chromagram` is librosa's `chroma_stft` from a power spectrum: the `librosa.filters.chroma` filterbank (defaults
ctroct=5, octwidth=2, norm=2, base_c=True) applied to |STFT|^2, then each frame divided by its largest bin
(`norm=inf`; silent frames stay 0). librosa estimates the tuning of every signal it is given (`tuning=None`, its
default): `estimate_tuning` reproduces `librosa.estimate_tuning` (piptrack peaks between 150 Hz and 4 kHz above a
tenth of each frame's maximum, those at or above the median peak magnitude, a 0.01-bin histogram of their deviation
from equal temperament, its first peak) with static shapes, so it also runs under XLA and in tf.data. A fixed
tuning (the `chroma` feature kind uses 0) skips that and is one matrix product.
"""

import keras
import numpy as np

from pipelines.features import filterbanks
from pipelines.features.spectral import STFTLayer

# librosa.piptrack / estimate_tuning / pitch_tuning defaults.
PITCH_FMIN, PITCH_FMAX, PEAK_THRESHOLD = 150.0, 4000.0, 0.1
TUNING_RESOLUTION_BINS = 100  # resolution 0.01 over [-0.5, 0.5)
_TINY = float(np.finfo(np.float32).tiny)  # librosa.util.normalize's threshold for float32 input


def chroma_filterbank(xp, tuning, sample_rate, n_fft, n_chroma=12):
    """`librosa.filters.chroma(sr, n_fft, tuning=t, n_chroma)` for each t of `tuning`, (len(tuning), freq, n_chroma).

    `xp` is `numpy` (a fixed tuning, computed once in float64) or the layer's `keras.ops` (a tuning estimated per
    example, a (batch,) tensor); the function uses only names the two share.
    """
    dtype = np.float64 if xp is np else np.float32  # constants must not promote the tensors to float64
    positions, widths = filterbanks.chroma_octave_positions(sample_rate, n_fft, n_chroma)
    half = round(n_chroma / 2)
    # Distance of every FFT bin from every chroma bin, wrapped into [-half, n_chroma - half); the constant part is
    # wrapped in float64 here so the per-example shift only moves small numbers.
    distance = np.remainder(positions[None, :] - np.arange(n_chroma)[:, None] + half, n_chroma)  # (chroma, freq)
    shift = xp.reshape(tuning, (-1, 1, 1))
    distance = distance[None].astype(dtype) - shift
    widths, positions = widths.astype(dtype), positions.astype(dtype)
    distance = distance - n_chroma * xp.floor(distance / n_chroma) - half  # (batch, chroma, freq)
    weights = xp.exp(-0.5 * xp.square(2.0 * distance / widths))
    weights = weights / xp.sqrt(xp.sum(xp.square(weights), axis=1, keepdims=True))
    octave = (positions[None, None, :] - shift) / n_chroma
    weights = weights * xp.exp(-0.5 * xp.square((octave - 5.0) / 2.0))
    start = (3 * (n_chroma // 12)) % n_chroma  # base_c: the first chroma bin is C, not A
    weights = xp.concatenate([weights[:, start:], weights[:, :start]], axis=1)
    return xp.transpose(weights, (0, 2, 1))


def estimate_tuning(ops, power, sample_rate, n_fft, n_chroma=12):
    """`librosa.estimate_tuning(S=power, sr=sample_rate, n_fft=n_fft, bins_per_octave=n_chroma)` per example.

    Args:
        ops: `keras.ops` or the layer's `self.ops`.
        power: (batch, time, n_fft // 2 + 1) power spectrogram.

    Returns:
        (batch,) float32 tunings in fractions of a chroma bin, in [-0.5, 0.5); 0 where no peak is found.
    """
    pitch, magnitude, voiced = _spectral_peaks(ops, power, sample_rate, n_fft)  # (batch, peaks) each
    threshold = _masked_median(ops, magnitude, voiced)
    chosen = ops.logical_and(voiced, magnitude >= threshold[:, None])
    residual = n_chroma * ops.log2(ops.where(chosen, pitch, 27.5) / 27.5)  # 27.5 Hz = A0 at tuning 0
    residual = residual - ops.floor(residual)
    residual = ops.where(residual >= 0.5, residual - 1.0, residual)
    bins = ops.cast(ops.floor((residual + 0.5) * TUNING_RESOLUTION_BINS), "int32")
    bins = ops.clip(bins, 0, TUNING_RESOLUTION_BINS - 1)
    counts = _histogram(ops, bins, chosen, TUNING_RESOLUTION_BINS)  # (batch, bins)
    # The first fullest bin (np.argmax); TensorFlow's argmax does not promise which of tied maxima it returns.
    order = np.arange(TUNING_RESOLUTION_BINS - 1, -1, -1, dtype=np.int32)
    best = ops.argmax(counts * TUNING_RESOLUTION_BINS + order, axis=-1)
    edges = np.linspace(-0.5, 0.5, TUNING_RESOLUTION_BINS + 1).astype(np.float32)
    found = ops.any(chosen, axis=-1)
    return ops.where(found, ops.take(edges, best), 0.0)


def _spectral_peaks(ops, power, sample_rate, n_fft):
    """librosa.piptrack(S=power) restricted to its frequency range: pitch, magnitude and peak flag, (batch, n)."""
    frequencies = filterbanks.fft_frequencies(sample_rate, n_fft)
    in_range = np.flatnonzero((frequencies >= PITCH_FMIN) & (frequencies < min(PITCH_FMAX, sample_rate / 2.0)))
    low, high = int(in_range[0]), int(in_range[-1]) + 1  # low >= 1 and high < n_fft // 2: neighbours exist
    kept = power * ops.cast(power > PEAK_THRESHOLD * ops.max(power, axis=-1, keepdims=True), "float32")
    peak = ops.logical_and(kept[..., low:high] > kept[..., low - 1:high - 1],
                           kept[..., low:high] >= kept[..., low + 1:high + 1])
    centre, below, above = power[..., low:high], power[..., low - 1:high - 1], power[..., low + 1:high + 1]
    curvature = above + below - 2.0 * centre
    slope = (above - below) / 2.0  # also np.gradient's central difference
    inside = ops.abs(slope) < ops.abs(curvature)  # else the parabola's optimum is over a bin away: no shift
    shift = ops.where(inside, -slope / ops.where(inside, curvature, 1.0), 0.0)
    pitch = (np.arange(low, high, dtype=np.float32) + shift) * (sample_rate / n_fft)
    magnitude = centre + 0.5 * slope * shift
    voiced = ops.logical_and(peak, pitch > 0.0)
    flat = (-1, power.shape[1] * (high - low))
    return ops.reshape(pitch, flat), ops.reshape(magnitude, flat), ops.reshape(voiced, flat)


def _masked_median(ops, values, mask):
    """np.median(values[b][mask[b]]) per row b (the mean of the two middle values), 0 for an empty row."""
    ordered = ops.sort(ops.where(mask, values, np.inf), axis=-1)
    count = ops.sum(ops.cast(mask, "int32"), axis=-1, keepdims=True)
    last = values.shape[-1] - 1
    lower = ops.take_along_axis(ordered, ops.clip(ops.floor_divide(count - 1, 2), 0, last), axis=-1)
    upper = ops.take_along_axis(ordered, ops.clip(ops.floor_divide(count, 2), 0, last), axis=-1)
    return ops.where(count[:, 0] > 0, (lower[:, 0] + upper[:, 0]) / 2.0, 0.0)


def _histogram(ops, bins, mask, n_bins):
    """Counts of `bins[b][mask[b]]` in 0..n_bins-1 per row, (batch, n_bins): sort, then a binary search per edge
    (memory O(n), where comparing every entry with every bin would take a (batch, n, n_bins) tensor)."""
    keys = ops.sort(ops.where(mask, bins, n_bins), axis=-1)  # unmasked entries sort last
    below = _count_below(ops, keys, np.arange(n_bins + 1, dtype=np.int32))  # (batch, n_bins + 1)
    return below[:, 1:] - below[:, :-1]


def _count_below(ops, keys, queries):
    """Per row, how many of the ascending `keys` (batch, n) are < each of `queries` (q,): (batch, q) int32."""
    n = keys.shape[-1]
    low = ops.zeros_like(keys[:, :1]) + np.zeros(len(queries), np.int32)  # (batch, q)
    high = low + n
    for _ in range(int(np.ceil(np.log2(n + 1)))):
        middle = ops.floor_divide(low + high, 2)
        value = ops.take_along_axis(keys, ops.minimum(middle, n - 1), axis=-1)
        searching = low < high
        right = ops.logical_and(searching, value < queries)
        left = ops.logical_and(searching, ops.logical_not(right))
        low = ops.where(right, middle + 1, low)
        high = ops.where(left, middle, high)
    return low


def chromagram(ops, power, sample_rate, n_fft, n_chroma=12, tuning=0.0, filterbank=None):
    """librosa `chroma_stft(S=power, tuning=tuning, norm=inf)`, (batch, time, freq) -> (batch, time, n_chroma).

    `tuning=None` estimates it per example (librosa's default); `filterbank` is the precomputed
    `chroma_filterbank(numpy, [tuning], ...)[0]` for a fixed tuning.
    """
    if tuning is None:
        tunings = estimate_tuning(ops, power, sample_rate, n_fft, n_chroma)  # (batch,)
        raw = ops.matmul(power, ops.cast(chroma_filterbank(ops, tunings, sample_rate, n_fft, n_chroma), "float32"))
    else:
        if filterbank is None:
            filterbank = chroma_filterbank(np, np.array([tuning]), sample_rate, n_fft, n_chroma)[0]
        raw = ops.matmul(power, filterbank.astype(np.float32))  # (batch, time, chroma)
    peak = ops.max(raw, axis=-1, keepdims=True)
    return raw / ops.where(peak < _TINY, 1.0, peak)


@keras.saving.register_keras_serializable(package="fakespeech")
class Chroma(STFTLayer):
    """Chromagram of the power spectrum with librosa `chroma_stft` semantics, (batch, time, n_chroma), in [0, 1].

    The STFT is this package's (librosa framing, reflect padding when `center`); the filterbank and the per-frame
    max normalisation are librosa's. librosa estimates the tuning of each signal by default; here `tuning=0.0`
    (the `chroma` feature kind) is the default: every clip is read on the same grid and the layer is one matrix
    product. `tuning=None` estimates it per example as librosa does (see `estimate_tuning`).

    Args:
        sample_rate, n_fft, win_length, hop_length, window, center: as `LogSpectrogram`.
        n_chroma: number of chroma bins per octave.
        tuning: deviation from A440 in fractions of a chroma bin, or None to estimate it per example.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(Chroma(n_fft=512, hop_length=160)(np.zeros((2, 16000), "float32")).shape)
    (2, 101, 12)
    """

    def __init__(self, n_chroma=12, tuning=0.0, **kwargs):
        super().__init__(**kwargs)
        if n_chroma < 1:
            raise ValueError(f"n_chroma must be positive, got {n_chroma}")
        self.n_chroma = n_chroma
        self.tuning = tuning
        self._filterbank_np = None if tuning is None else chroma_filterbank(
            np, np.array([tuning]), self.sample_rate, self.n_fft, n_chroma)[0].astype(np.float32)

    def call(self, inputs):
        power = self._power_spectrum(inputs)  # (batch, time, freq)
        chroma = chromagram(self.ops, power, self.sample_rate, self.n_fft, self.n_chroma, self.tuning,
                            self._filterbank_np)
        return self.ops.cast(chroma, self.compute_dtype)  # (batch, time, chroma)

    def _output_bins(self):
        return self.n_chroma

    def get_config(self):
        config = super().get_config()
        config.update(n_chroma=self.n_chroma, tuning=self.tuning)
        return config
