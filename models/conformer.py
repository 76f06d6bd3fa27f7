"""Conformer (Gulati et al. 2020) for spoof detection: the audio-classification-models 1.0.9 encoder in Keras 3.

`ConformerEncoder` keeps that package's layer names (`conformer_encoder_subsampling`, `conformer_encoder_linear`,
`conformer_encoder_block_3`, ...) and weight order, so `load_keras2_h5_weights` (or `Conformer(...,
pretrained_weights=PATH)`) reads its published Keras 2 `conformer-encoder.h5` by layer name. `Conformer` adds the
package's head (global average pooling, Dense(32, selu)) and our float32 logit.
"""

import dataclasses
import warnings

import h5py
import keras

from models.conformer_layers import Conv2dSubsampling, ConformerBlock, PositionalEncoding, l2_regularizer
from models.heads import classifier_head, feature_inputs, register_preset_builder
from models.layers import ZooModel, constructor_argument_names

# Layer names in the published weights start with the package's encoder name, whatever our model is called.
PREFIX = "conformer_encoder"

PRESETS = {
    # The published encoder (TensorFlowASR "Conformer S"): 10.3 M encoder parameters at 80 mel bins.
    "conformer_s": dict(subsampling_filters=144, dmodel=144, num_blocks=16, num_heads=4, head_size=36, kernel_size=32),
    # Trains on a laptop CPU.
    "conformer_xs": dict(subsampling_filters=64, dmodel=64, num_blocks=4, num_heads=2, head_size=32, kernel_size=15),
    # For tests only: a hidden preset, left out of listings.
    "tiny": dict(
        subsampling_filters=8, dmodel=16, num_blocks=1, num_heads=2, head_size=8, kernel_size=3, kernel_l2=0.0
    ),
}


@keras.saving.register_keras_serializable(package="fakespeech")
class ConformerEncoder(ZooModel):
    """Conv2D subsampling x4 -> Dense projection -> dropout -> Conformer blocks with relative-position MHSA.

    Args:
        input_shape: (time, bins, 1); time and bins must be multiples of 4 for the default strides to keep the
            package's shapes.
        subsampling_filters: channels of the two subsampling convolutions.
        dmodel: model width.
        num_blocks: Conformer blocks.
        num_heads: attention heads.
        head_size: width of each head.
        kernel_size: depthwise convolution length.
        fc_factor: feed-forward residual scale.
        dropout: dropout rate in the encoder.
        kernel_l2: L2 factor on every kernel, bias and norm parameter (the package uses 1e-6).

    Example:
        >>> encoder = ConformerEncoder((32, 16, 1), subsampling_filters=8, dmodel=16, num_blocks=1, num_heads=2,
        ...                            head_size=8, kernel_size=3)
        >>> tuple(encoder.output.shape)
        (None, 8, 16)
    """

    default_name = PREFIX

    def __init__(
        self,
        input_shape,
        subsampling_filters=144,
        dmodel=144,
        num_blocks=16,
        num_heads=4,
        head_size=36,
        kernel_size=32,
        fc_factor=0.5,
        dropout=0.1,
        kernel_l2=1e-6,
        **kwargs,
    ):
        # === Layers ===
        subsampling = Conv2dSubsampling(subsampling_filters, kernel_l2=kernel_l2, name=f"{PREFIX}_subsampling")
        linear = keras.layers.Dense(
            dmodel,
            name=f"{PREFIX}_linear",
            kernel_regularizer=l2_regularizer(kernel_l2),
            bias_regularizer=l2_regularizer(kernel_l2),
        )
        positional_encoding = PositionalEncoding(name=f"{PREFIX}_pe")
        drop = keras.layers.Dropout(dropout, name=f"{PREFIX}_dropout")
        blocks = [
            ConformerBlock(
                dmodel,
                dropout=dropout,
                fc_factor=fc_factor,
                head_size=head_size,
                num_heads=num_heads,
                kernel_size=kernel_size,
                kernel_l2=kernel_l2,
                name=f"{PREFIX}_block_{i}",
            )
            for i in range(num_blocks)
        ]

        # === Functional graph ===
        inputs = keras.Input(shape=tuple(input_shape), name="spectrogram")
        x = linear(subsampling(inputs))  # (batch, time / 4, dmodel)
        pos = positional_encoding(x)  # (1, time / 4, dmodel)
        x = drop(x)
        for block in blocks:
            x = block([x, pos])
        super().__init__(inputs, x, locals(), **kwargs)


@keras.saving.register_keras_serializable(package="fakespeech")
class Conformer(ZooModel):
    """Conformer spoof classifier: `ConformerEncoder` -> average over time -> Dense(32, selu) -> logit.

    With the defaults and input (128, 80, 1) it has exactly the parameters of audio-classification-models'
    `Conformer()` (its sigmoid is our `from_logits=True` loss).

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        pretrained_weights: optional path of a Keras 2 `.h5` encoder file (the package's `conformer-encoder.h5`),
            loaded by layer name; layers left without weights and unused file layers are warned about and kept in
            `self.pretrained_report`.
        pooling: head pooling over time.
        hidden_units: width of the head's hidden layer (`None` for none).
        hidden_activation: its activation.
        head_dropout: dropout in the head.
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `ConformerEncoder` arguments (`dmodel`, `num_blocks`, ...) and `keras.Model` arguments.

    Example:
        >>> model = Conformer((32, 16), **PRESETS["tiny"])
        >>> tuple(model.output.shape)
        (None, 1)
    """

    default_name = "conformer"

    def __init__(
        self,
        input_shape,
        pretrained_weights=None,
        pooling="avg",
        hidden_units=32,
        hidden_activation="selu",
        head_dropout=0.0,
        head="linear",
        head_options=None,
        **kwargs,
    ):
        encoder_args = {k: kwargs.pop(k) for k in constructor_argument_names(ConformerEncoder) if k in kwargs}
        # === Layers ===
        inputs, x = feature_inputs(input_shape, channel_axis=True)
        encoder = ConformerEncoder(tuple(x.shape[1:]), name=PREFIX, **encoder_args)

        # === Functional graph ===
        logits = classifier_head(
            encoder(x),
            pooling=pooling,
            dropout=head_dropout,
            hidden_units=hidden_units,
            hidden_activation=hidden_activation,
            head=head,
            head_options=head_options,
        )
        super().__init__(inputs, logits, locals(), **kwargs)
        self.encoder = encoder
        self.encoder_args = encoder_args
        self.pretrained_report = load_keras2_h5_weights(encoder, pretrained_weights) if pretrained_weights else None

    def get_config(self):
        # The loaded weights travel inside the saved model; re-reading a path that may be gone would be wrong.
        return {**super().get_config(), "pretrained_weights": None, **self.encoder_args}


@dataclasses.dataclass(frozen=True)
class WeightLoadReport:
    """What `load_keras2_h5_weights` did: layer names that got weights, ours that got none, file ones unused."""

    loaded: tuple
    missing: tuple
    unused: tuple


def load_keras2_h5_weights(model, path):
    """Loads a Keras 2 HDF5 weights file into `model` by top-level layer name, weights in Keras 2 order.

    Keras 2 stores, for each layer, its `trainable_weights + non_trainable_weights` in order under the layer's
    name (either at the top of the file, from `save_weights`, or under `model_weights`, from `model.save`). A file
    group whose name is not one of ours is split by the layer names found in its weight paths, which covers files
    saved from a model that wraps the encoder.

    Args:
        model: a built `keras.Model` (e.g. `ConformerEncoder`).
        path: the `.h5` file.

    Returns:
        `WeightLoadReport`. Our weighted layers that got nothing (`missing`) and file layers that matched nothing
        (`unused`) are also emitted as a `UserWarning`.

    Raises:
        ValueError: a layer matched by name has a different number or shape of weights (a size mismatch).
    """
    ours = {layer.name: layer for layer in model.layers if layer.weights}
    found = _read_keras2_h5(path, set(ours))
    loaded = []
    for name, arrays in found.items():
        if name not in ours:
            continue
        _assign(ours[name], arrays, path)
        loaded.append(name)
    report = WeightLoadReport(
        loaded=tuple(loaded),
        missing=tuple(n for n in ours if n not in found),
        unused=tuple(n for n in found if n not in ours),
    )
    if report.missing or report.unused:
        warnings.warn(
            f"{path}: {len(report.missing)} layer(s) of {model.name!r} got no weights {list(report.missing)}; "
            f"{len(report.unused)} layer(s) in the file were not used {list(report.unused)}",
            stacklevel=2,
        )
    return report


def _read_keras2_h5(path, our_names):
    """Returns {layer name: [arrays in stored order]} from a Keras 2 weights file."""
    found = {}
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "model_weights" in file else file
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: not a Keras 2 HDF5 weights file (no 'layer_names' attribute)")
        for group_name in _decode(root.attrs["layer_names"]):
            group = root[group_name]
            for weight_name in _decode(group.attrs.get("weight_names", [])):
                owner = group_name if group_name in our_names else _owner(weight_name, our_names, group_name)
                found.setdefault(owner, []).append(group[weight_name][()])
    return found


def _owner(weight_name, our_names, default):
    for part in weight_name.split("/"):
        if part in our_names:
            return part
    return default


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def _assign(layer, arrays, path):
    variables = layer.trainable_weights + layer.non_trainable_weights
    if len(variables) != len(arrays):
        raise ValueError(
            f"{path}: layer {layer.name!r} has {len(variables)} weights but the file has {len(arrays)}"
        )
    for variable, array in zip(variables, arrays):
        if tuple(variable.shape) != tuple(array.shape):
            raise ValueError(
                f"{path}: layer {layer.name!r} weight {variable.path!r} has shape {tuple(variable.shape)}, "
                f"the file has {tuple(array.shape)} (a different model size?)"
            )
    for variable, array in zip(variables, arrays):
        variable.assign(array)


conformer = register_preset_builder(
    "conformer",
    Conformer,
    PRESETS,
    "Conformer encoder (relative-position MHSA) + pooling head; loads audio-classification-models weights.",
)
