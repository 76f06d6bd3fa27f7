"""Resolves a `RunConfig` from defaults, a preset, a JSON/YAML file, CLI flags and `--set key=value` overrides."""

import json
import os

import yaml

from pipelines.config import RunConfig
from pipelines.config_base import parse_overrides


def load_config_file(path):
    """Reads a JSON or YAML config file (by extension; YAML is a superset of JSON, so anything else tries YAML)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections (data, features, augment, model, train)")
    return data


def deep_merge(base, update):
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_run_config(preset=None, config_file=None, flags=None, overrides=()):
    """Layers, later wins: defaults < preset < config file < flags (a nested dict) < `--set` overrides."""
    layers = [RunConfig().to_dict()]
    if preset:
        from pipelines.presets import get_preset

        layers.append(get_preset(preset))
    if config_file:
        layers.append(load_config_file(config_file))
    merged = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    flags = flags or {}
    new_model = flags.get("model", {}).get("name")
    if new_model and new_model != merged["model"]["name"]:
        # Another model's keyword arguments would not fit this one.
        merged["model"] = {**merged["model"], "params": {}}
    merged = deep_merge(deep_merge(merged, flags), parse_overrides(overrides))
    return RunConfig.from_dict(merged, where="the run configuration")
