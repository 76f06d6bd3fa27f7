"""Conformer encoder layers, ported to Keras 3 from audio-classification-models 1.0.9 (TensorFlowASR lineage).

Sub-layer names, the order sub-layers are assigned, and the order weights are created all mirror that package, so
that `layer.trainable_weights + layer.non_trainable_weights` lists the same tensors in the same order as its Keras 2
`.h5` files do, and its published `conformer-encoder.h5` loads by layer name (see `models.conformer`).
"""

import math

import keras
import numpy as np
from keras import ops


def l2_regularizer(l2):
    """The package regularises every kernel, bias and norm parameter with L2(1e-6); 0 turns it off."""
    return keras.regularizers.L2(l2) if l2 else None


@keras.saving.register_keras_serializable(package="fakespeech")
class Conv2dSubsampling(keras.layers.Layer):
    """Two strided 3x3 convolutions with ReLU, then (freq, channels) merged: time and frequency shrink 4x.

    Args:
        filters: output channels of both convolutions.
        kernel_size: convolution kernel size.
        strides: stride of each convolution (time and frequency).
        kernel_l2: L2 factor on kernels and biases.

    Example:
        >>> layer = Conv2dSubsampling(filters=8, name="conformer_encoder_subsampling")
        >>> tuple(layer(np.zeros((2, 16, 8, 1), "float32")).shape)
        (2, 4, 16)
    """

    def __init__(self, filters, kernel_size=3, strides=2, kernel_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.kernel_l2 = kernel_l2
        conv_args = dict(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding="same",
            kernel_regularizer=l2_regularizer(kernel_l2),
            bias_regularizer=l2_regularizer(kernel_l2),
            dtype=self.dtype_policy,
        )
        self.conv1 = keras.layers.Conv2D(name=f"{self.name}_1", **conv_args)
        self.conv2 = keras.layers.Conv2D(name=f"{self.name}_2", **conv_args)

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(self.conv1.compute_output_shape(input_shape))

    def call(self, inputs):
        # (batch, time, bins, 1) -> (batch, time / 4, bins / 4 * filters)
        x = ops.relu(self.conv1(inputs))
        x = ops.relu(self.conv2(x))
        _, time, bins, channels = x.shape
        return ops.reshape(x, (-1, time, bins * channels))

    def compute_output_shape(self, input_shape):
        _, time, bins, channels = self.conv2.compute_output_shape(self.conv1.compute_output_shape(input_shape))
        return (input_shape[0], time, bins * channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, kernel_l2=self.kernel_l2
        )
        return config


def sinusoid_encoding(length, dim):
    """The package's relative positional encoding: positions length-1 .. 0, sin on even and cos on odd channels."""
    position = np.arange(length - 1, -1, -1, dtype=np.float64)[:, None]
    frequency = 1.0 / np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)
    angle = position * frequency[None, :]
    encoding = np.where(np.arange(dim) % 2 == 0, np.sin(angle), np.cos(angle))
    return encoding[None].astype("float32")  # (1, time, dim)


@keras.saving.register_keras_serializable(package="fakespeech")
class PositionalEncoding(keras.layers.Layer):
    """Returns the (1, time, dim) sinusoid encoding for its input's static time length; no weights.

    Example:
        >>> tuple(PositionalEncoding()(np.zeros((2, 5, 8), "float32")).shape)
        (1, 5, 8)
    """

    def call(self, inputs):
        # (batch, time, dim) -> (1, time, dim)
        _, time, dim = inputs.shape
        return ops.cast(sinusoid_encoding(time, dim), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (1,) + tuple(input_shape[1:])


@keras.saving.register_keras_serializable(package="fakespeech")
class RelPositionMultiHeadAttention(keras.layers.Layer):
    """Self-attention with Transformer-XL relative positions (content bias u, position bias v, relative shift).

    Weights are created in the package's order: pos_kernel, pos_bias_u, pos_bias_v, query, key, value, projection.

    Args:
        num_heads: attention heads.
        head_size: width of each head.
        kernel_l2: L2 factor on the kernels and the projection bias.

    Example:
        >>> mha = RelPositionMultiHeadAttention(num_heads=2, head_size=4)
        >>> x = np.zeros((2, 5, 8), "float32")
        >>> tuple(mha([x, sinusoid_encoding(5, 8)]).shape)
        (2, 5, 8)
    """

    def __init__(self, num_heads, head_size, kernel_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_size = head_size
        self.kernel_l2 = kernel_l2

    def build(self, input_shape):
        dim = input_shape[0][-1]
        pos_dim = input_shape[1][-1]
        heads, size = self.num_heads, self.head_size

        def weight(name, shape, initializer="glorot_uniform"):
            return self.add_weight(
                name=name, shape=shape, initializer=initializer, regularizer=l2_regularizer(self.kernel_l2)
            )

        self.pos_kernel = weight("pos_kernel", (heads, pos_dim, size))
        self.pos_bias_u = weight("pos_bias_u", (heads, size))
        self.pos_bias_v = weight("pos_bias_v", (heads, size))
        self.query_kernel = weight("query_kernel", (heads, dim, size))
        self.key_kernel = weight("key_kernel", (heads, dim, size))
        self.value_kernel = weight("value_kernel", (heads, dim, size))
        self.projection_kernel = weight("projection_kernel", (heads, size, dim))
        self.projection_bias = weight("projection_bias", (dim,), initializer="zeros")

    def call(self, inputs):
        x, pos = inputs  # (batch, time, dim), (1, time, dim)
        query = ops.einsum("btd,hdk->bthk", x, self.query_kernel)
        key = ops.einsum("btd,hdk->bthk", x, self.key_kernel)
        value = ops.einsum("btd,hdk->bthk", x, self.value_kernel)
        pos = ops.einsum("td,hdk->thk", pos[0], self.pos_kernel)  # (time, heads, size)
        content = ops.einsum("bnhk,bmhk->bhnm", query + self.pos_bias_u, key)
        position = ops.einsum("bnhk,mhk->bhnm", query + self.pos_bias_v, pos)
        logits = (content + self._relative_shift(position)) / math.sqrt(self.head_size)
        # Softmax in float32: float16 logits of long clips can overflow the exponent.
        weights = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), self.compute_dtype)
        heads = ops.einsum("bhnm,bmhk->bnhk", weights, value)
        return ops.einsum("bnhk,hkd->bnd", heads, self.projection_kernel) + self.projection_bias

    @staticmethod
    def _relative_shift(x):
        # (batch, heads, time, time): pad one column, fold, drop the first row -> entry (i, j) moves to offset i - j.
        _, heads, query_len, key_len = x.shape
        x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [1, 0]])
        x = ops.reshape(x, (-1, heads, key_len + 1, query_len))
        return ops.reshape(x[:, :, 1:, :], (-1, heads, query_len, key_len))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, head_size=self.head_size, kernel_l2=self.kernel_l2)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class FeedForwardModule(keras.layers.Layer):
    """Macaron half-step feed-forward: x + fc_factor * FF(LN(x)), FF = Dense(4d) -> swish -> Dense(d).

    Args:
        input_dim: model width d.
        dropout: dropout after each dense layer.
        fc_factor: residual scale (0.5 in the Conformer).
        kernel_l2: L2 factor.

    Example:
        >>> tuple(FeedForwardModule(8, name="ff")(np.zeros((2, 5, 8), "float32")).shape)
        (2, 5, 8)
    """

    def __init__(self, input_dim, dropout=0.0, fc_factor=0.5, kernel_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.dropout = dropout
        self.fc_factor = fc_factor
        self.kernel_l2 = kernel_l2
        reg = l2_regularizer(kernel_l2)
        policy = self.dtype_policy
        self.ln = keras.layers.LayerNormalization(
            name=f"{self.name}_ln", gamma_regularizer=reg, beta_regularizer=reg, dtype=policy
        )
        self.ffn1 = keras.layers.Dense(
            4 * input_dim, name=f"{self.name}_dense_1", kernel_regularizer=reg, bias_regularizer=reg, dtype=policy
        )
        self.do1 = keras.layers.Dropout(dropout, name=f"{self.name}_dropout_1", dtype=policy)
        self.ffn2 = keras.layers.Dense(
            input_dim, name=f"{self.name}_dense_2", kernel_regularizer=reg, bias_regularizer=reg, dtype=policy
        )
        self.do2 = keras.layers.Dropout(dropout, name=f"{self.name}_dropout_2", dtype=policy)

    def build(self, input_shape):
        self.ln.build(input_shape)
        self.ffn1.build(input_shape)
        self.ffn2.build(tuple(input_shape[:-1]) + (4 * self.input_dim,))

    def call(self, inputs, training=None):
        # (batch, time, dim)
        x = self.ffn1(self.ln(inputs))
        x = self.do1(ops.silu(x), training=training)
        x = self.do2(self.ffn2(x), training=training)
        return inputs + self.fc_factor * x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim, dropout=self.dropout, fc_factor=self.fc_factor, kernel_l2=self.kernel_l2
        )
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class MHSAModule(keras.layers.Layer):
    """x + Dropout(RelPosMHSA(LN(x), pos)).

    Args:
        head_size: width of each head.
        num_heads: attention heads.
        dropout: dropout on the attention output.
        kernel_l2: L2 factor.

    Example:
        >>> module = MHSAModule(head_size=4, num_heads=2, name="mhsa")
        >>> tuple(module([np.zeros((2, 5, 8), "float32"), sinusoid_encoding(5, 8)]).shape)
        (2, 5, 8)
    """

    def __init__(self, head_size, num_heads, dropout=0.0, kernel_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.head_size = head_size
        self.num_heads = num_heads
        self.dropout = dropout
        self.kernel_l2 = kernel_l2
        reg = l2_regularizer(kernel_l2)
        policy = self.dtype_policy
        self.ln = keras.layers.LayerNormalization(
            name=f"{self.name}_ln", gamma_regularizer=reg, beta_regularizer=reg, dtype=policy
        )
        self.mha = RelPositionMultiHeadAttention(
            num_heads, head_size, kernel_l2=kernel_l2, name=f"{self.name}_mhsa", dtype=policy
        )
        self.do = keras.layers.Dropout(dropout, name=f"{self.name}_dropout", dtype=policy)

    def build(self, input_shape):
        self.ln.build(input_shape[0])
        self.mha.build(input_shape)

    def call(self, inputs, training=None):
        x, pos = inputs  # (batch, time, dim), (1, time, dim)
        attended = self.mha([self.ln(x), pos])
        return x + self.do(attended, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(
            head_size=self.head_size, num_heads=self.num_heads, dropout=self.dropout, kernel_l2=self.kernel_l2
        )
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class ConvModule(keras.layers.Layer):
    """x + Dropout(PW-Conv(swish(BN(DW-Conv(GLU(PW-Conv(LN(x)))))))) along time.

    The convolutions run on (batch, time, 1, dim) with Conv2D/DepthwiseConv2D, as in the package, so the kernels
    keep its shapes ((1, 1, d, 2d) and (k, 1, d, 1)).

    Args:
        input_dim: model width d.
        kernel_size: depthwise kernel length along time.
        dropout: dropout on the module output.
        kernel_l2: L2 factor.

    Example:
        >>> tuple(ConvModule(8, kernel_size=3, name="conv")(np.zeros((2, 5, 8), "float32")).shape)
        (2, 5, 8)
    """

    def __init__(self, input_dim, kernel_size=32, dropout=0.0, kernel_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.kernel_l2 = kernel_l2
        reg = l2_regularizer(kernel_l2)
        policy = self.dtype_policy
        # The package leaves this norm unnamed and unregularised; a stable name keeps our `.keras` files stable.
        self.ln = keras.layers.LayerNormalization(name=f"{self.name}_ln", dtype=policy)
        self.pw_conv_1 = keras.layers.Conv2D(
            2 * input_dim, 1, name=f"{self.name}_pw_conv_1", kernel_regularizer=reg, bias_regularizer=reg, dtype=policy
        )
        self.dw_conv = keras.layers.DepthwiseConv2D(
            (kernel_size, 1),
            padding="same",
            name=f"{self.name}_dw_conv",
            depthwise_regularizer=reg,
            bias_regularizer=reg,
            dtype=policy,
        )
        self.bn = keras.layers.BatchNormalization(
            name=f"{self.name}_bn", gamma_regularizer=reg, beta_regularizer=reg, dtype=policy
        )
        self.pw_conv_2 = keras.layers.Conv2D(
            input_dim, 1, name=f"{self.name}_pw_conv_2", kernel_regularizer=reg, bias_regularizer=reg, dtype=policy
        )
        self.do = keras.layers.Dropout(dropout, name=f"{self.name}_dropout", dtype=policy)

    def build(self, input_shape):
        batch, time, dim = input_shape
        self.ln.build(input_shape)
        self.pw_conv_1.build((batch, time, 1, dim))
        self.dw_conv.build((batch, time, 1, dim))
        self.bn.build((batch, time, 1, dim))
        self.pw_conv_2.build((batch, time, 1, dim))

    def call(self, inputs, training=None):
        _, time, dim = inputs.shape
        x = ops.reshape(self.ln(inputs), (-1, time, 1, dim))  # (batch, time, 1, dim)
        content, gate = ops.split(self.pw_conv_1(x), 2, axis=-1)
        x = content * ops.sigmoid(gate)  # GLU
        x = ops.silu(self.bn(self.dw_conv(x), training=training))
        x = ops.reshape(self.pw_conv_2(x), (-1, time, dim))
        return inputs + self.do(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim, kernel_size=self.kernel_size, dropout=self.dropout, kernel_l2=self.kernel_l2
        )
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class ConformerBlock(keras.layers.Layer):
    """FF/2 -> relative MHSA -> conv module -> FF/2 -> LayerNorm, on inputs `[x, positional_encoding]`.

    Args:
        input_dim: model width d.
        dropout: dropout inside each module.
        fc_factor: feed-forward residual scale.
        head_size: width of each attention head.
        num_heads: attention heads.
        kernel_size: depthwise convolution length.
        kernel_l2: L2 factor.

    Example:
        >>> block = ConformerBlock(8, head_size=4, num_heads=2, kernel_size=3, name="conformer_encoder_block_0")
        >>> tuple(block([np.zeros((2, 5, 8), "float32"), sinusoid_encoding(5, 8)]).shape)
        (2, 5, 8)
    """

    def __init__(
        self, input_dim, dropout=0.0, fc_factor=0.5, head_size=36, num_heads=4, kernel_size=32, kernel_l2=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.dropout = dropout
        self.fc_factor = fc_factor
        self.head_size = head_size
        self.num_heads = num_heads
        self.kernel_size = kernel_size
        self.kernel_l2 = kernel_l2
        name, policy = self.name, self.dtype_policy
        self.ffm1 = FeedForwardModule(
            input_dim, dropout, fc_factor, kernel_l2, name=f"{name}_ff_module_1", dtype=policy
        )
        self.mhsam = MHSAModule(head_size, num_heads, dropout, kernel_l2, name=f"{name}_mhsa_module", dtype=policy)
        self.convm = ConvModule(input_dim, kernel_size, dropout, kernel_l2, name=f"{name}_conv_module", dtype=policy)
        self.ffm2 = FeedForwardModule(
            input_dim, dropout, fc_factor, kernel_l2, name=f"{name}_ff_module_2", dtype=policy
        )
        reg = l2_regularizer(kernel_l2)
        self.ln = keras.layers.LayerNormalization(
            name=f"{name}_ln", gamma_regularizer=reg, beta_regularizer=reg, dtype=policy
        )

    def build(self, input_shape):
        x_shape = input_shape[0]
        self.ffm1.build(x_shape)
        self.mhsam.build(input_shape)
        self.convm.build(x_shape)
        self.ffm2.build(x_shape)
        self.ln.build(x_shape)

    def call(self, inputs, training=None):
        x, pos = inputs  # (batch, time, dim), (1, time, dim)
        x = self.ffm1(x, training=training)
        x = self.mhsam([x, pos], training=training)
        x = self.convm(x, training=training)
        x = self.ffm2(x, training=training)
        return self.ln(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            dropout=self.dropout,
            fc_factor=self.fc_factor,
            head_size=self.head_size,
            num_heads=self.num_heads,
            kernel_size=self.kernel_size,
            kernel_l2=self.kernel_l2,
        )
        return config
