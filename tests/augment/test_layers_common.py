"""Behaviour every augmentation layer shares: shapes, graph modes, inference identity, seeds, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import augment

BATCH, SAMPLES, FRAMES, BINS = 4, 1024, 40, 16


def _waveform():
    rng = np.random.default_rng(0)
    return (0.2 * rng.standard_normal((BATCH, SAMPLES))).astype(np.float32)


def _features():
    rng = np.random.default_rng(1)
    return rng.standard_normal((BATCH, FRAMES, BINS)).astype(np.float32)


def _pair():
    return _features(), np.array([0.0, 1.0, 1.0, 0.0], np.float32)


# (factory taking a seed, input builder); every probability is 1 so that the layer visibly changes its input.
LAYERS = {
    "gain": (lambda seed: augment.RandomGain(gain_db=(-6.0, 6.0), seed=seed), _waveform),
    "noise": (lambda seed: augment.AddNoise(snr_db=(5.0, 20.0), noise_color="pink", seed=seed), _waveform),
    "shift": (lambda seed: augment.TimeShift(max_shift=100, mode="zero", seed=seed), _waveform),
    "bandlimit": (lambda seed: augment.BandLimit(sample_rate=16000, seed=seed), _waveform),
    "rawboost": (lambda seed: augment.RawBoost(algo="lnl+isd+ssi", fir_taps=(10, 30), lnl_orders=3, n_bands=2,
                                               seed=seed), _waveform),
    "specaugment": (lambda seed: augment.SpecAugment(time_masks=2, time_mask_width=8, freq_masks=2,
                                                     freq_mask_width=4, fill="mean", seed=seed), _features),
    "mixup": (lambda seed: augment.MixUp(alpha=0.4, seed=seed), _pair),
    "cutmix": (lambda seed: augment.CutMix(alpha=1.0, seed=seed), _pair),
}


def _call(layer, data, mode, training=True):
    if mode == "eager":
        return layer(data, training=training)
    if mode == "tf_function":
        return tf.function(lambda d: layer(d, training=training))(data)
    if mode == "xla":
        return tf.function(lambda d: layer(d, training=training), jit_compile=True)(data)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(BATCH).map(lambda *d: layer(
        d if len(d) > 1 else d[0], training=training))
    return next(iter(dataset))


def _numpy(out):
    return [np.asarray(t) for t in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("mode", ["eager", "tf_function", pytest.param("xla", marks=pytest.mark.slow), "dataset"])
def test_changes_inputs_and_keeps_shapes(name, mode):
    make, data = LAYERS[name]
    inputs = data()
    out = _numpy(_call(make(0), inputs, mode))
    expected = _numpy(inputs)
    assert [o.shape for o in out] == [e.shape for e in expected]
    assert all(np.isfinite(o).all() for o in out)
    assert not np.allclose(out[0], expected[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_identity_at_inference(name):
    make, data = LAYERS[name]
    inputs = data()
    for mode in ("eager", "dataset"):
        for out, original in zip(_numpy(_call(make(0), inputs, mode, training=False)), _numpy(inputs)):
            np.testing.assert_array_equal(out, original)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_same_seed_same_output_and_other_seed_differs(name):
    make, data = LAYERS[name]
    inputs = data()
    first, again, other = (_numpy(make(seed)(inputs, training=True)) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_probability_zero_is_identity(name):
    make, data = LAYERS[name]
    layer = make(0)
    config = {**layer.get_config(), "probability": 0.0}
    inputs = data()
    out = _numpy(type(layer).from_config(config)(inputs, training=True))
    np.testing.assert_allclose(out[0], _numpy(inputs)[0], atol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_get_config_round_trip(name):
    make, data = LAYERS[name]
    layer = make(3)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    inputs = data()
    np.testing.assert_array_equal(_numpy(clone(inputs, training=True))[0], _numpy(layer(inputs, training=True))[0])


def test_each_example_is_augmented_independently_with_probability():
    batch, probability = 400, 0.3
    layer = augment.RandomGain(probability=probability, seed=0)
    applied = layer.get_random_transformation(np.zeros((batch, 8), np.float32))["apply"].numpy()
    # Binomial(400, 0.3): four standard deviations either side.
    assert abs(applied.mean() - probability) < 4 * np.sqrt(probability * (1 - probability) / batch)


def test_probability_is_validated():
    with pytest.raises(ValueError, match="probability"):
        augment.SpecAugment(probability=1.5)
