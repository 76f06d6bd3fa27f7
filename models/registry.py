"""The model registry: `@register_model("name")` on a builder function, `build(name, input_shape, **config)`.

A model may declare its named size presets, and mark some of them hidden: a hidden preset (a size for tests and
smoke runs, like "tiny") builds by name like any other but is left out of every listing (`fakespeech models`,
error messages). A new architecture does the same with one decorator argument:

    @register_model("my_model", presets=MY_PRESETS, hidden_presets=("tiny",))
    def build_my_model(input_shape, preset=None, **config): ...
"""

import dataclasses

from models.pretrained import pretrained_build_args

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: callable
    input_kind: str  # "features" (batch, time, bins) | "vector" (batch, dims) | "waveform" (batch, samples)
    description: str
    presets: tuple = ()  # public preset names, in declaration order: the ones listings show
    hidden_presets: tuple = ()  # buildable by name, never listed

    def accepts_preset(self, preset):
        return preset in self.presets or preset in self.hidden_presets


def register_model(name, input_kind="features", description="", presets=(), hidden_presets=()):
    """Registers a builder `fn(input_shape, **config) -> keras.Model` under `name`.

    Args:
        name: the registry name.
        input_kind: "features", "vector" or "waveform".
        description: one line for listings (default: the first line of the builder's docstring).
        presets: the builder's preset names, or its presets dict; `build(name, shape, preset=P)` checks P against
            them (with an error naming the public ones). Empty: the builder checks its own `preset`.
        hidden_presets: names among `presets` to leave out of listings (test-only sizes).
    """
    if input_kind not in ("features", "vector", "waveform"):
        raise ValueError(f"input_kind must be features, vector or waveform, got {input_kind!r}")
    names, hidden = tuple(presets), tuple(hidden_presets)
    stray = [preset for preset in hidden if preset not in names]
    if stray:
        raise ValueError(f"model {name!r}: hidden_presets {stray} are not among its presets {list(names)}")

    def decorator(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered (by {_REGISTRY[name].builder.__module__})")
        public = tuple(preset for preset in names if preset not in hidden)
        description_line = description or (fn.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, fn, input_kind, description_line, public, hidden)
        return fn

    return decorator


def get_entry(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def build(name, input_shape=None, **config):
    """Builds the registered model `name` for inputs of `input_shape` (without the batch axis).

    `pretrained="aasist_asvspoof2019_la"` (see `models.pretrained`) loads a shipped weight file; input_shape may
    then be left out (the preset's clip length).
    """
    entry = get_entry(name)
    if config.get("pretrained") is not None:
        input_shape, config = pretrained_build_args(name, input_shape, config)
    config.pop("pretrained", None)
    if input_shape is None:
        raise ValueError(f"models.build({name!r}): input_shape is required (without the batch axis)")
    preset = config.get("preset")
    declared = entry.presets or entry.hidden_presets
    if preset is not None and declared and not entry.accepts_preset(preset):
        choices = ", ".join(entry.presets) if entry.presets else "none (it has no named sizes)"
        raise ValueError(f"unknown preset {preset!r} for model {name!r}; choose from {choices}")
    return entry.builder(tuple(input_shape), **config)


def available():
    return sorted(_REGISTRY)
