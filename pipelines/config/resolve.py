"""Resolves a `RunConfig` from defaults, a preset, a JSON/YAML file, CLI flags and `--set key=value` overrides.

Layers, later wins: defaults < `--preset` < `--config` file < flags < `--set`. The result is checked completely
(every stage's own checks, the model's name in the registry, and that the model takes what the features give), so
`fakespeech train` can refuse a configuration before it writes anything.
"""

import json
import os

import yaml

import models
from models.losses import loss_option_names
from pipelines.config.presets import get_preset
from pipelines.config.stages import FEATURE_OUTPUT_KINDS, RunConfig
from tfrecord_builder.dataclass_config import ConfigError, deep_merge, parse_overrides

# model input kind -> the feature output kinds it accepts ("vector" models also pool (time, bins) features).
ACCEPTED_INPUTS = {"waveform": ("waveform",), "features": ("features",), "vector": ("vector", "features")}


def load_config_file(path):
    """Reads a JSON or YAML config file (by extension; anything but .json is read as YAML, a superset of JSON)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config {path}: no such file")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a text file (not UTF-8)") from None
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = "JSON" if path.endswith(".json") else "YAML"
        raise ConfigError(f"--config {path}: not valid {kind}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of sections (data, features, augment, model, train)")
    return data


def check_model(run_config):
    """The model is registered, takes the input the feature front end produces, and its loss takes the options."""
    name = run_config.model.name
    if name not in models.available():
        raise ConfigError(f"model.name: unknown model {name!r}; available: {', '.join(models.available())}")
    entry = models.get_entry(name)
    produced = FEATURE_OUTPUT_KINDS[run_config.features.kind]
    if produced not in ACCEPTED_INPUTS[entry.input_kind]:
        wanted = [kind for kind, output in FEATURE_OUTPUT_KINDS.items() if output in ACCEPTED_INPUTS[entry.input_kind]]
        raise ConfigError(f"model {name!r} takes {entry.input_kind} input but features.kind="
                          f"{run_config.features.kind!r} gives {produced}; set features.kind to one of {wanted}")
    train = run_config.train
    unknown = sorted(set(train.loss_options) - set(loss_option_names(train.loss)))
    if unknown:
        raise ConfigError(f"train.loss_options: {unknown} are not options of train.loss={train.loss!r}; it takes "
                          f"{', '.join(n for n in loss_option_names(train.loss) if n != 'label_smoothing')}")
    return run_config


def resolve_run_config(preset=None, config_file=None, flags=None, overrides=(), default_preset=None):
    """The checked `RunConfig` of the layers (see the module docstring); `ConfigError` names the offending key.

    `default_preset` is the preset used when `preset` is not given and no layer names a model (`model.name` in the
    config file, the flags or the overrides): `fakespeech train` passes `DEFAULT_PRESET`, so that a bare
    `fakespeech train --shards DIR` trains the default recipe while `--model NAME` starts from the plain defaults.
    """
    file_config = load_config_file(config_file) if config_file else {}
    flags = flags or {}
    set_config = parse_overrides(overrides)
    if not preset and default_preset and not any(_model_name(layer) for layer in (file_config, flags, set_config)):
        preset = default_preset
    merged = RunConfig().to_dict()
    if preset:
        merged = deep_merge(merged, get_preset(preset))
    merged = deep_merge(merged, file_config)
    new_model = flags.get("model", {}).get("name")
    if new_model and new_model != merged["model"]["name"]:
        # Another model's keyword arguments would not fit this one.
        merged["model"] = {**merged["model"], "params": {}}
    merged = deep_merge(deep_merge(merged, flags), set_config)
    return with_absolute_paths(check_model(RunConfig.from_dict(merged)))


def _model_name(layer):
    model = layer.get("model")
    return model.get("name") if isinstance(model, dict) else None


def with_absolute_paths(run_config):
    """Local paths made absolute, so a run directory works from any folder (`gs://` paths stay as they are)."""

    def absolute(path):
        return path if path is None or "://" in path else os.path.abspath(path)

    weights = run_config.model.pretrained_weights
    if weights and os.path.exists(weights):  # otherwise it may name a shipped preset, not a file
        weights = absolute(weights)
    return run_config.replace(
        data=run_config.data.replace(shards=absolute(run_config.data.shards)).to_dict(),
        model=run_config.model.replace(pretrained_weights=weights).to_dict(),
    )
