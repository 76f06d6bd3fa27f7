"""Small baselines from the source projects: DNN on utterance statistics, Conv1D and LSTM on frame sequences."""

import keras
from keras import ops

from models.heads import classifier_head, feature_inputs, register_preset_builder
from models.layers import ZooModel

# "tiny" sizes are for tests: registered as hidden presets, left out of listings.
DNN_PRESETS = {"dnn": dict(hidden_units=(128, 128), dropout=0.3), "tiny": dict(hidden_units=(8,), dropout=0.1)}
CONV1D_PRESETS = {
    "conv1d": dict(filters=(128, 64), kernel_size=5, dropout=0.3),
    "tiny": dict(filters=(8, 4), kernel_size=3, dropout=0.1),
}
LSTM_PRESETS = {"lstm": dict(units=128, dense_units=64, dropout=0.3), "tiny": dict(units=8, dense_units=4, dropout=0.1)}


@keras.saving.register_keras_serializable(package="fakespeech")
class UtteranceStatistics(keras.layers.Layer):
    """Summarises a (time, bins) feature sequence as one vector: per-bin mean, std and mean |delta| over time.

    On MFCCs this is the "MFCC mean/std" vector of the DNN baselines; the mean absolute frame-to-frame change is a
    cheap in-graph stand-in for their spectral-flux / zero-crossing style "how fast does it change" features.
    Computed in float32 so the variance does not lose precision under mixed precision.

    Args:
        epsilon: added to the variance before the square root (keeps the gradient finite on silent bins).

    Example:
        >>> stats = UtteranceStatistics()(np.zeros((2, 50, 20), "float32"))
        >>> tuple(stats.shape)
        (2, 60)
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        x = ops.cast(inputs, "float32")  # (batch, time, bins)
        mean = ops.mean(x, axis=1)
        std = ops.sqrt(ops.var(x, axis=1) + self.epsilon)
        delta = ops.mean(ops.abs(x[:, 1:] - x[:, :-1]), axis=1)
        return ops.cast(ops.concatenate([mean, std, delta], axis=-1), self.compute_dtype)  # (batch, 3 * bins)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 3 * input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class DNN(ZooModel):
    """Dense ReLU layers with dropout on an utterance-level vector.

    A vector input `(dims,)` is used as is; a feature input `(time, bins)` or `(time, bins, 1)` is first summarised
    in-graph by `UtteranceStatistics` (per-bin mean, std, mean |delta|: 3 * bins values), so the end-to-end model
    still takes raw waveform. A batch-norm layer standardises the vector, whose entries have very different scales.

    Args:
        input_shape: `(dims,)`, `(time, bins)` or `(time, bins, 1)`.
        hidden_units: width of each hidden ReLU layer.
        dropout: dropout after each hidden layer.
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments.

    Example:
        >>> tuple(DNN((100, 20), hidden_units=(16,)).output.shape)
        (None, 1)
    """

    default_name = "dnn"

    def __init__(
        self, input_shape, hidden_units=(128, 128), dropout=0.3, head="linear", head_options=None, **kwargs
    ):
        hidden_units = tuple(hidden_units)
        # === Layers and functional graph ===
        if len(input_shape) == 1:
            inputs = x = keras.Input(shape=tuple(input_shape), name="vector")
        else:
            inputs, x = feature_inputs(input_shape, channel_axis=False)
            x = UtteranceStatistics(name="utterance_statistics")(x)  # (batch, 3 * bins)
        x = keras.layers.BatchNormalization(name="input_norm")(x)
        for i, units in enumerate(hidden_units):
            x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = classifier_head(x, pooling=None, head=head, head_options=head_options)
        super().__init__(inputs, logits, locals(), **kwargs)


@keras.saving.register_keras_serializable(package="fakespeech")
class Conv1DNet(ZooModel):
    """[Conv1D + ReLU -> max-pool -> dropout] per entry of `filters` along time, then average over time -> logit.

    Args:
        input_shape: (time, bins) or (time, bins, 1); the bins are the Conv1D input channels.
        filters: channels of each Conv1D stage (128 -> 64 in the source project).
        kernel_size: convolution length in frames.
        pool_size: max-pooling factor after each stage.
        dropout: dropout after each stage.
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments.

    Example:
        >>> tuple(Conv1DNet((100, 20), filters=(8, 4)).output.shape)
        (None, 1)
    """

    default_name = "conv1d"

    def __init__(
        self,
        input_shape,
        filters=(128, 64),
        kernel_size=5,
        pool_size=2,
        dropout=0.3,
        head="linear",
        head_options=None,
        **kwargs,
    ):
        filters = tuple(filters)
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=False)  # (batch, time, bins)
        for i, width in enumerate(filters):
            x = keras.layers.Conv1D(width, kernel_size, padding="same", activation="relu", name=f"conv_{i}")(x)
            x = keras.layers.MaxPooling1D(pool_size, padding="same", name=f"pool_{i}")(x)
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = classifier_head(x, pooling="avg", head=head, head_options=head_options)
        super().__init__(inputs, logits, locals(), **kwargs)


@keras.saving.register_keras_serializable(package="fakespeech")
class LSTMNet(ZooModel):
    """LSTM over frames (last state) -> dropout -> Dense + ReLU -> logit.

    Args:
        input_shape: (time, bins) or (time, bins, 1).
        units: LSTM width.
        dense_units: width of the dense layer after it.
        dropout: dropout between the LSTM and the dense layer.
        head: "linear" (the default `Dense(1)` logit), "ocsoftmax" or "amsoftmax": a margin head for the loss of
            that name (`models.heads.output_layers`).
        head_options: options of a margin head (`embedding_units`, `scale`, margins; `models.heads.HEAD_OPTIONS`).
        **kwargs: `keras.Model` arguments.

    Example:
        >>> tuple(LSTMNet((100, 20), units=8, dense_units=4).output.shape)
        (None, 1)
    """

    default_name = "lstm"

    def __init__(
        self, input_shape, units=128, dense_units=64, dropout=0.3, head="linear", head_options=None, **kwargs
    ):
        # === Layers and functional graph ===
        inputs, x = feature_inputs(input_shape, channel_axis=False)  # (batch, time, bins)
        x = keras.layers.LSTM(units, name="lstm")(x)  # (batch, units)
        x = keras.layers.Dropout(dropout, name="lstm_dropout")(x)
        logits = classifier_head(
            x,
            pooling=None,
            hidden_units=dense_units,
            hidden_activation="relu",
            head=head,
            head_options=head_options,
        )
        super().__init__(inputs, logits, locals(), **kwargs)


dnn = register_preset_builder(
    "dnn",
    DNN,
    DNN_PRESETS,
    "DNN: ReLU 128 layers with dropout on an utterance vector (computed in-graph from (time, bins) features).",
    input_kind="vector",
)
conv1d = register_preset_builder(
    "conv1d", Conv1DNet, CONV1D_PRESETS, "Conv1D 128 -> 64 with max-pooling and dropout over frames."
)
lstm = register_preset_builder("lstm", LSTMNet, LSTM_PRESETS, "LSTM 128 -> dropout -> Dense 64 over frames.")
