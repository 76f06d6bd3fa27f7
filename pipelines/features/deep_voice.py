"""The DEEP-VOICE feature table (Bird & Lotfi 2023) computed in the graph: 26 numbers per one-second window.

DEEP-VOICE's `DATASET-balanced.csv` has one row per one-second window of audio: the mean over the window's frames of
librosa's chroma_stft, rms, spectral_centroid, spectral_bandwidth, spectral_rolloff and zero_crossing_rate, and
of mfcc 1..20, each called with librosa's default parameters. `DeepVoiceFeatures` reproduces librosa 0.11's
defaults exactly:

- Frames: n_fft = frame_length = 2048 samples every 512, centred: the STFT (periodic Hann window) and rms pad each
  window with 1024 zeros on both sides (`pad_mode="constant"`), zero_crossing_rate repeats its end samples ("edge").
- chroma_stft: |STFT|^2 through `librosa.filters.chroma` (12 bins) with the tuning estimated from the window
  (`tuning=None`), each frame divided by its maximum; the column is the mean over the 12 bins and all frames.
- rms: sqrt of the mean square of each raw (unwindowed) frame.
- spectral_centroid / spectral_bandwidth (p=2) / spectral_rolloff (roll_percent=0.85): of the magnitude |STFT|,
  each frame normalised to sum 1 (silent frames give 0).
- zero_crossing_rate: sign changes between neighbouring samples of a frame (|x| <= 1e-10 counts as positive zero)
  divided by the frame length.
- mfcc: the orthonormal DCT-II (first 20) of `power_to_db` (amin 1e-10, top_db 80 below the window's maximum) of
  the 128-band Slaney mel spectrogram (`htk=False, norm="slaney"`, 0 Hz to sample_rate / 2) of |STFT|^2.

Neither the paper (arXiv 2308.12734) nor the dataset page we could read states the sample rate the audio was loaded
at or how the windows were cut. We assume librosa's defaults there too: `librosa.load(path)` (mono, resampled to
22050 Hz) and consecutive non-overlapping one-second windows, a trailing partial window dropped; the per-window
means above are the `np.mean` of each feature matrix, the common recipe that yields exactly these column names.
Both the sample rate and the window hop are arguments.

Agreement with librosa 0.11, measured on the 2,957 one-second windows of ../shared/realdev resampled to 22050 Hz
(largest error per column): chroma_stft 5.8e-3 (6 windows where the tuning estimate lands one 0.01 histogram bin
away; 2e-7 elsewhere), rms 6e-8, spectral_centroid 1.9e-6 relative, spectral_bandwidth 5.3e-6 relative, rolloff
1.3e-4 relative (one frame's cumulative sum crossing 85 % one FFT bin earlier or later), zero_crossing_rate 3e-8,
mfcc1..20 7.3e-4 dB. tests/pipelines/features/test_deep_voice.py asserts the tolerances in the class docstring.
"""

import keras
import numpy as np

from pipelines.features import filterbanks
from pipelines.features.base import FeatureLayer
from pipelines.features.chroma import chromagram
from pipelines.features.spectral import frame, pad_both_sides, power_spectrum

DEEP_VOICE_COLUMNS = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                      "zero_crossing_rate") + tuple(f"mfcc{i}" for i in range(1, 21))
DEEP_VOICE_SAMPLE_RATE = 22050  # librosa.load's default (assumed, see the module docstring)

# librosa 0.11's defaults for every feature of the table.
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
N_MFCC = 20
ROLL_PERCENT = 0.85
DB_AMIN = 1e-10
TOP_DB = 80.0
ZERO_THRESHOLD = 1e-10

_TINY = float(np.finfo(np.float32).tiny)  # librosa.util.normalize's threshold for float32 input


@keras.saving.register_keras_serializable(package="fakespeech")
class DeepVoiceFeatures(FeatureLayer):
    """DEEP-VOICE's 26 features (librosa defaults) per window: (batch, samples) -> (batch, windows, 26).

    Columns in `DEEP_VOICE_COLUMNS` order: chroma_stft, rms, spectral_centroid, spectral_bandwidth, rolloff,
    zero_crossing_rate, mfcc1..mfcc20, each the mean over the window's 2048/512 frames. Windows are cut from the
    input every `hop_samples` and each is analysed on its own, padded at its own edges as librosa pads a signal.

    Tolerances against librosa 0.11 (asserted by the tests; measured errors in the module docstring): relative
    1e-5 for spectral_centroid, 2e-5 for spectral_bandwidth, 1e-3 for rolloff; absolute 1e-6 for rms and
    zero_crossing_rate, 2e-3 dB for mfcc1..20, 1e-2 for chroma_stft (median error below 1e-5).

    Args:
        sample_rate: sampling rate in Hz of the input (22050: librosa.load's default, assumed for DEEP-VOICE).
        window_samples: samples per window (None: one second, `sample_rate`).
        hop_samples: samples between window starts (None: `window_samples`, non-overlapping).
        single_window: the input is exactly one window and the output is (batch, 26), the vector `dnn` takes.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(DeepVoiceFeatures()(np.zeros((2, 3 * 22050), "float32")).shape)
    (2, 3, 26)
    """

    def __init__(self, sample_rate=DEEP_VOICE_SAMPLE_RATE, window_samples=None, hop_samples=None,
                 single_window=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("sample_rate", sample_rate), ("window_samples", window_samples),
                            ("hop_samples", hop_samples)):
            if value is not None and value <= 0:
                raise ValueError(f"DeepVoiceFeatures: {name} must be positive, got {value}")
        self.sample_rate = sample_rate
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.single_window = single_window
        self._window = int(window_samples or sample_rate)
        self._hop = int(hop_samples or self._window)
        self._hann = filterbanks.window("hann", N_FFT, N_FFT)
        self._frequencies = filterbanks.fft_frequencies(sample_rate, N_FFT).astype(np.float32)
        self._mel = filterbanks.mel_filterbank(sample_rate, N_FFT, N_MELS, 0.0, sample_rate / 2.0, slaney=True)
        self._dct = filterbanks.dct_matrix(N_MELS, N_MFCC)

    def _num_windows(self, samples):
        if self.single_window:
            if samples != self._window:
                raise ValueError(f"DeepVoiceFeatures(single_window=True) takes exactly one window of "
                                 f"{self._window} samples, got {samples}")
            return 1
        if samples < self._window:
            raise ValueError(f"DeepVoiceFeatures: {samples} samples are shorter than one window of {self._window}")
        return 1 + (samples - self._window) // self._hop

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("DeepVoiceFeatures needs a static number of samples")
        self._num_windows(input_shape[-1])

    def call(self, inputs):
        ops = self.ops
        x = ops.cast(inputs, "float32")  # (batch, samples)
        windows = self._num_windows(x.shape[-1])
        if not self.single_window:
            x = ops.reshape(frame(ops, x, self._window, self._hop), (-1, self._window))  # (batch * windows, samples)
        table = self._window_features(x)  # (batch * windows, 26)
        if not self.single_window:
            table = ops.reshape(table, (-1, windows, len(DEEP_VOICE_COLUMNS)))  # (batch, windows, 26)
        return ops.cast(table, self.compute_dtype)

    def _window_features(self, y):
        ops = self.ops
        power = power_spectrum(ops, y, self._hann, HOP_LENGTH, center=True, pad_mode="constant")  # (n, time, freq)
        magnitude = ops.sqrt(power)
        chroma = chromagram(ops, power, self.sample_rate, N_FFT, tuning=None)  # (n, time, 12)
        centroid, bandwidth = self._centroid_bandwidth(magnitude)  # (n, time) each
        columns = [ops.mean(chroma, axis=(1, 2)), ops.mean(self._rms(y), axis=1), ops.mean(centroid, axis=1),
                   ops.mean(bandwidth, axis=1), ops.mean(self._rolloff(magnitude), axis=1),
                   ops.mean(self._zero_crossing_rate(y), axis=1)]
        mfcc = ops.mean(self._mfcc(power), axis=1)  # (n, 20)
        return ops.concatenate([ops.stack(columns, axis=-1), mfcc], axis=-1)

    def _rms(self, y):
        ops = self.ops
        frames = frame(ops, pad_both_sides(ops, y, N_FFT // 2, "constant"), N_FFT, HOP_LENGTH)  # (n, time, 2048)
        return ops.sqrt(ops.mean(ops.square(frames), axis=-1))

    def _centroid_bandwidth(self, magnitude):
        ops = self.ops
        total = ops.sum(magnitude, axis=-1, keepdims=True)
        weights = magnitude / ops.where(total < _TINY, 1.0, total)  # (n, time, freq), each frame sums to 1 (or 0)
        centroid = ops.sum(weights * self._frequencies, axis=-1)
        deviation = self._frequencies - centroid[..., None]
        return centroid, ops.sqrt(ops.sum(weights * ops.square(deviation), axis=-1))

    def _rolloff(self, magnitude):
        ops = self.ops
        cumulative = ops.cumsum(magnitude, axis=-1)  # (n, time, freq)
        reached = cumulative >= ROLL_PERCENT * cumulative[..., -1:]
        return ops.min(ops.where(reached, self._frequencies, np.inf), axis=-1)

    def _zero_crossing_rate(self, y):
        ops = self.ops
        frames = frame(ops, pad_both_sides(ops, y, N_FFT // 2, "edge"), N_FFT, HOP_LENGTH)  # (n, time, 2048)
        negative = frames < -ZERO_THRESHOLD
        changes = ops.not_equal(negative[..., 1:], negative[..., :-1])
        return ops.sum(ops.cast(changes, "float32"), axis=-1) / N_FFT

    def _mfcc(self, power):
        ops = self.ops
        decibels = 10.0 * ops.log10(ops.maximum(ops.matmul(power, self._mel), DB_AMIN))  # (n, time, mel)
        decibels = ops.maximum(decibels, ops.max(decibels, axis=(1, 2), keepdims=True) - TOP_DB)
        return ops.matmul(decibels, self._dct)  # (n, time, 20)

    def compute_output_shape(self, input_shape):
        if self.single_window:
            return (input_shape[0], len(DEEP_VOICE_COLUMNS))
        windows = None if input_shape[-1] is None else self._num_windows(input_shape[-1])
        return (input_shape[0], windows, len(DEEP_VOICE_COLUMNS))

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, window_samples=self.window_samples,
                      hop_samples=self.hop_samples, single_window=self.single_window)
        return config
