"""Custom-CNN: the plain 2-D CNN on spectrograms reported at 97.23% accuracy on the Fake-or-Real (FoR) dataset."""

import keras

from models.heads import classifier_head, feature_inputs, register_preset_builder
from models.layers import ZooModel

PRESETS = {
    "custom_cnn": dict(filters=(32, 64, 128, 128), dense_units=512, dropout=0.5),
    "custom_cnn_256": dict(filters=(32, 64, 128, 256), dense_units=512, dropout=0.5),
    "tiny": dict(filters=(4, 8), dense_units=16, dropout=0.5),  # for tests: hidden from listings
}


@keras.saving.register_keras_serializable(package="fakespeech")
class CustomCNN(ZooModel):
    """[3x3 Conv2D + ReLU -> 2x2 max-pool] per entry of `filters` -> flatten -> Dense + ReLU -> dropout -> logit.

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        filters: channels of each convolution stage; time and bins shrink 2x per stage.
        dense_units: width of the dense layer.
        dropout: dropout before the logit.
        pooling: "flatten" (the published model) or a global pooling ("avg", "max", "avgmax") that makes the
            parameter count independent of the clip length.
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
        >>> model = CustomCNN((64, 40), filters=(8, 16), dense_units=32)
        >>> tuple(model.output.shape)
        (None, 1)
    """

    default_name = "custom_cnn"

    def __init__(
        self,
        input_shape,
        filters=(32, 64, 128, 128),
        dense_units=512,
        dropout=0.5,
        pooling="flatten",
        head="linear",
        head_options=None,
        **kwargs,
    ):
        filters = tuple(filters)
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=True)  # (batch, time, bins, 1)
        for i, width in enumerate(filters):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool_{i}")(x)
        logits = classifier_head(
            x,
            pooling=pooling,
            dropout=dropout,
            hidden_units=dense_units,
            hidden_activation="relu",
            head=head,
            head_options=head_options,
        )
        super().__init__(inputs, logits, locals(), **kwargs)


custom_cnn = register_preset_builder(
    "custom_cnn",
    CustomCNN,
    PRESETS,
    "Custom-CNN: 3x3 convs 32-64-128-128 with 2x2 max-pooling, dense 512, dropout 0.5.",
)
