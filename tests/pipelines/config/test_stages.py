"""Every stage checks its own values: a configuration that cannot run is refused with the key named."""

import math

import pytest

from pipelines.config import ConfigError, RunConfig, resolve_run_config
from tfrecord_builder.config import BuildConfig


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.schedule=cosin", "train.schedule"),
        ("data.batch_size=-4", "data.batch_size"),
        ("train.epochs=-1", "train.epochs"),
        ("train.learning_rate=nan", "train.learning_rate"),
        ("train.learning_rate=0", "train.learning_rate"),
        ("augment.gain_db=5", "augment.gain_db"),
        ("augment.gain_db=[6,-6]", "augment.gain_db"),
        ("augment.noise_probability=1.5", "augment.noise_probability"),
        ("augment.rawboost_algo=lnl+xyz", "augment.rawboost_algo"),
        ("model=5", "model"),
        ("model.params=abc", "model.params"),
        ("model.name=nosuchmodel", "model.name"),
        ("features.kind=mel", "features.kind"),
        ("features.win_length=1024", "features.win_length"),
        ("features.fmax=9000", "features.fmax"),
        ("features.kind=mfcc features.n_coefficients=90", "features.n_coefficients"),
        ("data.pad_mode=mirror", "data.pad_mode"),
        ("train.label_smoothing=1", "train.label_smoothing"),
        ("train.epochs=null", "train.epochs"),
        ("data.normalize=maybe", "data.normalize"),
    ],
)
def test_a_bad_override_names_its_key(override, key):
    with pytest.raises(ConfigError) as caught:
        resolve_run_config(overrides=override.split())
    assert str(caught.value).startswith(key)


def test_the_two_sample_rates_must_agree():
    with pytest.raises(ConfigError, match="data.sample_rate=16000 and features.sample_rate=8000"):
        RunConfig.from_dict({"features": {"sample_rate": 8000}})


def test_a_model_that_takes_other_input_than_the_features_give():
    with pytest.raises(ConfigError, match="takes waveform input.*logmel"):
        resolve_run_config(flags={"model": {"name": "aasist"}})


def test_a_bad_preset_and_a_missing_config_file_are_usage_errors(tmp_path):
    with pytest.raises(ConfigError, match="--preset 'nosuch'"):
        resolve_run_config(preset="nosuch")
    with pytest.raises(ConfigError, match="--config .*missing.yaml: no such file"):
        resolve_run_config(config_file=str(tmp_path / "missing.yaml"))


def test_infinite_numbers_are_refused_whatever_the_field():
    with pytest.raises(ConfigError, match="train.weight_decay"):
        RunConfig.from_dict({"train": {"weight_decay": math.inf}})


@pytest.mark.parametrize("text, expected", [("true", True), ("no", False), ("1", True), (0, False)])
def test_booleans_read_the_same_in_build_and_run_configs(text, expected):
    build = BuildConfig.from_dict({"data": "d", "out": "o", "balance": text})
    run = RunConfig.from_dict({"data": {"normalize": text}})
    assert build.balance is run.data.normalize is expected


def test_relative_paths_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = resolve_run_config(flags={"data": {"shards": "shards_rel"}})
    assert config.data.shards == str(tmp_path / "shards_rel")
    assert resolve_run_config(flags={"data": {"shards": "gs://bucket/shards"}}).data.shards == "gs://bucket/shards"
