"""Pieces every architecture shares: the input adapter and the classifier head.

Every model in the zoo ends in the same head, so scores mean the same thing whatever the backbone: pooling, optional
dropout, an optional hidden layer, and `Dense(1, name="predictions", dtype="float32")`, the logit of "spoof". The
last layer is float32 so that mixed precision never rounds the logit (or the loss computed from it) to float16.

`head="ocsoftmax"` or `head="amsoftmax"` replaces that Dense by a linear embedding and a cosine-scoring layer
(`models.margin_heads`), still named "predictions" and still one float32 spoof logit, for training with the loss of
the same name (`models.losses`).
"""

import keras
import numpy as np

from models.margin_heads import AM_SOFTMAX_DEFAULTS, OC_SOFTMAX_DEFAULTS, AMSoftmaxScore, OCSoftmaxScore
from models.registry import register_model

_POOLINGS = ("avg", "max", "avgmax", "flatten", None)
# AIR-ASVspoof's embedding width for OC-softmax / AM-softmax (`--enc_dim 256`).
DEFAULT_EMBEDDING_UNITS = 256
# The options each head takes (in `head_options`) and their defaults.
HEAD_OPTIONS = {
    "linear": {},
    "ocsoftmax": {"embedding_units": DEFAULT_EMBEDDING_UNITS, **OC_SOFTMAX_DEFAULTS},
    "amsoftmax": {"embedding_units": DEFAULT_EMBEDDING_UNITS, "scale": AM_SOFTMAX_DEFAULTS["scale"]},
}
HEADS = tuple(HEAD_OPTIONS)


def feature_inputs(input_shape, channel_axis, name="features"):
    """Creates the model input and adapts (time, bins) <-> (time, bins, 1).

    Feature models accept either shape so a spectrogram front end can feed them without a reshape of its own.

    Args:
        input_shape: (time, bins) or (time, bins, 1), without the batch axis.
        channel_axis: `True` for 2-D convolutions (the returned tensor is (batch, time, bins, 1)), `False` for
            sequence models (the returned tensor is (batch, time, bins)).
        name: name of the `keras.Input`.

    Returns:
        `(inputs, x)`: the `keras.Input` and the tensor to feed the backbone.

    Example:
        >>> inputs, x = feature_inputs((400, 80), channel_axis=True)
        >>> tuple(x.shape)
        (None, 400, 80, 1)
    """
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) == 3 and input_shape[-1] != 1:
        raise ValueError(f"input_shape {input_shape}: a 3-D feature input must have one channel, (time, bins, 1)")
    if len(input_shape) not in (2, 3):
        raise ValueError(f"input_shape {input_shape}: feature models take (time, bins) or (time, bins, 1)")
    inputs = keras.Input(shape=input_shape, name=name)
    x = inputs
    if channel_axis and len(input_shape) == 2:
        x = keras.layers.Reshape(input_shape + (1,), name="add_channel")(x)
    elif not channel_axis and len(input_shape) == 3:
        x = keras.layers.Reshape(input_shape[:2], name="drop_channel")(x)
    return inputs, x


def classifier_head(
    x,
    pooling="avg",
    dropout=0.0,
    hidden_units=None,
    hidden_activation="relu",
    name="head",
    head="linear",
    head_options=None,
):
    """Maps a backbone output to one float32 logit for "spoof", shape (batch, 1).

    Args:
        x: symbolic tensor (batch, dims), (batch, time, dims) or (batch, height, width, channels).
        pooling: "avg", "max", "avgmax" (both, concatenated), "flatten", or `None` for an already pooled (batch, dims).
        dropout: rate applied just before the logit layer (or the embedding of a margin head); 0 adds no layer.
        hidden_units: optional width of a hidden dense layer between pooling and the logit.
        hidden_activation: activation of the hidden layer.
        name: prefix of the head's layer names (the logit layer is always "predictions").
        head: "linear" (`Dense(1)`), "ocsoftmax" or "amsoftmax" (see `output_layers`).
        head_options: options of a margin head (`HEAD_OPTIONS`); `None` for the defaults.

    Returns:
        The logit tensor (batch, 1), float32.

    Example:
        >>> inputs = keras.Input((10, 8))
        >>> logits = classifier_head(inputs, pooling="avg", hidden_units=32, hidden_activation="selu")
        >>> tuple(logits.shape), logits.dtype
        ((None, 1), 'float32')
    """
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
    x = pool_features(x, pooling, name)
    if hidden_units:
        x = keras.layers.Dense(hidden_units, activation=hidden_activation, name=f"{name}_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return output_layers(x, head, head_options, name)


def resolve_head(head, head_options=None):
    """Checks a head name and its options; returns the complete options (defaults filled in).

    Raises:
        ValueError: an unknown head, an option the head does not take, or a bad `embedding_units`, naming it.

    Example:
        >>> resolve_head("ocsoftmax", {"embedding_units": 64})["margin_real"]
        0.9
    """
    if head not in HEAD_OPTIONS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    options = dict(head_options or {})
    unknown = sorted(set(options) - set(HEAD_OPTIONS[head]))
    if unknown:
        allowed = ", ".join(HEAD_OPTIONS[head]) or "none"
        raise ValueError(f"head_options for head {head!r}: unknown {unknown}; allowed: {allowed}")
    options = {**HEAD_OPTIONS[head], **options}
    units = options.get("embedding_units")
    if units is not None and (isinstance(units, bool) or not isinstance(units, int) or units < 1):
        raise ValueError(f"head_options embedding_units must be a positive integer or None, got {units!r}")
    return options  # the score layers check their scale and margins


def output_layers(x, head="linear", head_options=None, name="head"):
    """The last layers of a classifier: (batch, dims) -> (batch, 1) float32 spoof logit, named "predictions".

    "linear": `Dense(1)`. "ocsoftmax" / "amsoftmax": a linear `Dense(embedding_units)` embedding (AIR-ASVspoof's
    `enc_dim`; `embedding_units=None` takes `x` itself as the embedding), then `OCSoftmaxScore` / `AMSoftmaxScore`.
    """
    options = resolve_head(head, head_options)
    if head == "linear":
        return keras.layers.Dense(1, name="predictions", dtype="float32")(x)
    units = options.pop("embedding_units")
    if units is not None:
        x = keras.layers.Dense(units, name=f"{name}_embedding")(x)
    score = OCSoftmaxScore if head == "ocsoftmax" else AMSoftmaxScore
    return score(**options, name="predictions")(x)


def pool_features(x, pooling, name="head"):
    """Pools (batch, time, dims) or (batch, height, width, channels) to (batch, dims); see `classifier_head`."""
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
    rank = len(x.shape)
    if pooling is None or rank == 2:
        if rank != 2:
            raise ValueError(f"pooling=None needs a pooled (batch, dims) tensor, got shape {tuple(x.shape)}")
        return x
    if pooling == "flatten":
        return keras.layers.Flatten(name=f"{name}_flatten")(x)
    layers = {
        3: (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalMaxPooling1D),
        4: (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D),
    }
    if rank not in layers:
        raise ValueError(f"cannot pool a tensor of shape {tuple(x.shape)}")
    average, maximum = layers[rank]
    if pooling == "avg":
        return average(name=f"{name}_avg_pool")(x)
    if pooling == "max":
        return maximum(name=f"{name}_max_pool")(x)
    return keras.layers.Concatenate(name=f"{name}_avgmax_pool")(
        [average(name=f"{name}_avg_pool")(x), maximum(name=f"{name}_max_pool")(x)]
    )


def resolve_preset(presets, preset, config, model_name):
    """Merges a named size preset with explicit keyword arguments (explicit ones win).

    Args:
        presets: dict name -> dict of constructor arguments.
        preset: a key of `presets`, or `None` for the constructor defaults.
        config: explicit keyword arguments.
        model_name: used in the error message.

    Returns:
        A new dict of constructor arguments.
    """
    if preset is None:
        return dict(config)
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r} for model {model_name!r}; choose from {', '.join(presets)}")
    return {**presets[preset], **config}


def register_preset_builder(name, model_class, presets, description, input_kind="features"):
    """Registers `name` with a builder `(input_shape, preset=None, **config) -> model_class(input_shape, ...)`.

    The builder merges the named size preset with the explicit arguments (`resolve_preset`); a "tiny" preset is a
    size for tests, hidden from listings. Returns the builder, for the defining module to keep under `name`.

    Example:
        >>> custom_cnn = register_preset_builder("custom_cnn", CustomCNN, PRESETS, "Custom-CNN: ...")
    """

    def builder(input_shape, preset=None, **config):
        return model_class(input_shape, **resolve_preset(presets, preset, config, name))

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = model_class.__module__
    builder.__doc__ = description
    hidden = tuple(preset for preset in ("tiny",) if preset in presets)
    return register_model(name, input_kind=input_kind, presets=presets, hidden_presets=hidden)(builder)


def trainable_parameter_count(model):
    """The number of trained parameters (the figure papers and PyTorch report; no batch-norm running statistics)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
