"""The STFT feature layers against librosa configured to the same definitions (see `pipelines.features.spectral`).

Tolerance: features are logs of powers, so the bound is absolute in log units: 1e-3 (0.1 % of power) plus 1e-4
relative for the larger cepstral coefficients; float32 FFTs on both sides agree to about 1e-4.
"""

import math

import keras
import librosa
import numpy as np
import pytest
import scipy.fft
import tensorflow as tf

from pipelines import features
from pipelines.config import FeatureConfig

SR = 16000
SAMPLES = 3200
STFT = dict(n_fft=256, win_length=200, hop_length=80)
ATOL, RTOL = 1e-3, 1e-4


@pytest.fixture(scope="module")
def waveform():
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 3000.0 * t)
    return (tone + 0.05 * rng.standard_normal((2, SAMPLES))).astype(np.float32)


def _power(y, window="hann", center=True, power=2.0):
    spectrum = librosa.stft(y, n_fft=STFT["n_fft"], hop_length=STFT["hop_length"], win_length=STFT["win_length"],
                            window=window, center=center, pad_mode="reflect")
    return np.abs(spectrum) ** power


def _log(x, floor=1e-6):
    return np.log(np.maximum(x, floor))


def _linear_filterbank(n_filters, fmin, fmax):
    """Triangles by interpolation between their corner points, an independent construction."""
    edges = np.linspace(fmin, fmax, n_filters + 2)
    bins = np.linspace(0, SR / 2, STFT["n_fft"] // 2 + 1)
    return np.stack([np.interp(bins, edges[i:i + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
                     for i in range(n_filters)])


def _with_deltas(c, width=9):
    return np.concatenate([c, librosa.feature.delta(c, width=width, order=1),
                           librosa.feature.delta(c, width=width, order=2)], axis=0)


def reference(kind, y):
    """librosa / numpy reference for the layer that `LAYERS[kind]` builds, (time, bins)."""
    if kind == "spectrogram":
        return _log(_power(y)).T
    if kind == "spectrogram_hamming_magnitude_nocenter":
        return _log(_power(y, window="hamming", center=False, power=1.0)).T
    if kind == "logmel":
        mel = librosa.feature.melspectrogram(S=_power(y), sr=SR, n_mels=40, fmin=50.0, fmax=7000.0, htk=True,
                                             norm=None)
        return _log(mel).T
    if kind == "logmel_top_db":
        mel = librosa.feature.melspectrogram(S=_power(y), sr=SR, n_mels=40, htk=True, norm=None)
        return (librosa.power_to_db(mel, ref=1.0, amin=1e-6, top_db=30.0) * math.log(10.0) / 10.0).T
    if kind == "mfcc":
        mel = librosa.feature.melspectrogram(S=_power(y), sr=SR, n_mels=40, htk=True, norm=None)
        return _with_deltas(librosa.feature.mfcc(S=_log(mel), n_mfcc=13, dct_type=2, norm="ortho")).T
    if kind == "lfcc":
        energies = _linear_filterbank(20, 0.0, SR / 2) @ _power(y)
        return _with_deltas(scipy.fft.dct(_log(energies), type=2, norm="ortho", axis=0)[:20]).T
    raise KeyError(kind)


LAYERS = {
    "spectrogram": lambda: features.LogSpectrogram(**STFT),
    "spectrogram_hamming_magnitude_nocenter": lambda: features.LogSpectrogram(window="hamming", center=False,
                                                                              power=1.0, **STFT),
    "logmel": lambda: features.LogMelSpectrogram(n_mels=40, fmin=50.0, fmax=7000.0, **STFT),
    "logmel_top_db": lambda: features.LogMelSpectrogram(n_mels=40, top_db=30.0, **STFT),
    "mfcc": lambda: features.MFCC(n_mels=40, n_coefficients=13, deltas=True, **STFT),
    "lfcc": lambda: features.LFCC(n_filters=20, n_coefficients=20, deltas=True, **STFT),
}


def _run(layer, x, mode):
    if mode == "eager":
        return layer(x).numpy()
    if mode == "xla":
        return tf.function(layer, jit_compile=True)(tf.constant(x)).numpy()
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(len(x)).map(layer)
    return next(iter(dataset)).numpy()


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("mode", ["eager", pytest.param("xla", marks=pytest.mark.slow), "dataset"])
def test_layer_matches_librosa(waveform, kind, mode):
    out = _run(LAYERS[kind](), waveform, mode)
    expected = np.stack([reference(kind, y) for y in waveform])
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=RTOL)


def test_plain_tf_function_matches_eager(waveform):
    layer = LAYERS["mfcc"]()
    np.testing.assert_allclose(tf.function(layer)(tf.constant(waveform)).numpy(), layer(waveform).numpy(),
                               atol=1e-5)


def test_length_unknown_until_run_time_in_a_tensorflow_graph(waveform):
    layer = LAYERS["logmel"]()
    graph = tf.function(layer, input_signature=[tf.TensorSpec((None, None), tf.float32)])
    np.testing.assert_allclose(graph(tf.constant(waveform)).numpy(), layer(waveform).numpy(), atol=1e-5)


def test_waveform_is_identity(waveform):
    np.testing.assert_array_equal(features.Waveform()(waveform).numpy(), waveform)


def test_frame_count_follows_librosa_framing():
    no_center = FeatureConfig(kind="spectrogram", center=False, **STFT)
    assert features.feature_output_shape(no_center, SAMPLES)[0] == librosa.util.frame(
        np.zeros(SAMPLES), frame_length=STFT["n_fft"], hop_length=STFT["hop_length"]).shape[-1]


def test_bfloat16_policy_is_finite_and_close(waveform):
    full = LAYERS["logmel"]()(waveform).numpy()
    layer = features.LogMelSpectrogram(n_mels=40, fmin=50.0, fmax=7000.0, dtype="mixed_bfloat16", **STFT)
    out = tf.function(layer, jit_compile=True)(tf.constant(waveform))
    assert out.dtype == tf.bfloat16
    out = tf.cast(out, tf.float32).numpy()
    assert np.isfinite(out).all()
    # bfloat16 keeps 8 significant bits: the only error left is the final rounding, 2 ** -8 relative.
    np.testing.assert_allclose(out, full, rtol=2.0**-8, atol=1e-6)


def test_get_config_round_trip(waveform):
    for make in LAYERS.values():
        layer = make()
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        np.testing.assert_array_equal(clone(waveform).numpy(), layer(waveform).numpy())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind"):
        features.build_feature_layer(FeatureConfig(kind="cqt"))
    with pytest.raises(ValueError, match="delta_width"):
        features.MFCC(n_mels=40, deltas=True, **STFT)(np.zeros((1, 400), np.float32))
    with pytest.raises(ValueError, match="fmax"):
        features.LogMelSpectrogram(fmax=SR, **STFT)
    with pytest.raises(ValueError, match="window"):
        features.LogSpectrogram(window="kaiser", **STFT)


def test_layer_saves_in_a_model(tmp_path, waveform):
    inputs = keras.Input((SAMPLES,))
    model = keras.Model(inputs, LAYERS["lfcc"]()(inputs))
    path = tmp_path / "features.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(waveform).numpy(), model(waveform).numpy(), atol=1e-6)
