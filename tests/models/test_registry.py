"""The registry, the shared head and input adapter, and `fakespeech models`."""

import keras
import numpy as np
import pytest

import models
from models.heads import classifier_head, feature_inputs, resolve_preset
from models import registry
from models.registry import register_model
from pipelines.commands.models import main as models_main

OWN_MODELS = ("conformer", "conv1d", "custom_cnn", "dnn", "lcnn", "lstm", "resnet")


def test_available_lists_the_zoo_sorted():
    names = models.available()
    assert names == sorted(names)
    assert set(OWN_MODELS) <= set(names)


def test_unknown_name_error_lists_available_names():
    with pytest.raises(ValueError, match="unknown model 'nope'") as info:
        models.build("nope", (32, 16))
    for name in models.available():
        assert name in str(info.value)


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="'lcnn' is already registered"):
        register_model("lcnn")(lambda input_shape: None)


def test_unknown_preset_names_the_public_choices_only():
    with pytest.raises(ValueError, match="unknown preset 'huge'.*conformer_s") as info:
        models.build("conformer", (32, 16), preset="huge")
    assert "tiny" not in str(info.value)


def test_hidden_presets_build_by_name_but_are_not_listed():
    for name in OWN_MODELS + ("aasist", "aasist_l", "rawnet2"):
        assert models.get_entry(name).hidden_presets == ("tiny",), name
    for name in models.available():
        assert "tiny" not in models.get_entry(name).presets, name
    assert models.get_entry("resnet").presets == ("resnet18", "resnet34")
    small = models.build("resnet", (32, 16), preset="tiny")
    assert small.count_params() < models.build("resnet", (32, 16), preset="resnet18").count_params()


def test_a_hidden_preset_must_be_one_of_the_presets():
    with pytest.raises(ValueError, match="hidden_presets \\['tiny'\\] are not among its presets \\['big'\\]"):
        register_model("never_registered", presets={"big": {}}, hidden_presets=("tiny",))


def test_a_new_model_registers_a_hidden_preset_with_one_argument():
    presets = {"small": {"units": 4}, "smoke": {"units": 1}}

    @register_model("test_hidden_preset_model", input_kind="vector", presets=presets, hidden_presets=("smoke",))
    def build_model(input_shape, preset=None, **config):
        units = resolve_preset(presets, preset, config, "test_hidden_preset_model")["units"]
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, classifier_head(keras.layers.Dense(units)(inputs), pooling=None))

    try:
        entry = models.get_entry("test_hidden_preset_model")
        assert (entry.presets, entry.hidden_presets) == (("small",), ("smoke",))
        assert models.build("test_hidden_preset_model", (3,), preset="smoke").count_params() == 3 + 1 + 1 + 1
    finally:
        registry._REGISTRY.pop("test_hidden_preset_model")


def test_explicit_arguments_override_the_preset():
    merged = resolve_preset({"small": {"width": 8, "depth": 2}}, "small", {"width": 4}, "m")
    assert merged == {"width": 4, "depth": 2}


@pytest.mark.parametrize("shape", [(4, 5, 3), (4,), (1, 2, 3, 4)])
def test_feature_inputs_reject_shapes_they_cannot_take(shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        feature_inputs(shape, channel_axis=True)


@pytest.mark.parametrize(("shape", "channel_axis", "expected"), [
    ((6, 5), True, (None, 6, 5, 1)),
    ((6, 5, 1), True, (None, 6, 5, 1)),
    ((6, 5, 1), False, (None, 6, 5)),
    ((6, 5), False, (None, 6, 5)),
])
def test_feature_inputs_add_or_drop_the_channel(shape, channel_axis, expected):
    _, x = feature_inputs(shape, channel_axis=channel_axis)
    assert tuple(x.shape) == expected


def test_head_logit_is_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((7, 4))
        logits = classifier_head(inputs, pooling="avgmax", dropout=0.1, hidden_units=3)
        model = keras.Model(inputs, logits)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert keras.backend.standardize_dtype(model(np.ones((2, 7, 4), "float32")).dtype) == "float32"


def test_head_average_pooling_matches_numpy():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, classifier_head(inputs, pooling="avg"))
    dense = model.get_layer("predictions")
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    kernel, bias = (np.asarray(w) for w in dense.weights)
    np.testing.assert_allclose(np.asarray(model(x)), x.mean(axis=1) @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_models_command_prints_the_parameter_counts(capsys):
    status = models_main(["--input-shape", "32,16", "--preset", "tiny", "--name", "lcnn", "--name", "dnn"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].split()[:2] == ["name", "input"]
    for name, line in zip(("lcnn", "dnn"), lines[1:]):
        model = models.build(name, (32, 16), preset="tiny")
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert line.split()[0] == name
        assert line.split()[-2:] == [f"{model.count_params():,}", f"{trainable:,}"]


def test_models_command_lists_public_presets_and_never_a_hidden_one(capsys):
    argv = ["--input-shape", "32,16", "--waveform-samples", "16000", "--name", "resnet", "--name", "conformer",
            "--name", "aasist"]
    assert models_main(argv) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert "resnet18,resnet34" in rows["resnet"]
    assert "conformer_s,conformer_xs" in rows["conformer"]
    with pytest.raises(SystemExit):
        models_main(["--help"])
    assert "tiny" not in out + capsys.readouterr().out


def test_models_command_reports_a_failed_build_without_crashing(capsys):
    status = models_main(["--input-shape", "32,16,3", "--preset", "tiny", "--name", "lcnn", "--name", "dnn"])
    out = capsys.readouterr().out
    assert status == 1
    assert out.count("build failed") == 2
    assert "one channel" in out


def test_models_command_rejects_an_unknown_name(capsys):
    assert models_main(["--name", "nope"]) == 2
    assert "available" in capsys.readouterr().err
