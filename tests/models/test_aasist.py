"""AASIST / AASIST-L: the published weights reproduce the published logits, and the model contracts hold."""

import importlib.util
import os
import pathlib

import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

import models
from models.aasist import AASIST, SIZE_PRESETS
from models.heads import trainable_parameter_count
from models.convert import convert
from models.graph_attention import GraphAttention, GraphPool
from models.sinc import SincConv
from pipelines.commands.convert_weights import main as convert_weights_main

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "aasist"
CHECKPOINTS = {"aasist": "AASIST", "aasist_l": "AASIST-L"}
# The figures of the AASIST paper (Jung et al., ICASSP 2022, Table 1).
PUBLISHED_PARAMETERS = {"aasist": 297_866, "aasist_l": 85_306}
# A tiny AASIST for contract tests: 1 s clips keep several nodes after every pooling.
TINY = SIZE_PRESETS["tiny"]
TINY_SAMPLES = 16000


def _needs_reference():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch (the optional `torch` extra) is not installed: cannot read the published .pth weights")
    if not SHARED.is_dir():
        pytest.skip(f"the published AASIST weights are not present at {SHARED}")


def _waveforms(batch, samples, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((batch, samples))).astype("float32")


def test_sinc_conv_matches_scipy_firwin_band_passes():
    import librosa

    filters, taps, rate = 6, 65, 16000
    edges = librosa.mel_frequencies(n_mels=filters + 1, fmin=0.0, fmax=rate / 2, htk=True)
    # The first band starts at 0 Hz (a low-pass) and the last ends at Nyquist (a high-pass).
    firwin = lambda cutoff, pass_zero: scipy.signal.firwin(taps, cutoff, pass_zero=pass_zero, scale=False, fs=rate)
    bank = [firwin(edges[1], True)]
    bank += [firwin([low, high], False) for low, high in zip(edges[1:-2], edges[2:-1])]
    bank += [firwin(edges[-2], False)]
    signal = _waveforms(2, 400)
    expected = np.stack([[np.convolve(x, h, mode="valid") for h in bank] for x in signal]).transpose(0, 2, 1)

    out = SincConv(filters, taps - 1, rate)(signal)  # an even length is raised to odd, as in the reference

    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)


def test_graph_pool_keeps_top_scored_nodes_scaled_by_score():
    nodes = np.random.default_rng(1).standard_normal((2, 7, 3)).astype("float32")
    layer = GraphPool(ratio=0.5)
    out = np.asarray(layer(nodes))
    kernel, bias = (np.asarray(w) for w in layer.proj.weights)

    scores = 1.0 / (1.0 + np.exp(-(nodes @ kernel + bias)))  # (2, 7, 1)
    order = np.argsort(-scores[..., 0], axis=1)[:, :3]  # int(7 * 0.5) = 3 kept, best first
    expected = np.take_along_axis(nodes * scores, order[..., None], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_graph_attention_matches_a_numpy_computation():
    nodes = np.random.default_rng(2).standard_normal((2, 5, 4)).astype("float32")
    layer = GraphAttention(units=3, temperature=2.0)
    out = np.asarray(layer(nodes, training=False))

    dense = lambda name, x: x @ np.asarray(getattr(layer, name).kernel) + np.asarray(getattr(layer, name).bias)
    pairs = np.tanh(dense("att_proj", nodes[:, :, None, :] * nodes[:, None, :, :]))  # (2, 5, 5, 3)
    logits = (pairs @ np.asarray(layer.att_weight))[..., 0] / 2.0
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    hidden = dense("proj_with_att", weights @ nodes) + dense("proj_without_att", nodes)
    hidden = hidden / np.sqrt(1.0 + 1e-5)  # a fresh BN: mean 0, variance 1, gamma 1, beta 0
    expected = 1.0507009873554805 * np.where(hidden > 0, hidden, 1.6732632423543772 * np.expm1(hidden))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", sorted(PUBLISHED_PARAMETERS))
def test_parameter_count_is_the_published_one(variant):
    model = models.build(variant, (64600,))
    assert trainable_parameter_count(model) == PUBLISHED_PARAMETERS[variant]
    assert models.get_entry(variant).input_kind == "waveform"


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(CHECKPOINTS))
def test_converted_weights_reproduce_published_logits(variant):
    _needs_reference()
    name = CHECKPOINTS[variant]
    waveforms = np.load(SHARED / "reference_input.npy")
    reference = np.load(SHARED / f"reference_logits_{name}.npy")
    model = models.build(variant, waveforms.shape[1:], pretrained_weights=str(SHARED / f"{name}.pth"))
    both = keras.Model(model.input, [model.get_layer("out_layer").output, model.output])

    two_class, spoof_logit = (np.asarray(t) for t in both(waveforms, training=False))

    assert np.abs(two_class - reference).max() < 1e-3
    np.testing.assert_allclose(spoof_logit[:, 0], reference[:, 0] - reference[:, 1], atol=2e-3)


@pytest.mark.slow
def test_convert_weights_command_writes_weights_that_load(tmp_path):
    _needs_reference()
    out = tmp_path / "aasist_l.weights.h5"
    assert convert_weights_main(["aasist_l", str(SHARED / "AASIST-L.pth"), str(out)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["aasist_l.weights.h5"]  # no temporary file left behind

    from_file = models.build("aasist_l", (TINY_SAMPLES,), pretrained_weights=str(out), output_mode="two_class")
    from_pth = models.build("aasist_l", (TINY_SAMPLES,), pretrained_weights=str(SHARED / "AASIST-L.pth"))
    for ours, theirs in zip(from_file.weights, from_pth.weights):
        assert ours.path == theirs.path
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_convert_weights_command_rejects_the_wrong_checkpoint(tmp_path, capsys):
    _needs_reference()
    out = tmp_path / "aasist.weights.h5"
    assert convert_weights_main(["aasist", str(SHARED / "AASIST-L.pth"), str(out)]) == 1  # a data error
    assert "pos_S" in capsys.readouterr().err
    assert not out.exists()


def test_convert_rejects_an_unknown_variant_before_reading_anything(tmp_path):
    with pytest.raises(ValueError, match="variant must be one of \\('aasist', 'aasist_l'\\)"):
        convert("aasist_xl", str(tmp_path / "missing.pth"))


def test_too_short_input_is_rejected_naming_the_length():
    with pytest.raises(ValueError, match="input_samples=2000"):
        models.build("aasist", (2000,))


@pytest.mark.slow
def test_keras_round_trip_xla_and_determinism(tmp_path):
    model = models.build("aasist", (TINY_SAMPLES,), **TINY)
    waveforms = _waveforms(2, TINY_SAMPLES)
    expected = np.asarray(model(waveforms, training=False))
    assert expected.shape == (2, 1) and model.output.dtype == "float32"
    np.testing.assert_array_equal(np.asarray(model(waveforms, training=False)), expected)

    path = tmp_path / "aasist.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(waveforms, training=False)), expected)

    compiled = tf.function(lambda x: restored(x, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(waveforms)), expected, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_builds_and_returns_float32_logits(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = AASIST(input_samples=TINY_SAMPLES, **TINY)
        out = model(_waveforms(2, TINY_SAMPLES), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("gat_s").compute_dtype == policy.split("_")[1]
    assert out.dtype == "float32" and out.shape == (2, 1)
    assert np.all(np.isfinite(np.asarray(out)))


@pytest.mark.parametrize("name", ["aasist", "aasist_l"])
def test_training_preset_follows_the_published_recipe(name):
    from pipelines.config import RunConfig
    from pipelines.config import get_preset

    config = RunConfig.from_dict(get_preset(name))
    assert config.model.name == name and config.features.kind == "waveform"
    assert (config.data.clip_samples, config.data.batch_size, config.train.epochs) == (64600, 24, 100)
    assert (config.train.learning_rate, config.train.min_learning_rate) == (1e-4, 5e-6)
    assert config.train.weight_decay == 1e-4 and config.train.schedule == "cosine"
    # Weighted cross-entropy 0.1 spoof : 0.9 bona fide, with bona fide weighted 1.
    assert config.train.spoof_loss_weight * 0.9 == pytest.approx(0.1)


def test_unknown_preset_names_the_choices():
    from pipelines.config import get_preset

    with pytest.raises(ValueError, match="aasist_l"):
        get_preset("aasist_xl")
