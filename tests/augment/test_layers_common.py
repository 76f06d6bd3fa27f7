"""Behaviour every augmentation layer shares: shapes, graph modes, inference identity, seeds, config.

"eager" runs on the Keras backend of this process (TensorFlow or JAX); "tf_function", "xla" and "dataset" run
TensorFlow graphs, which the layers detect and serve with TensorFlow ops whatever the Keras backend.
"""

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


# name: (factory taking a seed and the bank folders, input builder); every probability is 1 so that the layer
# visibly changes its input.
LAYERS = {
    "gain": (lambda seed, banks: augment.RandomGain(gain_db=(-6.0, 6.0), seed=seed), _waveform),
    "noise": (lambda seed, banks: augment.AddNoise(snr_db=(5.0, 20.0), noise_color="pink", seed=seed), _waveform),
    "shift": (lambda seed, banks: augment.TimeShift(max_shift=100, mode="zero", seed=seed), _waveform),
    "bandlimit": (lambda seed, banks: augment.BandLimit(sample_rate=16000, seed=seed), _waveform),
    "rawboost": (lambda seed, banks: augment.RawBoost(algo="lnl+isd+ssi", fir_taps=(10, 30), lnl_orders=3,
                                                      n_bands=2, seed=seed), _waveform),
    "companding": (lambda seed, banks: augment.Companding(law="random", bits=6, seed=seed), _waveform),
    "telephone": (lambda seed, banks: augment.TelephoneChannel(sample_rate=16000, seed=seed), _waveform),
    "quantize": (lambda seed, banks: augment.Quantize(bits=(3, 8), dither=True, seed=seed), _waveform),
    "eq": (lambda seed, banks: augment.RandomEQ(sample_rate=16000, peaks=2, gain_db=(-12.0, 12.0), taps=129,
                                                seed=seed), _waveform),
    "reverb": (lambda seed, banks: augment.AddReverb(rir_folder=banks["rir"], sample_rate=16000, seed=seed),
               _waveform),
    "background": (lambda seed, banks: augment.AddBackgroundNoise(noise_folder=banks["noise"], snr_db=(0.0, 10.0),
                                                                  seed=seed), _waveform),
    "specaugment": (lambda seed, banks: augment.SpecAugment(time_masks=2, time_mask_width=8, freq_masks=2,
                                                            freq_mask_width=4, fill="mean", seed=seed), _features),
    "mixup": (lambda seed, banks: augment.MixUp(alpha=0.4, seed=seed), _pair),
    "cutmix": (lambda seed, banks: augment.CutMix(alpha=1.0, seed=seed), _pair),
}
FIXED_CHANNELS = {"telephone"}


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
def test_changes_inputs_and_keeps_shapes(name, mode, banks):
    make, data = LAYERS[name]
    inputs = data()
    out = _numpy(_call(make(0, banks), inputs, mode))
    expected = _numpy(inputs)
    assert [o.shape for o in out] == [e.shape for e in expected]
    assert all(np.isfinite(o).all() for o in out)
    assert not np.allclose(out[0], expected[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_identity_at_inference(name, banks):
    make, data = LAYERS[name]
    inputs = data()
    for mode in ("eager", "dataset"):
        for out, original in zip(_numpy(_call(make(0, banks), inputs, mode, training=False)), _numpy(inputs)):
            np.testing.assert_array_equal(out, original)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_same_seed_same_output_and_other_seed_differs(name, banks):
    make, data = LAYERS[name]
    inputs = data()
    first, again, other = (_numpy(make(seed, banks)(inputs, training=True)) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first[0], again[0])
    if name in FIXED_CHANNELS:  # nothing random but `apply`, which probability 1 makes all True
        np.testing.assert_array_equal(first[0], other[0])
    else:
        assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_probability_zero_is_identity(name, banks):
    make, data = LAYERS[name]
    layer = make(0, banks)
    config = {**layer.get_config(), "probability": 0.0}
    inputs = data()
    out = _numpy(type(layer).from_config(config)(inputs, training=True))
    np.testing.assert_allclose(out[0], _numpy(inputs)[0], atol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_get_config_round_trip(name, banks):
    make, data = LAYERS[name]
    layer = make(3, banks)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    inputs = data()
    np.testing.assert_array_equal(_numpy(clone(inputs, training=True))[0], _numpy(layer(inputs, training=True))[0])


def test_each_example_is_augmented_independently_with_probability():
    batch, probability = 400, 0.3
    layer = augment.RandomGain(probability=probability, seed=0)
    applied = np.asarray(layer.get_random_transformation(np.zeros((batch, 8), np.float32))["apply"])
    # Binomial(400, 0.3): four standard deviations either side.
    assert abs(applied.mean() - probability) < 4 * np.sqrt(probability * (1 - probability) / batch)


def test_successive_batches_get_new_draws():
    layer = augment.RandomGain(seed=0)
    x = np.ones((4, 8), np.float32)
    assert not np.array_equal(np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True)))


def test_layers_compute_in_float32_under_a_mixed_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = augment.RandomGain(gain_db=(1.0, 1.0), seed=0)
    finally:
        keras.config.set_dtype_policy(previous)
    x = np.full((2, 8), 0.123456789, np.float32)
    out = next(iter(tf.data.Dataset.from_tensors(x).map(lambda d: layer(d, training=True))))
    np.testing.assert_allclose(np.asarray(out), x * 10 ** (1 / 20), rtol=1e-6)  # bfloat16 would be off by ~1e-3


def test_probability_is_validated():
    with pytest.raises(ValueError, match="probability"):
        augment.SpecAugment(probability=1.5)
