"""The default recipe applies only when nothing names a model; every preset resolves to a runnable configuration."""

import json

import pytest

from pipelines.config import PRESETS, RunConfig, get_preset, resolve_run_config
from pipelines.config.presets import DEFAULT_PRESET


def _default():
    return RunConfig.from_dict(get_preset(DEFAULT_PRESET))


def test_no_preset_and_no_model_gives_the_default_recipe():
    resolved = resolve_run_config(default_preset=DEFAULT_PRESET, overrides=["train.epochs=3"])
    expected = _default()
    assert resolved.model == expected.model and resolved.features == expected.features
    assert resolved.augment == expected.augment and resolved.train.epochs == 3


@pytest.mark.parametrize("where", ["flags", "overrides", "config_file"])
def test_naming_a_model_starts_from_the_plain_defaults(where, tmp_path):
    values = {"flags": {"model": {"name": "lcnn"}}, "overrides": ["model.name=lcnn"]}
    kwargs = {where: values[where]} if where in values else {}
    if where == "config_file":
        path = tmp_path / "run.json"
        path.write_text(json.dumps({"model": {"name": "lcnn"}}))
        kwargs = {"config_file": str(path)}
    resolved = resolve_run_config(default_preset=DEFAULT_PRESET, **kwargs)
    plain = RunConfig()
    assert (resolved.model, resolved.features, resolved.augment) == (plain.model, plain.features, plain.augment)


def test_an_explicit_preset_wins_over_the_default():
    assert resolve_run_config("demo", default_preset=DEFAULT_PRESET).data.clip_samples == 32000


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves(name):
    assert resolve_run_config(name).model.name == PRESETS[name]["model"]["name"]
