"""Custom-CNN: the plain 2-D CNN on spectrograms reported at 97.23% accuracy on the Fake-or-Real (FoR) dataset."""

import keras

from models.heads import classifier_head, feature_inputs, resolve_preset
from models.registry import register_model

PRESETS = {
    "custom_cnn": dict(filters=(32, 64, 128, 128), dense_units=512, dropout=0.5),
    "custom_cnn_256": dict(filters=(32, 64, 128, 256), dense_units=512, dropout=0.5),
    "tiny": dict(filters=(4, 8), dense_units=16, dropout=0.5),
}


@keras.saving.register_keras_serializable(package="fakespeech")
class CustomCNN(keras.Model):
    """[3x3 Conv2D + ReLU -> 2x2 max-pool] per entry of `filters` -> flatten -> Dense + ReLU -> dropout -> logit.

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        filters: channels of each convolution stage; time and bins shrink 2x per stage.
        dense_units: width of the dense layer.
        dropout: dropout before the logit.
        pooling: "flatten" (the published model) or a global pooling ("avg", "max", "avgmax") that makes the
            parameter count independent of the clip length.
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
        >>> model = CustomCNN((64, 40), filters=(8, 16), dense_units=32)
        >>> tuple(model.output.shape)
        (None, 1)
    """

    def __init__(
        self, input_shape, filters=(32, 64, 128, 128), dense_units=512, dropout=0.5, pooling="flatten", **kwargs
    ):
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=True)  # (batch, time, bins, 1)
        for i, width in enumerate(filters):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool_{i}")(x)
        logits = classifier_head(
            x, pooling=pooling, dropout=dropout, hidden_units=dense_units, hidden_activation="relu"
        )
        kwargs.setdefault("name", "custom_cnn")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.filters = tuple(filters)
        self.dense_units = dense_units
        self.dropout = dropout
        self.pooling = pooling

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": tuple(self.input_shape[1:]),
            "filters": self.filters,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "pooling": self.pooling,
        }


@register_model("custom_cnn", input_kind="features")
def custom_cnn(input_shape, preset=None, **config):
    """Custom-CNN: 3x3 convs 32-64-128-128 with 2x2 max-pooling, dense 512, dropout 0.5."""
    return CustomCNN(input_shape, **resolve_preset(PRESETS, preset, config, "custom_cnn"))
