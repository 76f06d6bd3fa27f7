"""`Chroma` and `estimate_tuning` against librosa's chroma_stft / estimate_tuning on the same power spectrogram.

Tolerance: chroma values lie in [0, 1]; float32 STFTs and filterbanks on both sides agree to about 1e-6, so 1e-5
absolute. Tunings are histogram bins of 0.01 and must be equal.
"""

import warnings

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from pipelines.features import Chroma, filterbanks
from pipelines.features.chroma import estimate_tuning
from pipelines.features.spectral import power_spectrum

SR = 16000
STFT = dict(n_fft=512, win_length=400, hop_length=160)
TUNINGS = (0.0, 0.17, -0.31)
ATOL = 1e-5


@pytest.fixture(scope="module")
def tones(harmonic_tone):
    """One 0.5 s harmonic tone per entry of TUNINGS (in semitones, librosa's unit of tuning) from G3."""
    return np.stack([harmonic_tone(196.0 * 2.0 ** (t / 12.0), 0.5, SR, seed=i) for i, t in enumerate(TUNINGS)])


def _power(y, pad_mode="reflect", n_fft=STFT["n_fft"], hop_length=STFT["hop_length"], win_length=None):
    win_length = STFT["win_length"] if win_length is None and n_fft == STFT["n_fft"] else win_length
    return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                               pad_mode=pad_mode)) ** 2


def _librosa_chroma(y, tuning):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns when a frame set has no pitch to estimate a tuning from
        return librosa.feature.chroma_stft(S=_power(y), sr=SR, n_fft=STFT["n_fft"], tuning=tuning).T


def _run(layer, x, mode):
    if mode == "eager":
        return keras.ops.convert_to_numpy(layer(x))
    if mode == "xla":
        return tf.function(layer, jit_compile=True)(tf.constant(x)).numpy()
    return next(iter(tf.data.Dataset.from_tensor_slices(x).batch(len(x)).map(layer))).numpy()


@pytest.mark.parametrize("mode", ["eager", "xla", "dataset"])
def test_fixed_tuning_matches_librosa_chroma_stft(tones, mode):
    out = _run(Chroma(tuning=0.0, sample_rate=SR, **STFT), tones, mode)
    expected = np.stack([_librosa_chroma(y, 0.0) for y in tones])
    assert out.shape == expected.shape == (len(TUNINGS), 1 + tones.shape[1] // STFT["hop_length"], 12)
    np.testing.assert_allclose(out, expected, atol=ATOL)


def test_estimated_tuning_matches_librosa_per_example(tones):
    # (XLA and tf.data for the estimate: test_backends.py, through the DEEP-VOICE layer's chroma_stft column.)
    out = _run(Chroma(tuning=None, sample_rate=SR, **STFT), tones, "eager")
    expected = np.stack([_librosa_chroma(y, None) for y in tones])
    np.testing.assert_allclose(out, expected, atol=ATOL)


def test_estimate_tuning_equals_librosa_and_is_zero_without_pitch(tones):
    rows = np.concatenate([tones, np.zeros((1, tones.shape[1]), np.float32)])
    window = filterbanks.window("hann", 2048, 2048)
    power = power_spectrum(keras.ops, rows, window, 512, center=True, pad_mode="constant")
    ours = keras.ops.convert_to_numpy(estimate_tuning(keras.ops, power, SR, 2048))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [librosa.estimate_tuning(S=_power(y, "constant", 2048, 512), sr=SR) for y in rows]
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert ours[-1] == 0.0
    assert len(set(ours[:-1].tolist())) == len(TUNINGS)  # each example gets its own estimate


def test_real_speech_matches_librosa(realdev_flacs):
    clips = [librosa.load(path, sr=None)[0][:SR] for path in realdev_flacs[::400]]
    clips = np.stack([np.pad(y, (0, SR - len(y))) for y in clips])
    for tuning in (0.0, None):
        out = keras.ops.convert_to_numpy(Chroma(tuning=tuning, sample_rate=SR, **STFT)(clips))
        expected = np.stack([_librosa_chroma(y, tuning) for y in clips])
        np.testing.assert_allclose(out, expected, atol=ATOL)


def test_get_config_round_trip_and_bad_arguments(tones):
    layer = Chroma(n_chroma=12, tuning=None, sample_rate=SR, **STFT)
    clone = Chroma.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(tones)), keras.ops.convert_to_numpy(layer(tones)))
    with pytest.raises(ValueError, match="n_chroma"):
        Chroma(n_chroma=0)
