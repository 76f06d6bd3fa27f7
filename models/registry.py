"""The model registry: `@register_model("name")` on a builder function, `build(name, input_shape, **config)`."""

import dataclasses

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: callable
    input_kind: str  # "features" (batch, time, bins) | "vector" (batch, dims) | "waveform" (batch, samples)
    description: str


def register_model(name, input_kind="features", description=""):
    """Registers a builder `fn(input_shape, **config) -> keras.Model` under `name`."""
    if input_kind not in ("features", "vector", "waveform"):
        raise ValueError(f"input_kind must be features, vector or waveform, got {input_kind!r}")

    def decorator(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered (by {_REGISTRY[name].builder.__module__})")
        _REGISTRY[name] = ModelEntry(name, fn, input_kind, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return decorator


def get_entry(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def build(name, input_shape, **config):
    """Builds the registered model `name` for inputs of `input_shape` (without the batch axis)."""
    return get_entry(name).builder(tuple(input_shape), **config)


def available():
    return sorted(_REGISTRY)
