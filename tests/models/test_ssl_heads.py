"""`ssl_aasist` and `ssl_linear`: training on both backends, freezing, gradient checkpointing, saving."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from models.aasist import AasistResidualBlock
from models.ssl import SslBackbone, sidecar_config_path
from models.ssl.presets import preset_config
from models.ssl_heads import SslAasistResidualBlock, parse_ssl_trainable, ssl_variables
from ssl_reference import separable_batch, train_losses

SAMPLES = 4000  # 12 SSL frames
TRAIN_SAMPLES = 8000  # 24 frames, 8 temporal nodes
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def loss_falls(losses):
    """The mean loss of the last 5 steps is below 80 % of the first 5 (single steps are noisy: dropout 0.5)."""
    return np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.slow
def test_ssl_aasist_trains_on_tensorflow():
    keras.utils.set_random_seed(0)
    losses = train_losses(models.build("ssl_aasist", (TRAIN_SAMPLES,), preset="tiny", ssl_trainable="all"))
    assert loss_falls(losses), losses


_JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, keras
    sys.path.insert(0, sys.argv[1])
    import models
    from models.ssl import build_backbone
    from ssl_reference import train_losses

    keras.utils.set_random_seed(0)
    losses = train_losses(models.build("ssl_aasist", (8000,), preset="tiny", ssl_trainable="all"))
    reference = np.load(sys.argv[2])
    backbone = build_backbone(pretrained_weights=sys.argv[3])
    outputs = backbone(reference["waveforms"])
    error = max(float(np.abs(np.asarray(ours) - reference[f"state_{i}"]).max())
                for i, ours in enumerate(outputs["hidden_states"]))
    print(json.dumps({"backend": keras.backend.backend(), "losses": losses, "parity_error": error}))
""")


@pytest.mark.slow
def test_jax_backend_trains_ssl_aasist_and_reproduces_the_tensorflow_backbone(tmp_path):
    # The TensorFlow backbone is the one proven against PyTorch (test_ssl_backbone); JAX must give its outputs.
    backbone = SslBackbone(preset_config("tiny"))
    weights = tmp_path / "tiny.weights.h5"
    backbone.save_weights(weights)
    with open(sidecar_config_path(weights), "w", encoding="utf-8") as file:
        json.dump(backbone.config.to_dict(), file)
    waveforms, _ = separable_batch(batch=2)
    states = {f"state_{i}": np.asarray(h) for i, h in enumerate(backbone(waveforms)["hidden_states"])}
    np.savez(tmp_path / "reference.npz", waveforms=waveforms, **states)

    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": REPO}
    env.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, os.path.dirname(__file__), str(tmp_path / "reference.npz"), str(weights)],
        env=env, capture_output=True, text=True, timeout=1800, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["parity_error"] < 1e-4
    assert loss_falls(report["losses"]), report["losses"]


@pytest.mark.parametrize(("value", "expected"), [("all", None), ("none", 0), ("top:1", 1), ("TOP:2", 2)])
def test_ssl_trainable_choices(value, expected):
    assert parse_ssl_trainable(value, num_layers=2) == expected


@pytest.mark.parametrize("value", ["top:3", "top:x", "some", "top:-1"])
def test_bad_ssl_trainable_is_rejected_naming_the_choices(value):
    with pytest.raises(ValueError, match="ssl_trainable must be 'all', 'none' or 'top:N'"):
        models.build("ssl_aasist", (SAMPLES,), preset="tiny", ssl_trainable=value)


def _trainable_ssl_layers(model):
    return sorted({v.path.split("/")[1] for v in model.trainable_weights if v.path.startswith("ssl_backbone/")})


def test_freezing_leaves_exactly_the_chosen_layers_trainable():
    everything = models.build("ssl_aasist", (SAMPLES,), preset="tiny", ssl_trainable="all")
    top = models.build("ssl_linear", (SAMPLES,), preset="tiny", ssl_trainable="top:1")
    frozen = models.build("ssl_aasist", (SAMPLES,), preset="tiny", ssl_trainable="none")

    assert len(ssl_variables(everything)) == len(everything.get_layer("ssl_backbone").weights)
    assert all(v.trainable for v in ssl_variables(everything))
    # The tiny preset is pre-LN: the last layer and the final layer norm above it.
    assert _trainable_ssl_layers(top) == ["encoder_layer_1", "encoder_layer_norm"]
    assert _trainable_ssl_layers(frozen) == []
    assert any(v.trainable for v in frozen.weights if not v.path.startswith("ssl_backbone/"))


def test_a_training_step_changes_only_unfrozen_ssl_weights():
    keras.utils.set_random_seed(0)
    model = models.build("ssl_linear", (SAMPLES,), preset="tiny", ssl_trainable="top:1")
    before = {v.path: np.asarray(v).copy() for v in ssl_variables(model)}
    train_losses(model, steps=2)
    after = {v.path: np.asarray(v) for v in ssl_variables(model)}
    changed = sorted({path.split("/")[1] for path in before if not np.array_equal(before[path], after[path])})
    assert changed == ["encoder_layer_1", "encoder_layer_norm"]


def test_frozen_backbone_runs_in_inference_mode():
    # Dropout in the tiny backbone: a frozen front end must still be deterministic in training mode.
    model = models.build("ssl_linear", (SAMPLES,), preset="tiny", ssl_trainable="none",
                         ssl_overrides={"hidden_dropout": 0.5, "attention_dropout": 0.5})
    backbone = model.get_layer("ssl_backbone")
    x, _ = separable_batch(batch=2)
    first = np.asarray(backbone(x, training=True)["last_hidden_state"])
    np.testing.assert_array_equal(np.asarray(backbone(x, training=True)["last_hidden_state"]), first)
    np.testing.assert_array_equal(np.asarray(backbone(x, training=False)["last_hidden_state"]), first)


def _gradients(gradient_checkpointing):
    keras.utils.set_random_seed(3)  # same weights and the same dropout seeds for both models
    model = models.build("ssl_linear", (SAMPLES,), preset="tiny", ssl_trainable="all",
                         gradient_checkpointing=gradient_checkpointing,
                         ssl_overrides={"hidden_dropout": 0.2, "attention_dropout": 0.2, "activation_dropout": 0.2})
    x, y = separable_batch(batch=4)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = keras.losses.binary_crossentropy(y, model(x, training=True), from_logits=True)
        return loss, tape.gradient(loss, model.trainable_weights)

    loss, gradients = step(x, y)
    return np.asarray(loss), [np.asarray(g) for g in gradients]


def test_gradient_checkpointing_gives_the_gradients_of_the_same_forward_pass():
    # With dropout on: the recomputation must reuse the forward pass's masks (tf.recompute_grad would redraw them).
    loss, gradients = _gradients(False)
    remat_loss, remat_gradients = _gradients(True)
    np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
    assert len(gradients) == len(remat_gradients)
    for ours, theirs in zip(remat_gradients, gradients):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_ssl_block_is_the_aasist_block_without_time_pooling():
    x = np.random.default_rng(0).standard_normal((2, 9, 8, 4)).astype("float32")
    ssl_block = SslAasistResidualBlock(filters=6)
    aasist_block = AasistResidualBlock(filters=6)
    ssl_block.build(x.shape)
    aasist_block.build(x.shape)
    aasist_block.set_weights(ssl_block.get_weights())

    unpooled = np.asarray(ssl_block(x, training=False))

    assert unpooled.shape == (2, 9, 8, 6)
    pooled = unpooled.reshape(2, 3, 3, 8, 6).max(axis=2)  # AASIST's 3x1 max pooling along time
    np.testing.assert_allclose(pooled, np.asarray(aasist_block(x, training=False)), rtol=1e-5, atol=1e-6)


def test_attentive_graph_inputs_match_numpy():
    model = models.build("ssl_aasist", (SAMPLES,), preset="tiny")
    probe = keras.Model(model.input, [model.get_layer("encoder_bn").output, model.get_layer("attention_conv_2").output,
                                      model.get_layer("pos_s").input, model.get_layer("gat_t").input])
    x, _ = separable_batch(batch=2)
    normalised, w, spectral, temporal = (np.asarray(t) for t in probe(x, training=False))
    features = 1.0507009873554805 * np.where(normalised > 0, normalised, 1.6732632423543772 * np.expm1(normalised))

    def softmax(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    np.testing.assert_allclose(spectral, (features * softmax(w, 1)).sum(1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(temporal, (features * softmax(w, 2)).sum(2), rtol=1e-4, atol=1e-5)


def test_round_trip_keeps_outputs_and_frozen_layers(tmp_path):
    model = models.build("ssl_aasist", (SAMPLES,), preset="tiny", ssl_trainable="top:1", ssl_layer=1)
    x, _ = separable_batch(batch=2)
    expected = np.asarray(model(x, training=False))
    path = tmp_path / "ssl_aasist.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x, training=False)), expected)
    assert _trainable_ssl_layers(restored) == _trainable_ssl_layers(model)
    assert restored.get_config() == model.get_config()


def test_pretrained_backbone_weights_load_into_the_model(tmp_path):
    source = SslBackbone(preset_config("tiny"))
    path = tmp_path / "tiny.weights.h5"
    source.save_weights(path)
    model = models.build("ssl_linear", (SAMPLES,), preset="tiny", pretrained_weights=str(path))
    for ours, theirs in zip(model.get_layer("ssl_backbone").weights, source.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_too_short_clips_are_rejected_naming_the_length():
    with pytest.raises(ValueError, match="input_samples=800"):
        models.build("ssl_aasist", (800,), preset="tiny")


def test_waveform_normalization_matches_the_transformers_feature_extractor():
    transformers = pytest.importorskip("transformers", reason="the reference normalisation is transformers'")
    x, _ = separable_batch(batch=2)
    expected = np.stack(transformers.Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm(list(x), attention_mask=None))
    model = models.build("ssl_linear", (SAMPLES,), preset="tiny", normalize_waveform=True)
    normalised = np.asarray(model.get_layer("waveform_normalization")(x))
    np.testing.assert_allclose(normalised, expected, rtol=1e-5, atol=1e-5)
