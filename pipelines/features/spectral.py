"""STFT-based feature layers: waveform (batch, samples) -> features (batch, time, bins), in `keras.ops` only.

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

Every layer computes in float32 whatever the dtype policy and returns the layer's compute dtype. Shapes are static
for a static input length; the layers compile with XLA and run inside `tf.data` maps under either backend.
"""

import math

import keras
import numpy as np

from pipelines.features import filterbanks
from pipelines.features.base import FeatureLayer

PAD_MODES = ("reflect", "constant", "edge")
# Above this many slices per frame, framing gathers with an index matrix instead (see `frame`).
_MAX_FRAME_SLICES = 64


def pad_both_sides(ops, x, width, mode):
    """(batch, samples) -> (batch, samples + 2 * width); mode as `numpy.pad`'s "reflect", "constant" or "edge"."""
    if mode == "edge":  # not every backend's pad has "edge": repeat the end samples
        return ops.concatenate([ops.repeat(x[:, :1], width, axis=1), x, ops.repeat(x[:, -1:], width, axis=1)],
                               axis=1)
    return ops.pad(x, [[0, 0], [width, width]], mode=mode)


def frame(ops, x, frame_length, hop_length):
    """(batch, samples) -> (batch, 1 + (samples - frame_length) // hop_length, frame_length), exactly.

    Frames are slices of the signal, never a convolution: `keras.ops.extract_sequences` is a patch convolution under
    JAX, which GPUs and TPUs run in TF32 / bfloat16 by default and which would round the waveform before the STFT.
    The signal is cut into blocks of gcd(frame_length, hop_length) samples and each frame is a strided run of blocks
    (what `tf.signal.frame` does); when that takes too many slices, an index matrix gathers the frames instead.
    A length unknown until run time (only in a TensorFlow graph) uses `extract_sequences` (`tf.signal.frame`).
    """
    samples = x.shape[-1]
    if samples is None:
        return ops.extract_sequences(x, frame_length, hop_length)
    frames = 1 + (samples - frame_length) // hop_length
    if frames < 1:
        raise ValueError(f"{samples} samples do not fill one frame of {frame_length}")
    block = math.gcd(frame_length, hop_length)
    blocks_per_frame, blocks_per_hop = frame_length // block, hop_length // block
    if blocks_per_frame > _MAX_FRAME_SLICES:
        index = np.arange(frames)[:, None] * hop_length + np.arange(frame_length)[None, :]
        return ops.take(x, index.astype(np.int32), axis=1)
    used = (frames - 1) * hop_length + frame_length
    blocks = ops.reshape(x[:, :used], (-1, used // block, block))  # (batch, blocks, block)
    last = blocks_per_hop * (frames - 1) + 1
    runs = [blocks[:, j:j + last:blocks_per_hop] for j in range(blocks_per_frame)]  # each (batch, frames, block)
    return ops.reshape(ops.stack(runs, axis=2), (-1, frames, frame_length))


def power_spectrum(ops, waveform, window, hop_length, center, pad_mode="reflect"):
    """|STFT|^2, (batch, samples) -> (batch, time, n_fft // 2 + 1) in float32; `window` is the (n_fft,) NumPy window."""
    n_fft = window.shape[0]
    x = ops.cast(waveform, "float32")
    if center:
        x = pad_both_sides(ops, x, n_fft // 2, pad_mode)
    frames = frame(ops, x, n_fft, hop_length) * window  # (batch, time, n_fft)
    real, imag = ops.rfft(frames)  # (batch, time, n_fft // 2 + 1)
    return ops.square(real) + ops.square(imag)


@keras.saving.register_keras_serializable(package="fakespeech")
class Waveform(FeatureLayer):
    """The raw waveform front end: the identity, so that every feature kind is a layer.

    Args:
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(Waveform()(np.zeros((2, 16000), "float32")).shape)
    (2, 16000)
    """

    def call(self, inputs):
        return self.ops.cast(inputs, self.compute_dtype)  # (batch, samples)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class STFTLayer(FeatureLayer):
    """Shared STFT front end (librosa framing, reflect padding); subclasses turn its power spectrum into features."""

    def __init__(self, sample_rate=16000, n_fft=512, win_length=400, hop_length=160, window="hann", center=True,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0 < win_length <= n_fft:
            raise ValueError(f"win_length must be in (0, n_fft={n_fft}], got {win_length}")
        if hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.window = window
        self.center = center
        self._window_np = filterbanks.window(window, win_length, n_fft)

    def _power_spectrum(self, waveform):
        return power_spectrum(self.ops, waveform, self._window_np, self.hop_length, self.center)

    def _output_bins(self):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else filterbanks.num_frames(samples, self.n_fft, self.hop_length,
                                                                     self.center)
        return (input_shape[0], frames, self._output_bins())

    def _check_fmax(self, fmin, fmax):
        fmax = self.sample_rate / 2.0 if fmax is None else fmax
        if not 0.0 <= fmin < fmax <= self.sample_rate / 2.0:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}")
        return fmax

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, n_fft=self.n_fft, win_length=self.win_length,
                      hop_length=self.hop_length, window=self.window, center=self.center)
        return config


class _LogSpectral(STFTLayer):
    """An STFT layer whose features are natural logs of |STFT| ** power (optionally clipped at max - top_db)."""

    def __init__(self, power=2.0, log_floor=1e-6, top_db=None, **kwargs):
        super().__init__(**kwargs)
        if log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {log_floor}")
        self.power = power
        self.log_floor = log_floor
        self.top_db = top_db

    def _magnitude_power(self, waveform):
        magnitude_sq = self._power_spectrum(waveform)  # (batch, time, freq)
        if self.power == 2.0:
            return magnitude_sq
        return self.ops.power(magnitude_sq, self.power / 2.0)

    def _log(self, x):
        ops = self.ops
        x = ops.log(ops.maximum(x, self.log_floor))
        if self.top_db is not None:
            # top_db is in decibels of power; x is a log of power ** (power / 2).
            span = self.top_db * math.log(10.0) / 10.0 * (self.power / 2.0)
            x = ops.maximum(x, ops.max(x, axis=(1, 2), keepdims=True) - span)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(power=self.power, log_floor=self.log_floor, top_db=self.top_db)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class LogSpectrogram(_LogSpectral):
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
    >>> tuple(LogSpectrogram(n_fft=512, hop_length=160)(np.zeros((2, 16000), "float32")).shape)
    (2, 101, 257)
    """

    def call(self, inputs):
        spectrum = self._magnitude_power(inputs)  # (batch, time, freq)
        return self.ops.cast(self._log(spectrum), self.compute_dtype)

    def _output_bins(self):
        return self.n_fft // 2 + 1


class _Filterbank(_LogSpectral):
    """A power spectrum through a fixed (freq, filters) filterbank, then the log."""

    def _filterbank(self):
        raise NotImplementedError

    def _log_filterbank_energies(self, inputs):
        spectrum = self._magnitude_power(inputs)  # (batch, time, freq)
        energies = self.ops.matmul(spectrum, self._filterbank())  # (batch, time, filters)
        return self._log(energies)


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
    >>> tuple(LogMelSpectrogram(n_mels=80)(np.zeros((2, 16000), "float32")).shape)
    (2, 101, 80)
    """

    def __init__(self, n_mels=80, fmin=0.0, fmax=None, **kwargs):
        super().__init__(**kwargs)
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        top = self._check_fmax(fmin, fmax)
        self._mel_np = filterbanks.mel_filterbank(self.sample_rate, self.n_fft, n_mels, fmin, top)

    def _filterbank(self):
        return self._mel_np

    def call(self, inputs):
        return self.ops.cast(self._log_filterbank_energies(inputs), self.compute_dtype)  # (batch, time, mel)

    def _output_bins(self):
        return self.n_mels

    def get_config(self):
        config = super().get_config()
        config.update(n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        return config


class _Cepstral(_Filterbank):
    """DCT-II (ortho) of log filterbank energies, with optional deltas and delta-deltas concatenated along bins."""

    # Set by each subclass: the constructor argument that counts its filters, and the function that makes them.
    FILTERS_ARGUMENT = None
    make_filterbank = None

    def __init__(self, filters, fmin=0.0, fmax=None, n_coefficients=20, deltas=False, delta_width=9, **kwargs):
        super().__init__(**kwargs)
        if delta_width < 3 or delta_width % 2 == 0:
            raise ValueError(f"delta_width must be odd and >= 3, got {delta_width}")
        self.n_coefficients = n_coefficients
        self.deltas = deltas
        self.delta_width = delta_width
        setattr(self, self.FILTERS_ARGUMENT, filters)
        self.fmin = fmin
        self.fmax = fmax
        top = self._check_fmax(fmin, fmax)
        self._filterbank_np = self.make_filterbank(self.sample_rate, self.n_fft, filters, fmin, top)

    def _filterbank(self):
        return self._filterbank_np

    def _n_filters(self):
        return getattr(self, self.FILTERS_ARGUMENT)

    def build(self, input_shape):
        samples = input_shape[-1]
        if self.deltas and samples is not None:
            frames = filterbanks.num_frames(samples, self.n_fft, self.hop_length, self.center)
            if frames < self.delta_width:
                raise ValueError(f"deltas need at least delta_width={self.delta_width} frames, got {frames}")
        if self.n_coefficients > self._n_filters():
            raise ValueError(f"n_coefficients={self.n_coefficients} exceeds the {self._n_filters()} filters")
        self._dct_np = filterbanks.dct_matrix(self._n_filters(), self.n_coefficients)

    def call(self, inputs):
        ops = self.ops
        cepstra = ops.matmul(self._log_filterbank_energies(inputs), self._dct_np)  # (batch, time, coeffs)
        if self.deltas:
            cepstra = ops.concatenate([cepstra, self._delta(cepstra, 1), self._delta(cepstra, 2)], axis=-1)
        return ops.cast(cepstra, self.compute_dtype)  # (batch, time, coeffs * (3 if deltas else 1))

    def _delta(self, x, order):
        ops = self.ops
        kernel = filterbanks.delta_kernel(self.delta_width, order)
        half = self.delta_width // 2
        frames = x.shape[1]
        interior = sum(float(w) * x[:, i:frames - 2 * half + i] for i, w in enumerate(kernel) if w != 0.0)
        head = ops.repeat(interior[:, :1], half, axis=1)
        tail = ops.repeat(interior[:, -1:], half, axis=1)
        return ops.concatenate([head, interior, tail], axis=1)

    def _output_bins(self):
        return self.n_coefficients * (3 if self.deltas else 1)

    def get_config(self):
        config = super().get_config()
        config.update({self.FILTERS_ARGUMENT: self._n_filters(), "fmin": self.fmin, "fmax": self.fmax,
                       "n_coefficients": self.n_coefficients, "deltas": self.deltas, "delta_width": self.delta_width})
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
    >>> tuple(MFCC(n_coefficients=20, deltas=True)(np.zeros((2, 16000), "float32")).shape)
    (2, 101, 60)
    """

    FILTERS_ARGUMENT = "n_mels"
    make_filterbank = staticmethod(filterbanks.mel_filterbank)

    def __init__(self, n_mels=80, fmin=0.0, fmax=None, **kwargs):
        super().__init__(n_mels, fmin, fmax, **kwargs)


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
    >>> tuple(LFCC(n_filters=20, n_coefficients=20, deltas=True)(np.zeros((2, 16000), "float32")).shape)
    (2, 101, 60)
    """

    FILTERS_ARGUMENT = "n_filters"
    make_filterbank = staticmethod(filterbanks.linear_filterbank)

    def __init__(self, n_filters=20, fmin=0.0, fmax=None, **kwargs):
        super().__init__(n_filters, fmin, fmax, **kwargs)
