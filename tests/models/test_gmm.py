"""The `gmm` model's layers against independent references: scikit-learn's GMM log-likelihoods, B2's delta filter."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.signal import lfilter
from sklearn.mixture import GaussianMixture

import models
from models.gmm import B2Deltas, GaussianMixtureScore

DIMS, COMPONENTS = 5, 3


def matlab_deltas(x, width=3):
    """ASVspoof 2019 B2's `deltas.m` on (time, dims): edge columns repeated, FIR [hlen .. -hlen], delay removed."""
    half = width // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)], axis=0)
    return lfilter(np.arange(half, -half - 1, -1), 1, padded, axis=0)[2 * half:]


def fitted_layer(rng):
    """A GaussianMixtureScore holding two scikit-learn mixtures fitted on different clouds, and those mixtures."""
    bona = rng.normal(size=(400, DIMS)) * [1, 2, 3, 1, 0.5] + 2.0
    spoof = rng.normal(size=(300, DIMS)) * 1.5 - 1.0
    offset, scale = rng.normal(size=DIMS), rng.uniform(0.5, 2.0, DIMS)  # any affine standardisation
    mixtures = [GaussianMixture(COMPONENTS, covariance_type="diag", random_state=0).fit((x - offset) / scale)
                for x in (bona, spoof)]
    layer = GaussianMixtureScore(components=COMPONENTS)
    layer.build((None, None, DIMS))
    layer.offset.assign(offset.astype("float32"))
    layer.scale.assign(scale.astype("float32"))
    layer.means.assign(np.stack([m.means_ for m in mixtures]).astype("float32"))
    layer.variances.assign(np.stack([m.covariances_ for m in mixtures]).astype("float32"))
    layer.log_weights.assign(np.log(np.stack([m.weights_ for m in mixtures])).astype("float32"))
    return layer, mixtures, offset, scale


def sklearn_logit(mixtures, offset, scale, frames):
    """-(mean over frames of log p_bona - log p_spoof), per utterance, from scikit-learn's score_samples."""
    batch, time, dims = frames.shape
    flat = ((frames - offset) / scale).reshape(-1, dims)
    ll = [m.score_samples(flat).reshape(batch, time) for m in mixtures]
    return -(ll[0] - ll[1]).mean(axis=1)


def test_frame_log_likelihoods_match_sklearn_score_samples():
    rng = np.random.default_rng(0)
    layer, mixtures, offset, scale = fitted_layer(rng)
    frames = rng.normal(size=(2, 40, DIMS)) * 2.0
    ours = np.asarray(layer.frame_log_likelihoods(frames.astype("float32")))  # (batch, time, 2)
    flat = ((frames - offset) / scale).reshape(-1, DIMS)
    reference = np.stack([m.score_samples(flat).reshape(2, 40) for m in mixtures], axis=-1)
    # float32 against scikit-learn's float64: log-likelihoods of size ~10-100 agree to ~1e-5 relative.
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("mode", ["eager", "tf_function", "xla", "dataset_map"])
def test_logit_is_minus_the_mean_frame_llr(mode):
    rng = np.random.default_rng(1)
    layer, mixtures, offset, scale = fitted_layer(rng)
    frames = (rng.normal(size=(4, 25, DIMS)) * 2.0).astype("float32")
    if mode == "eager":
        logit = layer(frames)
    elif mode == "tf_function":
        logit = tf.function(layer)(frames)
    elif mode == "xla":
        logit = tf.function(layer, jit_compile=True)(frames)
    else:
        logit = next(iter(tf.data.Dataset.from_tensor_slices(frames).batch(4).map(layer)))
    assert tuple(logit.shape) == (4, 1)
    np.testing.assert_allclose(np.asarray(logit)[:, 0], sklearn_logit(mixtures, offset, scale, frames),
                               rtol=1e-5, atol=1e-3)


def test_unfitted_layer_scores_zero_and_config_round_trips():
    layer = GaussianMixtureScore(components=4, name="g")
    np.testing.assert_array_equal(np.asarray(layer(np.ones((2, 7, 3), "float32"))), np.zeros((2, 1)))
    assert GaussianMixtureScore.from_config(layer.get_config()).components == 4
    with pytest.raises(ValueError, match="components"):
        GaussianMixtureScore(components=0)


def test_b2_deltas_are_the_matlab_filter_applied_once_and_twice():
    x = np.random.default_rng(2).normal(size=(3, 12, 4)).astype("float32")
    out = np.asarray(B2Deltas()(x))
    for b in range(3):
        delta = matlab_deltas(x[b].astype(np.float64))
        np.testing.assert_allclose(out[b], np.concatenate([x[b], delta, matlab_deltas(delta)], axis=-1), atol=1e-5)


def test_saved_gmm_model_keeps_its_mixtures(tmp_path):
    model = models.build("gmm", (30, 4), components=2, append_deltas=True)
    score = model.get_layer("gmm_score")
    assert score.means.shape == (2, 2, 12)
    score.means.assign(np.random.default_rng(3).normal(size=(2, 2, 12)).astype("float32"))
    path = str(tmp_path / "gmm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    frames = np.random.default_rng(4).normal(size=(2, 30, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(frames)), np.asarray(model(frames)), rtol=1e-6)
    assert not loaded.trainable_weights  # fitted by EM, never by gradient descent
