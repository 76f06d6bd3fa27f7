"""RawNet2 for anti-spoofing (Tak et al., "End-to-end anti-spoofing with RawNet2", ICASSP 2021): the ASVspoof 2021
LA/DF baseline (asvspoof-challenge/2021, LA/Baseline-RawNet2), in Keras 3.

Raw waveform -> fixed mel-spaced sinc filters (20 x 1024 taps) -> |.|, max pool 3, BN, SELU -> six residual blocks,
each followed by filter-wise feature map scaling (FMS) -> BN, SELU -> GRU stack (1024 units, 3 layers in the
baseline config) -> last step -> Dense(1024) -> Dense(2) (spoof, bona fide) -> one float32 spoof logit
`l_spoof - l_bonafide` (the registry contract; higher score = more bona fide downstream, so score with `-logit`).
`output_mode="two_class"` returns the (batch, 2) logits; the baseline's log-softmax is left to the loss.

Trainable parameters of the baseline config: 17,621,410 (derived from its layer sizes in tests/models/test_rawnet2.py).
"""

import keras
from keras import ops

from models.layers import TwoClassModel, batch_norm, two_class_outputs
from models.registry import register_model
from models.sinc import SincConv

# asvspoof-challenge/2021 LA/Baseline-RawNet2/model_config_RawNet.yaml
RAWNET2_CONFIG = {
    "sinc_filters": 20,
    "first_conv": 1024,
    "block_filters": (20, 20, 128, 128, 128, 128),
    "gru_units": 1024,
    "gru_layers": 3,
    "fc_units": 1024,
}
# Named sizes on top of the baseline configuration (`models.build("rawnet2", shape, preset="tiny")`); "tiny" is for
# tests, a hidden preset left out of listings.
SIZE_PRESETS = {"tiny": {"block_filters": (8, 8, 16, 16, 16, 16), "gru_units": 16, "gru_layers": 1, "fc_units": 16}}


@keras.saving.register_keras_serializable(package="fakespeech")
class RawNetResidualBlock(keras.layers.Layer):
    """RawNet2 residual block on (batch, time, channels): conv3 -> BN -> LeakyReLU(0.3) -> conv3 + identity (a 1x1
    conv when the channel count changes), then max pooling by 3.

    As in the baseline, every block but the first creates a pre-activation BN (`bn1`) whose output the baseline
    never uses (the first convolution reads the block input). We build it, never call it, so that the parameter
    count and any converted baseline weights carry over.

    Args:
        filters: output channels.
        first: whether this is the first block (no `bn1`).

    Example:
        >>> RawNetResidualBlock(filters=20, first=True)(np.zeros((2, 30, 20), "float32")).shape
        (2, 10, 20)
    """

    def __init__(self, filters, first=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.first = bool(first)
        self.conv1 = keras.layers.Conv1D(self.filters, 3, padding="same", name="conv1")
        self.bn2 = batch_norm("bn2")
        self.conv2 = keras.layers.Conv1D(self.filters, 3, padding="same", name="conv2")
        self.pool = keras.layers.MaxPooling1D(3, name="mp")

    def build(self, input_shape):
        channels = input_shape[-1]
        if not self.first:
            self.bn1 = batch_norm("bn1")
            self.bn1.build(input_shape)
        self.conv1.build(input_shape)
        inner = tuple(input_shape[:-1]) + (self.filters,)
        self.bn2.build(inner)
        self.conv2.build(inner)
        self.downsample = channels != self.filters
        if self.downsample:
            self.conv_downsample = keras.layers.Conv1D(self.filters, 1, name="conv_downsample")
            self.conv_downsample.build(input_shape)

    def call(self, x, training=None):
        # (batch, time, channels) -> (batch, time // 3, filters)
        out = ops.leaky_relu(self.bn2(self.conv1(x), training=training), negative_slope=0.3)
        out = self.conv2(out)
        identity = self.conv_downsample(x) if self.downsample else x
        return self.pool(out + identity)

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        return (input_shape[0], None if time is None else time // 3, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "first": self.first})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class FilterwiseScaling(keras.layers.Layer):
    """Filter-wise feature map scaling (FMS) of RawNet2: s = sigmoid(W mean_t(x) + b); returns x * s + s.

    Example:
        >>> FilterwiseScaling()(np.zeros((2, 10, 20), "float32")).shape
        (2, 10, 20)
    """

    def build(self, input_shape):
        self.fc = keras.layers.Dense(input_shape[-1], name="fc_attention")
        self.fc.build((input_shape[0], input_shape[-1]))

    def call(self, x):
        # (batch, time, filters)
        scale = ops.sigmoid(self.fc(ops.mean(x, axis=1)))[:, None, :]  # (batch, 1, filters)
        return x * scale + scale


@keras.saving.register_keras_serializable(package="fakespeech")
class RawNet2(TwoClassModel):
    """RawNet2 anti-spoofing model on raw waveforms (batch, samples).

    Args:
        input_samples: clip length in samples (64,600 in the baseline).
        sinc_filters: number of sinc band-pass filters.
        first_conv: sinc filter length (raised to odd).
        block_filters: output channels of the six residual blocks.
        gru_units: units of each GRU layer.
        gru_layers: number of stacked GRU layers.
        fc_units: units of the dense layer after the GRU.
        sample_rate: sampling rate in Hz.
        output_mode: "spoof_logit" (batch, 1) float32 or "two_class" (batch, 2) logits (spoof, bona fide).

    Example:
        >>> model = RawNet2(input_samples=8000, gru_units=32, fc_units=32)
        >>> model(np.zeros((1, 8000), "float32")).shape
        (1, 1)
    """

    def __init__(
        self,
        input_samples=64600,
        sinc_filters=20,
        first_conv=1024,
        block_filters=(20, 20, 128, 128, 128, 128),
        gru_units=1024,
        gru_layers=3,
        fc_units=1024,
        sample_rate=16000,
        output_mode="spoof_logit",
        **kwargs,
    ):
        block_filters = tuple(int(f) for f in block_filters)
        # The first pool and each residual block divide time by 3.
        self.check_arguments("RawNet2", input_samples, first_conv, output_mode, poolings_by_3=len(block_filters) + 1)
        input_samples, sinc_filters, first_conv = int(input_samples), int(sinc_filters), int(first_conv)
        sample_rate = int(sample_rate)
        gru_units, gru_layers, fc_units = int(gru_units), int(gru_layers), int(fc_units)

        # --- layers ---
        sinc = SincConv(sinc_filters, first_conv, sample_rate, name="sinc_conv")
        first_pool = keras.layers.MaxPooling1D(3, name="first_pool")
        first_bn = batch_norm("first_bn")
        blocks = [RawNetResidualBlock(f, first=i == 0, name=f"block{i}") for i, f in enumerate(block_filters)]
        scalings = [FilterwiseScaling(name=f"fms{i}") for i in range(len(block_filters))]
        bn_before_gru = batch_norm("bn_before_gru")
        grus = [
            keras.layers.GRU(gru_units, return_sequences=i < gru_layers - 1, name=f"gru{i}") for i in range(gru_layers)
        ]
        fc1 = keras.layers.Dense(fc_units, name="fc1_gru")
        fc2 = keras.layers.Dense(2, dtype="float32", name="fc2_gru")

        # --- functional graph ---
        waveform = keras.Input((input_samples,), name="waveform")
        x = first_pool(ops.abs(sinc(waveform)))  # (batch, time, filters)
        x = ops.selu(first_bn(x))
        for block, scaling in zip(blocks, scalings):
            x = scaling(block(x))
        x = ops.selu(bn_before_gru(x))
        for gru in grus:
            x = gru(x)  # (batch, time, units), the last layer (batch, units)
        logits = fc2(fc1(x))  # (batch, 2): spoof, bona fide
        super().__init__(waveform, two_class_outputs(logits, output_mode), locals(), **kwargs)


@register_model(
    "rawnet2",
    input_kind="waveform",
    description="RawNet2 (ICASSP 2021), the ASVspoof 2021 baseline",
    presets=SIZE_PRESETS,
    hidden_presets=("tiny",),
)
def build_rawnet2(input_shape=(64600,), preset=None, pretrained_weights=None, **config):
    """RawNet2: sinc front end, residual blocks with filter-wise scaling, GRU; the ASVspoof 2021 baseline."""
    model = RawNet2.build_for_clips("rawnet2", input_shape, RAWNET2_CONFIG, SIZE_PRESETS, preset, config)
    if pretrained_weights:
        model.load_weights(pretrained_weights)
    return model
