"""Every registered model: builds for two input shapes, learns a separable batch, saves/loads, compiles with XLA.

Models are iterated from `models.available()`, so architectures registered later are covered too; each is built
tiny (the small keyword arguments below, else its hidden "tiny" preset, else its defaults) to keep the suite fast
on two CPU cores. The same models on the JAX backend: tests/models/test_backends.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import models

# Smaller than their "tiny" presets: these waveform models then take the 4000-sample clips below cheaply.
TINY_CONFIGS = {
    "aasist": dict(
        sinc_filters=8, first_conv=8, encoder_filters=((1, 4), (4, 4), (4, 8), (8, 8)), gat_dims=(8, 4)
    ),
    "aasist_l": dict(
        sinc_filters=8, first_conv=8, encoder_filters=((1, 4), (4, 4), (4, 8), (8, 8)), gat_dims=(8, 4)
    ),
    "rawnet2": dict(
        sinc_filters=4, first_conv=65, block_filters=(4, 4, 8, 8, 8, 8), gru_units=8, gru_layers=1, fc_units=8
    ),
}
INPUT_SHAPES = {
    "features": [(32, 16), (24, 16, 1)],
    "vector": [(24,), (32, 16)],
    "waveform": [(4000,), (4800,)],
}
BATCH = 16
STEPS = 20


def tiny_config(name):
    if name in TINY_CONFIGS:
        return TINY_CONFIGS[name]
    return {"preset": "tiny"} if models.get_entry(name).accepts_preset("tiny") else {}


def build_tiny(name, shape):
    return models.build(name, shape, **tiny_config(name))


def separable_batch(shape, seed=0):
    """Half bona fide (label 0), half spoof (label 1): spoof adds an offset and a sinusoid along axis 1."""
    rng = np.random.default_rng(seed)
    labels = np.tile([0.0, 1.0], BATCH // 2).astype("float32")
    x = 0.5 * rng.standard_normal((BATCH,) + shape)
    pattern = 1.0 + np.sin(2 * np.pi * np.arange(shape[0]) / 8.0)
    pattern = pattern.reshape((1, shape[0]) + (1,) * (len(shape) - 1))
    x = x + labels.reshape((BATCH,) + (1,) * len(shape)) * pattern
    return x.astype("float32"), labels[:, None]


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", models.available())
def test_builds_for_two_input_shapes(name):
    for shape in INPUT_SHAPES[models.get_entry(name).input_kind]:
        model = build_tiny(name, shape)
        x, _ = separable_batch(shape)
        logits = model(x[:2], training=False)
        assert tuple(logits.shape) == (2, 1), shape
        assert model.layers[-1].dtype_policy.compute_dtype == "float32"  # the logit layer


# Models fitted by EM (pipelines.train.gmm), not by gradient descent.
FITTED_OUTSIDE_GRADIENT_DESCENT = {"gmm"}


@pytest.mark.slow
@pytest.mark.parametrize("name", models.available())
def test_learns_round_trips_and_compiles_with_xla(name, tmp_path):
    keras.utils.set_random_seed(1)
    shape = INPUT_SHAPES[models.get_entry(name).input_kind][0]
    model = build_tiny(name, shape)
    if name in FITTED_OUTSIDE_GRADIENT_DESCENT:  # nothing to learn here; test_gmm.py checks its EM fit
        assert not model.trainable_weights
        return
    x, y = separable_batch(shape)
    # SGD and a graph-mode train step: tracing Adam's per-variable updates (and XLA-compiling the whole step)
    # would cost several CPU seconds per model; the XLA check below compiles the model itself.
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=keras.losses.BinaryCrossentropy(from_logits=True)
    )
    losses = [float(model.train_on_batch(x, y)) for _ in range(STEPS)]
    assert np.mean(losses[-3:]) < 0.8 * losses[0], losses

    expected = np.asarray(model(x, training=False))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)

    compiled = tf.function(lambda batch: loaded(batch, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", models.available())
def test_mixed_precision_gives_a_float32_logit(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    shape = INPUT_SHAPES[models.get_entry(name).input_kind][0]
    model = build_tiny(name, shape)
    x, _ = separable_batch(shape)
    logits = model(x[:2], training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(logits)))


# --- Layers of the zoo, each against a NumPy reference: eagerly, in tf.function and in dataset.map ---


def _run_three_ways(layer, x):
    eager = np.asarray(layer(x))
    graph = np.asarray(tf.function(layer)(x))
    mapped = np.concatenate([np.asarray(b) for b in tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)])
    return eager, graph, mapped


def test_max_feature_map_keeps_the_larger_half():
    from models.lcnn import MaxFeatureMap

    x = np.random.default_rng(0).standard_normal((4, 3, 5, 6)).astype("float32")
    expected = np.maximum(x[..., :3], x[..., 3:])
    for result in _run_three_ways(MaxFeatureMap(), x):
        np.testing.assert_array_equal(result, expected)


def test_utterance_statistics_match_numpy():
    from models.sequence import UtteranceStatistics

    x = np.random.default_rng(0).standard_normal((4, 9, 5)).astype("float32")
    epsilon = 1e-5
    expected = np.concatenate(
        [x.mean(axis=1), np.sqrt(x.var(axis=1) + epsilon), np.abs(np.diff(x, axis=1)).mean(axis=1)], axis=-1
    )
    for result in _run_three_ways(UtteranceStatistics(epsilon=epsilon), x):
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_dnn_takes_a_vector_or_computes_it_from_features():
    vector_model = models.build("dnn", (15,), preset="tiny")
    feature_model = models.build("dnn", (9, 5), preset="tiny")
    assert vector_model.get_layer("input_norm").input.shape[-1] == 15
    assert feature_model.get_layer("input_norm").input.shape[-1] == 3 * 5


def test_resnet_presets_have_the_resnet_depths():
    def convs(preset):
        model = models.build("resnet", (32, 16), preset=preset, width=2)
        return sum(1 for layer in model.layers if layer.name.endswith(("_conv_1", "_conv_2")))

    # ResNet-18 / -34: 2 convolutions per basic block, plus the stem and the classifier make 18 / 34 layers.
    assert convs("resnet18") + 2 == 18
    assert convs("resnet34") + 2 == 34


@pytest.mark.slow
def test_resnet_applications_backbone_loads_a_user_weights_file(tmp_path):
    config = dict(backbone="keras_applications:MobileNetV3Small")
    shape = (32, 32)
    source = models.build("resnet", shape, **config)
    network = next(layer for layer in source.layers if isinstance(layer, keras.Model))
    path = tmp_path / "backbone.weights.h5"
    network.save_weights(path)
    target = models.build("resnet", shape, backbone_weights=str(path), **config)
    target.get_layer("predictions").set_weights(source.get_layer("predictions").get_weights())
    x, _ = separable_batch(shape)
    np.testing.assert_allclose(np.asarray(target(x)), np.asarray(source(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("backbone", "message"), [
    ("ResNet50", "keras_applications:NAME"),
    ("keras_applications:NoSuchNet", "has no 'NoSuchNet'"),
])
def test_resnet_rejects_an_unknown_backbone(backbone, message):
    with pytest.raises(ValueError, match=message):
        models.build("resnet", (32, 32), backbone=backbone)
