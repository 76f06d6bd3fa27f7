"""The acoustic environment from recordings in a user's folder: room reverberation and background noise.

- `AddReverb` convolves each waveform with an impulse response from an RIR folder.
- `AddBackgroundNoise` adds a segment of a noise recording (e.g. MUSAN noise) at a random SNR.

The recordings are read once, when the layer is built (augment.banks), and held as one constant array; the layer's
config stores the folder, not the audio, so a saved model stays small and rereads the folder when loaded.
"""

import keras
import numpy as np

from augment.banks import load_folder, stack
from augment.base import RandomAugmentation, check_range, uniform, uniform_int
from augment.dsp import causal_filter, power, signal_length


def _aligned_impulse_response(rir):
    """The response from its direct path (largest magnitude) on, with unit energy: reverberating with it does not
    delay the clip."""
    direct = int(np.argmax(np.abs(rir)))
    aligned = rir[direct:]
    return aligned / max(float(np.sqrt(np.sum(aligned**2))), 1e-12)


@keras.saving.register_keras_serializable(package="fakespeech")
class AddReverb(RandomAugmentation):
    """Reverberation: each waveform convolved with an impulse response drawn uniformly from `rir_folder`.

    Each response is cut to `max_seconds`, shifted so that its direct path (largest magnitude) is at lag 0 and
    scaled to unit energy; the reverberant clip keeps the input's length (the tail past it is dropped) and is
    rescaled to the input's mean power. The transformation holds `index` (batch,) and `rir` (batch, taps), the
    response actually used.

    Args:
        rir_folder: folder of impulse-response audio files (searched recursively).
        sample_rate: sampling rate in Hz; responses at other rates are resampled.
        max_files: at most this many files are read (in sorted path order).
        max_seconds: each response is cut to this length.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Attributes:
        files: the files read, in bank order.
        impulse_responses: (files, taps) float32, aligned and normalised, zero-padded to the longest.

    Example:
    >>> layer = AddReverb(rir_folder="rirs/", sample_rate=16000, seed=0)  # doctest: +SKIP
    >>> tuple(layer(np.zeros((4, 16000), "float32"), training=True).shape)  # doctest: +SKIP
    (4, 16000)
    """

    def __init__(self, rir_folder, sample_rate=16000, max_files=200, max_seconds=1.0, probability=1.0, seed=None,
                 **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.rir_folder = str(rir_folder)
        self.sample_rate = int(sample_rate)
        self.max_files = int(max_files)
        self.max_seconds = float(max_seconds)
        bank = load_folder(rir_folder, "rir_folder", self.sample_rate, self.max_files, self.max_seconds)
        self.files = tuple(str(path) for path, _ in bank)
        self.impulse_responses, _ = stack([_aligned_impulse_response(audio) for _, audio in bank])

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch = ops.shape(data)[0]
        apply = self._draw_apply(batch, seed)
        index = uniform_int(ops, (batch,), seed, 0, len(self.impulse_responses) - 1)
        rir = ops.numpy.take(ops.convert_to_tensor(self.impulse_responses), index, axis=0)
        return {"apply": apply, "index": index, "rir": rir}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        wet = causal_filter(ops, x, ops.cast(transformation["rir"], "float32"))
        wet = wet * ops.numpy.sqrt(power(ops, x) / ops.numpy.maximum(power(ops, wet), 1e-12))[:, None]
        return ops.numpy.where(transformation["apply"][:, None], wet, x)  # (batch, samples)


@keras.saving.register_keras_serializable(package="fakespeech")
class AddBackgroundNoise(RandomAugmentation):
    """Adds a segment of a recording from `noise_folder` at a signal-to-noise ratio drawn uniformly in `snr_db`.

    The recording is drawn uniformly among the files, the segment start uniformly within it; a recording shorter
    than the clip is looped. The SNR is measured against each waveform's own mean power (silent waveforms stay
    silent). The transformation holds `index` (batch,), `snr_db` (batch,) and `noise` (batch, samples), the
    segment before scaling.

    Args:
        noise_folder: folder of noise audio files (searched recursively), e.g. MUSAN's `noise/`.
        sample_rate: sampling rate in Hz; recordings at other rates are resampled.
        snr_db: (low, high) range of the SNR in dB.
        max_files: at most this many files are read (in sorted path order).
        max_seconds: only the first `max_seconds` of each file are kept.
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Attributes:
        files: the files read, in bank order.
        recordings: (files, samples) float32 at `sample_rate`, zero-padded to the longest.
        lengths: (files,) int32 length of each recording.

    Example:
    >>> layer = AddBackgroundNoise(noise_folder="musan/noise", snr_db=(5.0, 20.0), seed=0)  # doctest: +SKIP
    >>> tuple(layer(np.zeros((4, 16000), "float32"), training=True).shape)  # doctest: +SKIP
    (4, 16000)
    """

    def __init__(self, noise_folder, sample_rate=16000, snr_db=(0.0, 20.0), max_files=100, max_seconds=10.0,
                 probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.noise_folder = str(noise_folder)
        self.sample_rate = int(sample_rate)
        self.snr_db = check_range("AddBackgroundNoise", "snr_db", snr_db)
        self.max_files = int(max_files)
        self.max_seconds = float(max_seconds)
        bank = load_folder(noise_folder, "noise_folder", self.sample_rate, self.max_files, self.max_seconds)
        self.files = tuple(str(path) for path, _ in bank)
        self.recordings, self.lengths = stack([audio for _, audio in bank])

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch, length = ops.shape(data)[0], signal_length(ops, data)
        apply = self._draw_apply(batch, seed)
        snr_db = uniform(ops, (batch,), seed, *self.snr_db)
        index = uniform_int(ops, (batch,), seed, 0, len(self.recordings) - 1)
        available = ops.numpy.take(ops.convert_to_tensor(self.lengths), index)
        start = uniform_int(ops, (batch,), seed, 0, available - 1)
        positions = ops.numpy.mod(start[:, None] + ops.numpy.arange(length)[None, :], available[:, None])
        flat = index[:, None] * self.recordings.shape[1] + positions  # into the flattened bank
        noise = ops.numpy.take(ops.convert_to_tensor(self.recordings.reshape(-1)), flat)
        return {"apply": apply, "index": index, "snr_db": snr_db, "noise": noise}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        noise = ops.cast(transformation["noise"], "float32")
        noise_power = power(ops, noise)
        target = power(ops, x) / ops.numpy.power(10.0, ops.cast(transformation["snr_db"], "float32") / 10.0)
        scale = ops.numpy.where(noise_power > 0.0, ops.numpy.sqrt(target / ops.numpy.maximum(noise_power, 1e-30)),
                                0.0)
        scale = ops.numpy.where(transformation["apply"], scale, 0.0)
        return x + scale[:, None] * noise  # (batch, samples)

