"""MixUp and CutMix: exact outputs and label mass for injected transformations, sampled weights."""

import keras
import numpy as np
import scipy.stats

import augment
from augment.base import random_beta

INPUTS = np.random.default_rng(0).standard_normal((4, 10, 3)).astype(np.float32)
TARGETS = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
PERMUTATION = np.array([1, 0, 3, 2], np.int32)


def test_mixup_mixes_inputs_and_targets_with_the_same_weight():
    layer = augment.MixUp()
    weight = np.array([0.7, 1.0, 0.2, 0.5], np.float32)
    transformation = {"apply": weight < 1.0, "mix_weight": weight, "permutation": PERMUTATION}
    inputs = np.asarray(layer.transform_inputs(INPUTS, transformation))
    targets = np.asarray(layer.transform_targets(TARGETS, transformation))
    w = weight[:, None, None]
    np.testing.assert_allclose(inputs, w * INPUTS + (1 - w) * INPUTS[PERMUTATION], rtol=1e-6)
    np.testing.assert_allclose(targets, weight * TARGETS + (1 - weight) * TARGETS[PERMUTATION], rtol=1e-6)


def test_mixup_keeps_one_hot_label_mass():
    one_hot = np.eye(2, dtype=np.float32)[TARGETS.astype(int)]
    out = np.asarray(augment.MixUp(seed=0)({"inputs": INPUTS, "targets": one_hot}, training=True)["targets"])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_cutmix_weight_is_the_cut_fraction():
    layer = augment.CutMix()
    transformation = {"apply": np.array([True, True, False, True]), "permutation": PERMUTATION,
                      "cut_start": np.array([2, 0, 0, 7], np.int32), "cut_length": np.array([3, 10, 0, 3], np.int32),
                      "frames": 10}
    inputs = np.asarray(layer.transform_inputs(INPUTS, transformation))
    targets = np.asarray(layer.transform_targets(TARGETS, transformation))
    expected = INPUTS.copy()
    for row, (start, length) in enumerate(zip(transformation["cut_start"], transformation["cut_length"])):
        expected[row, start:start + length] = INPUTS[PERMUTATION[row], start:start + length]
    np.testing.assert_array_equal(inputs, expected)
    fraction = transformation["cut_length"] / 10.0
    np.testing.assert_allclose(targets, (1 - fraction) * TARGETS + fraction * TARGETS[PERMUTATION], rtol=1e-6)


def test_cutmix_random_cut_matches_its_label_weight():
    # Each example is constant over time with a distinct value, so every frame tells where it came from.
    inputs = np.repeat(np.arange(8, dtype=np.float32)[:, None], 40, axis=1)
    targets = np.eye(8, dtype=np.float32)
    out_inputs, out_targets = augment.CutMix(alpha=1.0, seed=3)((inputs, targets), training=True)
    from_each = np.stack([(np.asarray(out_inputs) == k).mean(axis=1) for k in range(8)], axis=1)
    np.testing.assert_allclose(np.asarray(out_targets), from_each, atol=1e-6)


def test_beta_sampler_follows_the_beta_distribution():
    ops = augment.MixUp().backend
    for alpha in (0.4, 2.0):
        draws = np.asarray(random_beta(ops, (4000,), alpha, alpha, keras.random.SeedGenerator(5)))
        assert scipy.stats.kstest(draws, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3
