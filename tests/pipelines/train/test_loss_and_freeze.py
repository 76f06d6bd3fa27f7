"""`train.loss` gives the model the head its loss trains; `model.freeze` keeps the named pretrained layers fixed."""

import keras
import numpy as np
import pytest

import models
from models.losses import OCSoftmaxLoss
from models.margin_heads import AMSoftmaxScore, OCSoftmaxScore
from pipelines.config import ConfigError, RunConfig
from pipelines.train.end_to_end import build_end_to_end
from pipelines.train.finetune import freeze_layers
from pipelines.train.training import compile_model


def _config(loss="bce", loss_options=None, params=None, **model):
    return RunConfig.from_dict({
        "data": {"clip_samples": 1600, "batch_size": 4},
        "features": {"kind": "logmel", "n_fft": 256, "win_length": 256, "hop_length": 128, "n_mels": 16},
        "model": {"name": "lcnn", "params": {"preset": "tiny", **(params or {})}, **model},
        "train": {"loss": loss, "loss_options": loss_options or {}},
    })


def _score_layers(model):
    found = []
    for layer in model.layers:
        found += _score_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return [layer for layer in found if isinstance(layer, (OCSoftmaxScore, AMSoftmaxScore))]


def test_ocsoftmax_loss_and_head_share_their_margins():
    run_config = _config("ocsoftmax", {"margin_fake": 0.3, "scale": 10.0})
    model = build_end_to_end(run_config, with_augmentation=False)
    (head,) = _score_layers(model)
    assert isinstance(head, OCSoftmaxScore)
    assert (head.scale, head.margin_real, head.margin_fake) == (10.0, 0.9, 0.3)
    compile_model(model, run_config, steps_per_epoch=1)
    assert isinstance(model.loss, OCSoftmaxLoss)
    assert (model.loss.scale, model.loss.margin_real, model.loss.margin_fake) == (10.0, 0.9, 0.3)


def test_a_margin_loss_keeps_the_models_own_head_options():
    model = build_end_to_end(_config("amsoftmax", params={"head_options": {"embedding_units": 12}}),
                             with_augmentation=False)
    (head,) = _score_layers(model)
    assert isinstance(head, AMSoftmaxScore)
    embedding = [layer for layer in model.get_layer("lcnn").layers if layer.name.endswith("_embedding")]
    assert [layer.units for layer in embedding] == [12]


def test_a_head_that_contradicts_the_loss_or_a_bad_option_is_refused():
    with pytest.raises(ConfigError, match="model.params.head='amsoftmax'"):
        build_end_to_end(_config("ocsoftmax", params={"head": "amsoftmax"}))
    with pytest.raises(ConfigError, match="train.loss_options"):
        build_end_to_end(_config("amsoftmax", {"margin_real": 0.5}))


def test_frozen_layers_keep_their_weights_and_the_rest_trains():
    backbone = models.build("lcnn", (13, 16), preset="tiny")
    frozen = freeze_layers(backbone, ["conv_1", "conv_[2]*"])
    assert frozen and all(not backbone.get_layer(name).trainable for name in frozen)
    before = {layer.name: [np.array(w) for w in layer.get_weights()] for layer in backbone.layers}
    backbone.compile(keras.optimizers.SGD(0.5), keras.losses.BinaryCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(8, 13, 16)).astype("float32")
    backbone.fit(x, np.array([0, 1] * 4, "float32"), epochs=1, verbose=0)
    for layer in backbone.layers:
        after = layer.get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(before[layer.name], after))
        if layer.name in frozen:
            assert not changed, layer.name
    assert any(any(not np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights()))
               for layer in backbone.layers if layer.name not in frozen)


def test_a_freeze_pattern_that_matches_nothing_names_the_layers():
    backbone = models.build("lcnn", (13, 16), preset="tiny")
    with pytest.raises(ValueError, match=r"model.freeze: \['sinc\*'\] match no layer .*conv_1"):
        freeze_layers(backbone, ["sinc*"])


def test_the_aasist_finetune_preset_freezes_the_sinc_front_end_and_early_blocks(tmp_path):
    keras.utils.set_random_seed(0)
    weights = str(tmp_path / "tiny.weights.h5")
    models.build("aasist", (8000,), preset="tiny").save_weights(weights)
    run_config = RunConfig.from_dict({
        "data": {"clip_samples": 8000},
        "features": {"kind": "waveform"},
        "model": {"name": "aasist", "params": {"preset": "tiny"}, "pretrained_weights": weights,
                  "freeze": ["conv_time", "first_bn", "encoder_block_[01]"]},
    })
    model = build_end_to_end(run_config, with_augmentation=False)
    backbone = model.get_layer("aasist")
    assert [layer.name for layer in backbone.layers if not layer.trainable] == [
        "conv_time", "first_bn", "encoder_block_0", "encoder_block_1"]
    reference = models.build("aasist", (8000,), preset="tiny", pretrained_weights=weights)
    for ours, theirs in zip(backbone.weights, reference.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))  # started from the pretrained file
