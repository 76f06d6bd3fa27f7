"""RawBoost steps against scipy/numpy re-implementations of the reference RawBoost code."""

import keras
import numpy as np
import pytest
import scipy.signal

import augment

X = (0.3 * np.random.default_rng(0).standard_normal((2, 1500))).astype(np.float32)
ALL = np.array([True, True])


def _norm_wav(y):
    peak = np.abs(y).max(axis=-1, keepdims=True)
    return np.where(peak > 1.0, y / peak, y)


def test_lnl_sums_filtered_powers_like_lfilter():
    layer = augment.RawBoost(algo="lnl", lnl_orders=2)
    taps = np.random.default_rng(1).standard_normal((2, 2, 1024)).astype(np.float32)
    taps[..., 40:] = 0.0
    out = np.asarray(layer.transform_inputs(X, {"apply": ALL, "lnl_filters": taps}))
    y = np.stack([scipy.signal.lfilter(taps[i, 0], 1, X[i]) + scipy.signal.lfilter(taps[i, 1], 1, X[i] ** 2)
                  for i in range(2)])
    np.testing.assert_allclose(out, _norm_wav(y - y.mean(axis=1, keepdims=True)), atol=1e-4)


def test_random_filters_peak_at_their_gain():
    layer = augment.RawBoost(algo="lnl", gain_db=(-6.0, -6.0))
    taps = np.asarray(layer._random_filters((3,), -6.0, -6.0, keras.random.SeedGenerator(1)))
    for row in taps:
        _, response = scipy.signal.freqz(row, 1, worN=4096)
        assert abs(20 * np.log10(np.abs(response).max()) + 6.0) < 0.2


def test_isd_perturbs_selected_samples():
    layer = augment.RawBoost(algo="isd", isd_max_percent=10.0, seed=0)
    transformation = {k: np.asarray(v) for k, v in layer.get_random_transformation(X).items()}
    noise = transformation["isd_noise"]
    assert np.mean(noise != 0.0) <= 0.1 + 0.02 and np.abs(noise).max() <= layer.isd_gain
    out = np.asarray(layer.transform_inputs(X, {**transformation, "apply": ALL}))
    np.testing.assert_allclose(out, _norm_wav(X + X * noise), rtol=1e-6)


def test_ssi_adds_noise_at_the_drawn_snr():
    layer = augment.RawBoost(algo="ssi", seed=0)
    transformation = {k: np.asarray(v) for k, v in layer.get_random_transformation(X).items()}
    out = np.asarray(layer.transform_inputs(X, {**transformation, "apply": ALL}))
    snr = 20 * np.log10(np.linalg.norm(X, axis=1) / np.linalg.norm(out - X, axis=1))
    np.testing.assert_allclose(snr, transformation["ssi_snr_db"], atol=1e-3)


def test_series_applies_steps_in_order():
    layer = augment.RawBoost(algo="isd+ssi", seed=0)
    transformation = {**{k: np.asarray(v) for k, v in layer.get_random_transformation(X).items()}, "apply": ALL}
    step = _norm_wav(X + X * transformation["isd_noise"])
    noise = transformation["ssi_noise"]
    scale = np.linalg.norm(step, axis=1) / np.linalg.norm(noise, axis=1) / 10 ** (
        transformation["ssi_snr_db"] / 20)
    np.testing.assert_allclose(np.asarray(layer.transform_inputs(X, transformation)), step + noise * scale[:, None],
                               rtol=1e-4, atol=1e-6)


def test_algo_is_validated():
    with pytest.raises(ValueError, match="algo"):
        augment.RawBoost(algo="lnl+reverb")
