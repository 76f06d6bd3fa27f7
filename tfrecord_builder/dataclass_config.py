"""What every fakespeech stage configuration shares: strict `from_dict`, type coercion, checks, `--set` overrides.

Each stage (`BuildConfig` here, `DataConfig`, `TrainConfig`, ... in `pipelines.config`) is a frozen dataclass
with `ConfigMixin`. Values arrive from JSON, YAML, CLI flags and `--set key=value`; `from_dict` coerces them to the
annotated types and `__post_init__` checks their ranges, so a configuration that cannot run fails with a
`ConfigError` naming the key before anything is written. This module is the one owner of those rules; it lives in
the builder because the builder is the bottom layer that every other package may import.
"""

import dataclasses
import json
import math
import typing

from tfrecord_builder import atomic

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class ConfigError(ValueError):
    """A configuration value that cannot run: the message names the key (`train.schedule`) and what is allowed."""


class ConfigMixin:
    """Mixin for frozen dataclasses: strict `from_dict`, `to_dict`, `replace`, and JSON files.

    A subclass may set `SECTION` (e.g. "train") so that messages name keys as a user types them in `--set`.
    """

    SECTION = ""

    @classmethod
    def key(cls, name):
        return f"{cls.SECTION}.{name}" if cls.SECTION else name

    @classmethod
    def from_dict(cls, values, where=None):
        where_text = f" in {where}" if where else ""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"{cls.SECTION or cls.__name__}{where_text}: expected a mapping of keys "
                              f"{sorted(f.name for f in dataclasses.fields(cls))}, got {values!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown {cls.SECTION or cls.__name__} key(s){where_text}: {unknown}; "
                              f"valid keys: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        coerced = {name: coerce(value, hints.get(name), cls.key(name)) for name, value in values.items()}
        return cls(**coerced)

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def save_json(self, path):
        atomic.write_json(path, self.to_dict())

    @classmethod
    def load_json(cls, path):
        return cls.from_dict(read_json(path), where=path)


def read_json(path):
    """A JSON file's content, or a `ValueError` (a damaged input, not a usage error) naming the file and the fault."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not UTF-8); expected JSON") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); was the file truncated?") from None


def coerce(value, hint, key):
    """`value` as the annotated type `hint`, or a `ConfigError` naming `key`, the value and the expected type."""
    if hint is None:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        if value is None:
            return None
        return coerce(value, inner[0], key) if len(inner) == 1 else value
    if value is None:
        raise ConfigError(f"{key}: a value is required (got null)")
    if dataclasses.is_dataclass(hint):
        return hint.from_dict(value)  # a non-mapping is refused there, naming the section (its SECTION)
    if hint in (tuple, list) or origin in (tuple, list):
        return _coerce_sequence(value, args, key)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping (a JSON object such as {{\"units\": 8}}), got {value!r}")
        return dict(value)
    if hint is bool:
        return _coerce_bool(value, key)
    if hint is int:
        return _coerce_int(value, key)
    if hint is float:
        return _coerce_float(value, key)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _coerce_sequence(value, args, key):
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list (e.g. [1, 2] or \"1,2\"), got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0], key) for v in value)
    if args:
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)} ({value!r})")
        return tuple(coerce(v, item, key) for v, item in zip(value, args))
    return tuple(value)


def _coerce_bool(value, key):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{key}: expected true or false, got {value!r}")


def _coerce_int(value, key):
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{key}: expected an integer, got {value!r}")


def _coerce_float(value, key):
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    return number


def check_choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f"{config.key(name)}: {value!r} is not one of {', '.join(map(str, choices))}")


def check_range(config, name, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """`low <= value <= high` (bounds optional, each inclusive or not); None passes (an unset Optional)."""
    value = getattr(config, name)
    if value is None:
        return
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "" if low is None else f"{low} {'<=' if low_inclusive else '<'} "
        right = "" if high is None else f" {'<=' if high_inclusive else '<'} {high}"
        raise ConfigError(f"{config.key(name)}: {value!r} is out of range (need {left}value{right})")


def parse_overrides(pairs):
    """`["train.epochs=3", "model.name=lcnn"]` -> a nested dict; values are parsed as JSON when they can be."""
    result = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {pair}: {part} is given a value and keys at once")
            node = child
        node[parts[-1]] = value
    return result


def deep_merge(base, update):
    """`update` laid over `base`: nested mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
