"""SpecAugment: masked fractions within bounds, exact masks for an injected transformation, fill values, saving."""

import keras
import numpy as np
import pytest

import augment

FEATURES = np.random.default_rng(0).standard_normal((64, 50, 20)).astype(np.float32) + 3.0


def test_masked_fraction_is_within_bounds():
    layer = augment.SpecAugment(time_masks=2, time_mask_width=5, freq_masks=3, freq_mask_width=2, seed=0)
    masked = np.asarray(layer(FEATURES, training=True)) == 0.0
    frames = masked.all(axis=2).sum(axis=1)  # fully masked frames per example
    bins = masked.all(axis=1).sum(axis=1)
    assert frames.max() <= 2 * 5 and bins.max() <= 3 * 2
    assert frames.mean() > 0 and bins.mean() > 0


@pytest.mark.parametrize("fill", ["zero", "mean"])
def test_injected_masks_are_exact(fill):
    layer = augment.SpecAugment(time_masks=1, freq_masks=1, fill=fill)
    x = FEATURES[:2]
    transformation = {"apply": np.array([True, False]), "time_starts": np.array([[10], [0]], np.int32),
                      "time_widths": np.array([[4], [5]], np.int32), "freq_starts": np.array([[3], [0]], np.int32),
                      "freq_widths": np.array([[2], [5]], np.int32)}
    out = np.asarray(layer.transform_inputs(x, transformation))
    expected = x.copy()
    value = x[0].mean() if fill == "mean" else 0.0
    expected[0, 10:14, :] = value
    expected[0, :, 3:5] = value
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_widths_longer_than_the_input_are_clipped():
    layer = augment.SpecAugment(time_masks=1, time_mask_width=500, freq_masks=0, seed=0)
    transformation = {k: np.asarray(v) for k, v in layer.get_random_transformation(FEATURES).items()}
    ends = transformation["time_starts"] + transformation["time_widths"]
    assert ends.max() <= FEATURES.shape[1] and transformation["time_starts"].min() >= 0


def test_fill_is_validated():
    with pytest.raises(ValueError, match="fill"):
        augment.SpecAugment(fill="noise")


def test_a_saved_model_holding_specaugment_loads(tmp_path):
    inputs = keras.Input((50, 20))
    masked = augment.SpecAugment(time_masks=1, time_mask_width=5, seed=3, name="spec_augment")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(masked)))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.get_layer("spec_augment").get_config() == model.get_layer("spec_augment").get_config()
    np.testing.assert_allclose(np.asarray(loaded.predict(FEATURES[:2], verbose=0)),
                               np.asarray(model.predict(FEATURES[:2], verbose=0)), atol=1e-6)
