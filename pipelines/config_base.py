"""`from_dict` / `to_dict` / JSON for the frozen stage dataclasses of `pipelines`."""

import dataclasses
import json
import os
import typing


class ConfigMixin:
    """Mixin for frozen dataclasses: strict `from_dict`, `to_dict`, `replace`, and atomic JSON files."""

    @classmethod
    def from_dict(cls, values, where=None):
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            where = f" in {where}" if where else ""
            raise ValueError(f"unknown {cls.__name__} key(s){where}: {unknown}; valid keys: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        for name, value in list(values.items()):
            values[name] = _coerce(value, hints.get(name), f"{cls.__name__}.{name}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def save_json(self, path):
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load_json(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f), where=path)


def _coerce(value, hint, key):
    """Converts JSON-ish values to the annotated type, with an error that names the key."""
    if hint is None or value is None:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(value, args[0], key) if len(args) == 1 else value
    if origin in (tuple, list) or hint in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        args = typing.get_args(hint)
        item = args[0] if args else None
        return tuple(_coerce(v, item, key) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return hint.from_dict(value, where=key)
    try:
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return hint(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid value for {key}: {value!r} (expected {hint.__name__})") from None
    return value


def write_json_atomic(path, data):
    """Writes JSON under a temporary name, then renames, so a reader never sees half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def parse_overrides(pairs):
    """Turns `["train.epochs=3", "model.name=lcnn"]` into a nested dict; values are parsed as JSON when they can be."""
    result = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result
