"""In-graph audio features as Keras layers: waveform (batch, samples) -> features (batch, time, bins).

Every layer computes in float32 whatever the dtype policy (an STFT in bfloat16 loses most of its dynamic range) and
returns the layer's compute dtype. Shapes are static for a static input length, and every layer compiles with XLA and
runs inside `tf.data` maps.

Definitions, chosen to match librosa so tests can use it as the reference:
- Framing: frames of `n_fft` samples every `hop_length`; the `win_length` window is centred inside the frame and
  zero-padded to `n_fft` (librosa's convention, not `tf.signal.stft`'s left-aligned one). `center=True` reflect-pads
  `n_fft // 2` samples on both sides (librosa's `pad_mode="reflect"`; librosa >= 0.10 defaults to "constant").
- Windows are periodic ("fftbins") Hann or Hamming.
- Filterbanks are triangles with Hz-linear slopes between edge frequencies and no area normalisation: HTK mel edges
  (librosa `htk=True, norm=None`) for log-mel/MFCC, linearly spaced edges for LFCC.
- Logarithms are natural: `log(max(x, log_floor))`. `top_db` (decibels of power) clips each utterance at its maximum
  minus `top_db`, i.e. `librosa.power_to_db(S, ref=1, amin=log_floor, top_db=top_db) * ln(10) / 10` for `power=2`.
- Cepstra are the DCT-II with orthonormal scaling; MFCC is therefore librosa's `mfcc(S=log(mel))` (natural log,
  not dB: the two differ by the constant factor 10 / ln(10)).
- Deltas follow `librosa.feature.delta(width=delta_width, order=1|2, mode="interp")`, which are Savitzky-Golay
  derivatives; the "interp" edges equal the first/last interior value, which is what we replicate.
"""

import math

import keras
import numpy as np
import tensorflow as tf

WINDOWS = ("hann", "hamming")
FEATURE_KINDS = ("logmel", "mfcc", "lfcc", "spectrogram", "waveform")


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def triangular_filterbank(edges_hz, sample_rate, n_fft):
    """(n_fft // 2 + 1, len(edges_hz) - 2) triangles rising from edge i to i+1 and falling to i+2, peak 1."""
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = np.asarray(edges_hz, dtype=np.float64)
    widths = np.diff(edges)
    offsets = edges[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax):
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    return triangular_filterbank(edges, sample_rate, n_fft)


def linear_filterbank(sample_rate, n_fft, n_filters, fmin, fmax):
    return triangular_filterbank(np.linspace(fmin, fmax, n_filters + 2), sample_rate, n_fft)


def dct_matrix(n_inputs, n_outputs):
    """(n_inputs, n_outputs) orthonormal DCT-II: `x @ dct_matrix` == scipy.fft.dct(x, norm="ortho")[..., :n_outputs]."""
    n = np.arange(n_inputs)[:, None]
    k = np.arange(n_outputs)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_inputs)) * np.sqrt(2.0 / n_inputs)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def delta_kernel(width, order):
    """Savitzky-Golay derivative weights of `order` (1 or 2) over `width` frames (polynomial degree == order)."""
    n = np.arange(width) - width // 2
    if order == 1:
        return n / np.sum(n**2)
    centred = n**2 - np.mean(n**2)
    return 2.0 * centred / np.sum(centred**2)


def _window(name, win_length, n_fft):
    if name not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {name!r}")
    a0 = 0.5 if name == "hann" else 0.54
    window = a0 - (1.0 - a0) * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


def num_frames(num_samples, n_fft, hop_length, center):
    if center:
        return 1 + num_samples // hop_length
    if num_samples < n_fft:
        raise ValueError(f"num_samples={num_samples} is shorter than n_fft={n_fft} with center=False")
    return 1 + (num_samples - n_fft) // hop_length


@keras.saving.register_keras_serializable(package="fakespeech")
class Waveform(keras.layers.Layer):
    """The raw waveform front end: the identity, so that every feature kind is a layer.

    Args:
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> Waveform()(tf.zeros((2, 16000))).shape
    TensorShape([2, 16000])
    """

    def call(self, inputs):
        return tf.cast(inputs, self.compute_dtype)  # (batch, samples)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class _Spectral(keras.layers.Layer):
    """Shared STFT front end; subclasses turn the (batch, time, freq) power spectrum into their features."""

    def __init__(self, sample_rate=16000, n_fft=512, win_length=400, hop_length=160, window="hann", center=True,
                 power=2.0, log_floor=1e-6, top_db=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 < win_length <= n_fft:
            raise ValueError(f"win_length must be in (0, n_fft={n_fft}], got {win_length}")
        if hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        if log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {log_floor}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.window = window
        self.center = center
        self.power = power
        self.log_floor = log_floor
        self.top_db = top_db
        self._window_np = _window(window, win_length, n_fft)
        # The waveform must keep float32 precision under a mixed policy; we cast it ourselves.
        self.autocast = False

    def _power_spectrum(self, waveform):
        x = tf.cast(waveform, tf.float32)
        if self.center:
            pad = self.n_fft // 2
            x = tf.pad(x, [[0, 0], [pad, pad]], mode="REFLECT")
        frames = tf.signal.frame(x, self.n_fft, self.hop_length) * self._window_np  # (batch, time, n_fft)
        spectrum = tf.signal.rfft(frames)  # (batch, time, n_fft // 2 + 1)
        magnitude_sq = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
        if self.power == 2.0:
            return magnitude_sq
        return tf.math.pow(magnitude_sq, self.power / 2.0)

    def _log(self, x):
        x = tf.math.log(tf.math.maximum(x, self.log_floor))
        if self.top_db is not None:
            # top_db is in decibels of power; x is a log of power ** (power / 2).
            span = self.top_db * math.log(10.0) / 10.0 * (self.power / 2.0)
            x = tf.math.maximum(x, tf.reduce_max(x, axis=[1, 2], keepdims=True) - span)
        return x

    def _output_bins(self):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else num_frames(samples, self.n_fft, self.hop_length, self.center)
        return (input_shape[0], frames, self._output_bins())

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, n_fft=self.n_fft, win_length=self.win_length,
                      hop_length=self.hop_length, window=self.window, center=self.center, power=self.power,
                      log_floor=self.log_floor, top_db=self.top_db)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class LogSpectrogram(_Spectral):
    """Log linear-frequency spectrogram: `log(max(|STFT| ** power, log_floor))`, (batch, time, n_fft // 2 + 1).

    Args:
        sample_rate: sampling rate in Hz (kept for the config; the linear STFT does not depend on it).
        n_fft: FFT and frame length in samples.
        win_length: window length (<= n_fft), centred in the frame.
        hop_length: samples between frames.
        window: "hann" or "hamming" (periodic).
        center: reflect-pad n_fft // 2 samples on both sides, like librosa.
        power: exponent of the magnitude (2 = power, 1 = magnitude).
        log_floor: smallest value before the natural log.
        top_db: if set, clip each utterance at its maximum minus this many decibels.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> LogSpectrogram(n_fft=512, hop_length=160)(tf.zeros((2, 16000))).shape
    TensorShape([2, 101, 257])
    """

    def call(self, inputs):
        spectrum = self._power_spectrum(inputs)  # (batch, time, freq)
        return tf.cast(self._log(spectrum), self.compute_dtype)

    def _output_bins(self):
        return self.n_fft // 2 + 1


class _Filterbank(_Spectral):
    """A power spectrum through a fixed (freq, filters) filterbank, then the log."""

    def _filterbank(self):
        raise NotImplementedError

    def _log_filterbank_energies(self, inputs):
        spectrum = self._power_spectrum(inputs)  # (batch, time, freq)
        energies = tf.linalg.matmul(spectrum, self._filterbank())  # (batch, time, filters)
        return self._log(energies)

    def _check_fmax(self, fmin, fmax):
        fmax = self.sample_rate / 2.0 if fmax is None else fmax
        if not 0.0 <= fmin < fmax <= self.sample_rate / 2.0:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}")
        return fmax


@keras.saving.register_keras_serializable(package="fakespeech")
class LogMelSpectrogram(_Filterbank):
    """Natural-log mel spectrogram (HTK mel scale, unnormalised triangles), (batch, time, n_mels).

    Args:
        sample_rate, n_fft, win_length, hop_length, window, center, power, log_floor, top_db: as `LogSpectrogram`.
        n_mels: number of mel filters.
        fmin: lowest filter edge in Hz.
        fmax: highest filter edge in Hz (None: sample_rate / 2).
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> LogMelSpectrogram(n_mels=80)(tf.zeros((2, 16000))).shape
    TensorShape([2, 101, 80])
    """

    def __init__(self, n_mels=80, fmin=0.0, fmax=None, **kwargs):
        super().__init__(**kwargs)
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        top = self._check_fmax(fmin, fmax)
        self._mel_np = mel_filterbank(self.sample_rate, self.n_fft, n_mels, fmin, top)

    def _filterbank(self):
        return self._mel_np

    def call(self, inputs):
        return tf.cast(self._log_filterbank_energies(inputs), self.compute_dtype)  # (batch, time, mel)

    def _output_bins(self):
        return self.n_mels

    def get_config(self):
        config = super().get_config()
        config.update(n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        return config


class _Cepstral(_Filterbank):
    """DCT-II (ortho) of log filterbank energies, with optional deltas and delta-deltas concatenated along bins."""

    def __init__(self, n_coefficients=20, deltas=False, delta_width=9, **kwargs):
        super().__init__(**kwargs)
        if delta_width < 3 or delta_width % 2 == 0:
            raise ValueError(f"delta_width must be odd and >= 3, got {delta_width}")
        self.n_coefficients = n_coefficients
        self.deltas = deltas
        self.delta_width = delta_width

    def _n_filters(self):
        raise NotImplementedError

    def build(self, input_shape):
        samples = input_shape[-1]
        if self.deltas and samples is not None:
            frames = num_frames(samples, self.n_fft, self.hop_length, self.center)
            if frames < self.delta_width:
                raise ValueError(f"deltas need at least delta_width={self.delta_width} frames, got {frames}")
        if self.n_coefficients > self._n_filters():
            raise ValueError(f"n_coefficients={self.n_coefficients} exceeds the {self._n_filters()} filters")
        self._dct_np = dct_matrix(self._n_filters(), self.n_coefficients)

    def call(self, inputs):
        cepstra = tf.linalg.matmul(self._log_filterbank_energies(inputs), self._dct_np)  # (batch, time, coeffs)
        if self.deltas:
            cepstra = tf.concat([cepstra, self._delta(cepstra, 1), self._delta(cepstra, 2)], axis=-1)
        return tf.cast(cepstra, self.compute_dtype)  # (batch, time, coeffs * (3 if deltas else 1))

    def _delta(self, x, order):
        kernel = delta_kernel(self.delta_width, order)
        half = self.delta_width // 2
        frames = x.shape[1]
        interior = sum(float(w) * x[:, i:frames - 2 * half + i] for i, w in enumerate(kernel) if w != 0.0)
        head = tf.repeat(interior[:, :1], half, axis=1)
        tail = tf.repeat(interior[:, -1:], half, axis=1)
        return tf.concat([head, interior, tail], axis=1)

    def _output_bins(self):
        return self.n_coefficients * (3 if self.deltas else 1)

    def get_config(self):
        config = super().get_config()
        config.update(n_coefficients=self.n_coefficients, deltas=self.deltas, delta_width=self.delta_width)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class MFCC(_Cepstral):
    """MFCC: orthonormal DCT-II of the natural-log HTK mel spectrogram, (batch, time, n_coefficients [* 3]).

    Args:
        sample_rate, n_fft, win_length, hop_length, window, center, power, log_floor, top_db: as `LogSpectrogram`.
        n_mels, fmin, fmax: the mel filterbank, as `LogMelSpectrogram`.
        n_coefficients: cepstral coefficients kept (including c0).
        deltas: append librosa-style deltas and delta-deltas along bins.
        delta_width: odd number of frames of the delta filter.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> MFCC(n_coefficients=20, deltas=True)(tf.zeros((2, 16000))).shape
    TensorShape([2, 101, 60])
    """

    def __init__(self, n_mels=80, fmin=0.0, fmax=None, **kwargs):
        super().__init__(**kwargs)
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        top = self._check_fmax(fmin, fmax)
        self._mel_np = mel_filterbank(self.sample_rate, self.n_fft, n_mels, fmin, top)

    def _filterbank(self):
        return self._mel_np

    def _n_filters(self):
        return self.n_mels

    def get_config(self):
        config = super().get_config()
        config.update(n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class LFCC(_Cepstral):
    """LFCC as in the ASVspoof 2019/2021 baselines: linear triangular filterbank on the power spectrum, log, DCT-II.

    Args:
        sample_rate, n_fft, win_length, hop_length, window, center, power, log_floor, top_db: as `LogSpectrogram`.
        n_filters: number of linearly spaced triangular filters.
        fmin: lowest filter edge in Hz.
        fmax: highest filter edge in Hz (None: sample_rate / 2).
        n_coefficients, deltas, delta_width: as `MFCC`.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> LFCC(n_filters=20, n_coefficients=20, deltas=True)(tf.zeros((2, 16000))).shape
    TensorShape([2, 101, 60])
    """

    def __init__(self, n_filters=20, fmin=0.0, fmax=None, **kwargs):
        super().__init__(**kwargs)
        self.n_filters = n_filters
        self.fmin = fmin
        self.fmax = fmax
        top = self._check_fmax(fmin, fmax)
        self._linear_np = linear_filterbank(self.sample_rate, self.n_fft, n_filters, fmin, top)

    def _filterbank(self):
        return self._linear_np

    def _n_filters(self):
        return self.n_filters

    def get_config(self):
        config = super().get_config()
        config.update(n_filters=self.n_filters, fmin=self.fmin, fmax=self.fmax)
        return config


def _stft_kwargs(cfg):
    return dict(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
                window=cfg.window, center=cfg.center, power=cfg.power, log_floor=cfg.log_floor, top_db=cfg.top_db)


def build_feature_layer(cfg, name="features"):
    """The feature layer that `cfg` (a `pipelines.config.FeatureConfig`) describes."""
    stft = _stft_kwargs(cfg)
    if cfg.kind == "waveform":
        return Waveform(name=name)
    if cfg.kind == "spectrogram":
        return LogSpectrogram(name=name, **stft)
    if cfg.kind == "logmel":
        return LogMelSpectrogram(n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, name=name, **stft)
    if cfg.kind == "mfcc":
        return MFCC(n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, n_coefficients=cfg.n_coefficients,
                    deltas=cfg.deltas, name=name, **stft)
    if cfg.kind == "lfcc":
        return LFCC(n_filters=cfg.n_filters, fmin=cfg.fmin, fmax=cfg.fmax, n_coefficients=cfg.n_coefficients,
                    deltas=cfg.deltas, name=name, **stft)
    raise ValueError(f"FeatureConfig.kind must be one of {FEATURE_KINDS}, got {cfg.kind!r}")


def feature_output_shape(cfg, num_samples):
    """Static output shape of `build_feature_layer(cfg)` for clips of `num_samples`, without the batch axis."""
    return tuple(build_feature_layer(cfg).compute_output_shape((None, num_samples))[1:])
