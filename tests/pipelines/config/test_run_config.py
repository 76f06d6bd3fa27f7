"""Stage dataclasses: strict keys, typed values, JSON round trip, and the layering of config sources."""

import json

import pytest

from pipelines.config import DataConfig, RunConfig, TrainConfig, resolve_run_config
from tfrecord_builder.dataclass_config import ConfigError, parse_overrides


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(ValueError, match="epochz"):
        TrainConfig.from_dict({"epochz": 3})


def test_nested_unknown_key_names_the_section():
    with pytest.raises(ValueError, match="train.*lr"):
        RunConfig.from_dict({"train": {"lr": 0.1}})


def test_invalid_value_names_the_key():
    with pytest.raises(ValueError, match="data.batch_size"):
        DataConfig.from_dict({"batch_size": "many"})


def test_strings_from_the_command_line_are_coerced():
    config = DataConfig.from_dict({"batch_size": "16", "normalize": "true", "window_hop": "8000"})
    assert (config.batch_size, config.normalize, config.window_hop) == (16, True, 8000)


def test_json_round_trip(tmp_path):
    config = RunConfig.from_dict({"train": {"epochs": 7}, "model": {"name": "lcnn", "params": {"width": 8}}})
    path = tmp_path / "config.json"
    config.save_json(str(path))
    assert RunConfig.load_json(str(path)) == config
    assert json.loads(path.read_text())["train"]["epochs"] == 7


def test_overrides_parse_json_values_and_nest():
    assert parse_overrides(["train.epochs=3", "model.params.dropout=0.25", "features.kind=lfcc"]) == {
        "train": {"epochs": 3}, "model": {"params": {"dropout": 0.25}}, "features": {"kind": "lfcc"},
    }


def test_override_without_equals_is_rejected():
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["train.epochs"])


def test_layers_later_sources_win(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epochs: 4\n  learning_rate: 0.01\ndata:\n  batch_size: 8\n")
    config = resolve_run_config(
        config_file=str(path), flags={"data": {"batch_size": 16}}, overrides=["train.learning_rate=0.5"]
    )
    assert (config.train.epochs, config.data.batch_size, config.train.learning_rate) == (4, 16, 0.5)


def test_changing_model_drops_the_previous_models_params(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": {"name": "lcnn", "params": {"width": 8}}}))
    config = resolve_run_config(config_file=str(path), flags={"model": {"name": "custom_cnn"}})
    assert config.model.params == {}


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        resolve_run_config(config_file=str(path))


@pytest.mark.parametrize("loss, options, wrong", [("amsoftmax", '{"margin_real": 0.9}', "margin_real"),
                                                  ("ocsoftmax", '{"margin": 0.2}', "margin")])
def test_loss_options_of_another_loss_are_refused_at_resolution(loss, options, wrong):
    with pytest.raises(ConfigError, match=f"train.loss_options: \\['{wrong}'\\]"):
        resolve_run_config(overrides=["model.name=lcnn", f"train.loss={loss}", f"train.loss_options={options}"])


def test_options_of_the_chosen_margin_loss_resolve():
    resolved = resolve_run_config(overrides=["model.name=lcnn", "train.loss=amsoftmax",
                                             'train.loss_options={"margin": 0.3, "scale": 20}'])
    assert resolved.train.loss_options == {"margin": 0.3, "scale": 20}
