"""ResNet-18/34-style 2-D residual networks on spectrograms, trained from scratch.

With `backbone="keras_applications:ResNet50"` (any `keras.applications` constructor) the residual stack is replaced
by that network, built with `weights=None` and then loaded from `backbone_weights`, a file the user supplies:
nothing is ever downloaded. The single spectrogram channel is repeated to the three channels those networks expect;
no ImageNet preprocessing is applied.
"""

import keras

from models.heads import classifier_head, feature_inputs, register_preset_builder
from models.layers import ZooModel, batch_norm

PRESETS = {
    "resnet18": dict(blocks_per_stage=(2, 2, 2, 2), width=32),
    "resnet34": dict(blocks_per_stage=(3, 4, 6, 3), width=32),
    "tiny": dict(blocks_per_stage=(1, 1), width=4),  # for tests: hidden from listings
}

APPLICATIONS_PREFIX = "keras_applications:"


@keras.saving.register_keras_serializable(package="fakespeech")
class ResNet(ZooModel):
    """Stem conv -> stages of basic residual blocks (width doubles, time and bins halve per stage) -> head.

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        blocks_per_stage: basic blocks in each stage ((2, 2, 2, 2) = ResNet-18, (3, 4, 6, 3) = ResNet-34).
        width: channels of the stem and the first stage (64 in the ImageNet ResNets, 32 in the thin audio ones).
        dropout: dropout before the logit.
        pooling: head pooling ("avg", "max", "avgmax").
        backbone: `None` for the residual stack above, or "keras_applications:NAME" for `keras.applications.NAME`.
        backbone_weights: path of a weights file for that application network (required to be a local file).
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments.

    Example:
        >>> tuple(ResNet((64, 32), blocks_per_stage=(1, 1), width=8).output.shape)
        (None, 1)
    """

    default_name = "resnet"

    def __init__(
        self,
        input_shape,
        blocks_per_stage=(2, 2, 2, 2),
        width=32,
        dropout=0.0,
        pooling="avg",
        backbone=None,
        backbone_weights=None,
        head="linear",
        head_options=None,
        **kwargs,
    ):
        blocks_per_stage = tuple(blocks_per_stage)
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=True)  # (batch, time, bins, 1)
        if backbone is None:
            x = _residual_stack(x, blocks_per_stage, width)
        else:
            x = _applications_backbone(x, backbone, backbone_weights)
        logits = classifier_head(x, pooling=pooling, dropout=dropout, head=head, head_options=head_options)
        super().__init__(inputs, logits, locals(), **kwargs)

    def get_config(self):
        # The loaded weights travel inside the saved model; re-reading a path that may be gone would be wrong.
        return {**super().get_config(), "backbone_weights": None}


def _residual_stack(x, blocks_per_stage, width):
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, blocks in enumerate(blocks_per_stage):
        filters = width * 2**stage
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, stride, name=f"stage_{stage}_block_{block}")
    return x


def _basic_block(x, filters, stride, name):
    """Two 3x3 conv + BN with an identity (or 1x1 projection) shortcut, ReLU after the sum (He et al. 2016)."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_shortcut_conv")(x)
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv_1")(x)
    x = batch_norm(f"{name}_bn_1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu_1")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv_2")(x)
    x = batch_norm(f"{name}_bn_2")(x)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_relu_2")(x)


def _applications_backbone(x, backbone, weights_path):
    if not backbone.startswith(APPLICATIONS_PREFIX):
        raise ValueError(f"backbone must be None or '{APPLICATIONS_PREFIX}NAME', got {backbone!r}")
    name = backbone[len(APPLICATIONS_PREFIX) :]
    constructor = getattr(keras.applications, name, None)
    if constructor is None:
        raise ValueError(f"backbone {backbone!r}: keras.applications has no {name!r}")
    x = keras.layers.Concatenate(name="repeat_channels")([x, x, x])  # (batch, time, bins, 3)
    network = constructor(include_top=False, weights=None, input_shape=tuple(x.shape[1:]))
    if weights_path is not None:
        network.load_weights(weights_path)
    return network(x)


resnet = register_preset_builder(
    "resnet",
    ResNet,
    PRESETS,
    "ResNet-18/34-style residual CNN from scratch, or a keras.applications backbone with user-supplied weights.",
)
