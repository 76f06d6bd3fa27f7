"""RawNet2 (the ASVspoof 2021 baseline): size, filter-wise scaling, training and saving."""

import keras
import numpy as np
import pytest

import models
from models.heads import trainable_parameter_count
from models.rawnet2 import RAWNET2_CONFIG, SIZE_PRESETS, FilterwiseScaling

# A small RawNet2 on 0.5 s clips for the training and saving tests.
TINY = SIZE_PRESETS["tiny"]
TINY_SAMPLES = 8000


def _baseline_parameter_count(sinc_filters, block_filters, gru_units, gru_layers, fc_units, **_):
    """Parameters of the baseline PyTorch model (LA/Baseline-RawNet2/model.py), summed layer by layer."""
    conv = lambda k, cin, cout: k * cin * cout + cout
    dense = lambda cin, cout: cin * cout + cout
    batch_norm = lambda c: 2 * c
    total = batch_norm(sinc_filters)  # the sinc filters are fixed, not parameters
    channels = sinc_filters
    for i, filters in enumerate(block_filters):
        total += 0 if i == 0 else batch_norm(channels)  # bn1, created though unused
        total += conv(3, channels, filters) + batch_norm(filters) + conv(3, filters, filters)
        total += conv(1, channels, filters) if channels != filters else 0
        total += dense(filters, filters)  # the filter-wise scaling attention
        channels = filters
    total += batch_norm(channels)
    for layer in range(gru_layers):
        inputs = channels if layer == 0 else gru_units
        total += 3 * (inputs * gru_units + gru_units * gru_units + 2 * gru_units)  # torch.nn.GRU: r, z, n gates
    return total + dense(gru_units, fc_units) + dense(fc_units, 2)


def _batch(samples, seed=0):
    rng = np.random.default_rng(seed)
    waveforms = (0.1 * rng.standard_normal((8, samples))).astype("float32")
    return waveforms, (np.arange(8) % 2).astype("float32")[:, None]


@pytest.mark.slow
def test_parameter_count_is_the_baselines():
    model = models.build("rawnet2", (64600,))
    count = trainable_parameter_count(model)
    print(f"rawnet2 trainable parameters: {count:,}")
    assert count == _baseline_parameter_count(**RAWNET2_CONFIG)
    assert models.get_entry("rawnet2").input_kind == "waveform"


def test_filterwise_scaling_matches_numpy():
    x = np.random.default_rng(3).standard_normal((2, 6, 4)).astype("float32")
    layer = FilterwiseScaling()
    out = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.fc.weights)
    scale = 1.0 / (1.0 + np.exp(-(x.mean(axis=1) @ kernel + bias)))[:, None, :]
    np.testing.assert_allclose(out, x * scale + scale, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_few_training_steps_reduce_the_loss():
    keras.utils.set_random_seed(0)
    model = models.build("rawnet2", (TINY_SAMPLES,), **TINY)
    # Eager steps: for four steps of a tiny model, tracing a graph costs more than it saves.
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True), run_eagerly=True)
    waveforms, targets = _batch(TINY_SAMPLES)
    losses = model.fit(waveforms, targets, batch_size=8, epochs=4, verbose=0, shuffle=False).history["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_keras_round_trip_gives_identical_outputs(tmp_path):
    model = models.build("rawnet2", (TINY_SAMPLES,), **TINY)
    waveforms, _ = _batch(TINY_SAMPLES, seed=1)
    expected = np.asarray(model(waveforms[:2], training=False))
    assert expected.shape == (2, 1) and model.output.dtype == "float32"

    path = tmp_path / "rawnet2.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(waveforms[:2], training=False)), expected)


def test_training_preset_follows_the_baseline_recipe():
    from pipelines.config import RunConfig
    from pipelines.config import get_preset

    config = RunConfig.from_dict(get_preset("rawnet2"))
    assert config.model.name == "rawnet2" and config.features.kind == "waveform"
    assert (config.data.batch_size, config.train.epochs, config.train.learning_rate) == (32, 100, 1e-4)
    assert config.train.schedule == "constant" and config.train.weight_decay == 1e-4
