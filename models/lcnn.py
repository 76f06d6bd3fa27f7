"""LCNN with Max-Feature-Map activations: the LFCC-LCNN ASVspoof baseline (Lavrentyeva et al. 2019; Wang 2021).

Layer plan (channels before MFM halves them, for base width 64): conv5x5 64, pool, conv1x1 64, BN, conv3x3 96,
pool, BN, conv1x1 96, BN, conv3x3 128, pool, conv1x1 128, BN, conv3x3 64, BN, conv1x1 64, BN, conv3x3 64, pool,
then dropout, pooling, FC 160 -> MFM -> BN and the logit.
"""

import keras
from keras import ops

from models.heads import classifier_head, feature_inputs, pool_features, register_preset_builder
from models.layers import ZooModel, batch_norm

# (kernel, channels as a multiple of the base width, max-pool after, batch norm after). Lavrentyeva et al. (2019).
LAYER_PLAN = (
    (5, 1.0, True, False),
    (1, 1.0, False, True),
    (3, 1.5, True, True),
    (1, 1.5, False, True),
    (3, 2.0, True, False),
    (1, 2.0, False, True),
    (3, 1.0, False, True),
    (1, 1.0, False, True),
    (3, 1.0, True, False),
)

PRESETS = {
    "lcnn": dict(base_filters=64, embedding_units=160, dropout=0.2),
    "tiny": dict(base_filters=8, embedding_units=8),  # for tests: hidden from listings
}


@keras.saving.register_keras_serializable(package="fakespeech")
class MaxFeatureMap(keras.layers.Layer):
    """Max-Feature-Map: splits the channels into two halves and keeps their element-wise maximum.

    A competitive activation (Wu et al. 2018) that halves the channels and acts as feature selection.

    Args:
        axis: the channel axis (its size must be even).

    Example:
        >>> tuple(MaxFeatureMap()(np.zeros((2, 4, 4, 8), "float32")).shape)
        (2, 4, 4, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        # (batch, ..., channels) -> (batch, ..., channels / 2)
        first, second = ops.split(inputs, 2, axis=self.axis)
        return ops.maximum(first, second)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self.axis] % 2:
            raise ValueError(f"MaxFeatureMap needs an even channel count, got shape {tuple(input_shape)}")
        shape[self.axis] //= 2
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class LCNN(ZooModel):
    """Light CNN for spoof detection on LFCC/log-spectrogram input.

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        base_filters: width of the first convolution (64 in the baseline); the plan scales with it.
        embedding_units: FC width before its MFM (160 -> 80 in the baseline).
        dropout: dropout after the convolutions and before the logit.
        pooling: pooling of the last feature map ("avg", "max", "avgmax", or "flatten" for fixed-length input).
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments.

    Example:
        >>> tuple(LCNN((64, 32), base_filters=8, embedding_units=8).output.shape)
        (None, 1)
    """

    default_name = "lcnn"

    def __init__(
        self,
        input_shape,
        base_filters=64,
        embedding_units=160,
        dropout=0.2,
        pooling="avgmax",
        head="linear",
        head_options=None,
        **kwargs,
    ):
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=True)  # (batch, time, bins, 1)
        for i, (kernel, multiple, pool, norm) in enumerate(LAYER_PLAN):
            channels = 2 * int(round(base_filters * multiple / 2))
            x = keras.layers.Conv2D(channels, kernel, padding="same", name=f"conv_{i}")(x)
            x = MaxFeatureMap(name=f"mfm_{i}")(x)
            if pool:
                x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool_{i}")(x)
            if norm:
                x = batch_norm(f"bn_{i}")(x)  # PyTorch's BatchNorm2d defaults
        x = keras.layers.Dropout(dropout, name="conv_dropout")(x)
        x = pool_features(x, pooling, name="conv")
        x = keras.layers.Dense(embedding_units, name="fc")(x)
        x = MaxFeatureMap(name="fc_mfm")(x)
        x = batch_norm("fc_bn")(x)
        logits = classifier_head(x, pooling=None, dropout=dropout, head=head, head_options=head_options)
        super().__init__(inputs, logits, locals(), **kwargs)


lcnn = register_preset_builder(
    "lcnn", LCNN, PRESETS, "LFCC-LCNN ASVspoof baseline: Max-Feature-Map convolutions with batch norm."
)
