"""Layers of the wav2vec 2.0 family (wav2vec 2.0, XLS-R, HuBERT, WavLM) in keras.ops, for TensorFlow and JAX.

Every layer mirrors one module of the reference implementations (fairseq / Hugging Face `transformers`), with
sub-layers named after theirs so that the converter (`models.ssl.convert`) maps tensors by name. Axis order is
(batch, frames, channels) throughout.

Training-time behaviour follows two rules:
- A frozen layer (`trainable=False`) runs in inference mode (no dropout, no LayerDrop), the way Keras'
  BatchNormalization does, so a frozen SSL front end is a deterministic feature extractor.
- With `gradient_checkpointing=True`, a layer's forward pass is wrapped in `keras.remat` (`tf.recompute_grad` on
  TensorFlow, `jax.checkpoint` on JAX) while training: only its inputs are kept for the backward pass and its
  activations are recomputed. Dropout masks are drawn outside the recomputed function and passed in, because
  `tf.recompute_grad` would otherwise draw new masks in the recomputation and the gradient would not be the
  gradient of the forward pass that produced the loss.
"""

import keras
import numpy as np
from keras import ops

_NEG_INF = -1e9  # additive attention bias of padded frames; scores are float32, so this is exactly zero weight


def apply_activation(x, name):
    """The activation `name` as the reference defines it ("gelu" is the exact erf form, as in PyTorch)."""
    if name == "gelu":
        return ops.gelu(x, approximate=False)
    if name == "gelu_new":
        return ops.gelu(x, approximate=True)
    if name == "relu":
        return ops.relu(x)
    if name in ("swish", "silu"):
        return ops.silu(x)
    if name == "tanh":
        return ops.tanh(x)
    raise ValueError(f"unsupported activation {name!r}")


def _dense(units, name):
    # The Transformer's linear layers start as in BERT / fairseq / transformers: N(0, 0.02) weights, zero bias.
    return keras.layers.Dense(units, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02), name=name)


def keep_mask(shape, rate, seed_generator):
    """A boolean keep-mask for dropout at `rate` (True = keep), drawn from `seed_generator`."""
    return keras.random.uniform(shape, seed=seed_generator) >= rate


def apply_dropout(x, keep, rate):
    """Inverted dropout with a drawn `keep` mask; `keep=None` is the identity."""
    if keep is None:
        return x
    return x * ops.cast(keep, x.dtype) / ops.cast(1.0 - rate, x.dtype)


@keras.saving.register_keras_serializable(package="fakespeech")
class SslDropout(keras.layers.Layer):
    """Dropout that is off when the layer is frozen (`trainable=False`), so a frozen backbone is deterministic.

    Args:
        rate: fraction of units dropped during training.
        seed: seed of the layer's `SeedGenerator`.

    Example:
        >>> SslDropout(0.1)(np.ones((2, 5, 4), "float32")).shape
        (2, 5, 4)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        # (batch, ...) -> (batch, ...)
        if not (training and self.trainable and self.rate > 0):
            return x
        return apply_dropout(x, keep_mask(ops.shape(x), self.rate, self.seed_generator), self.rate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class FeatureEncoderConv(keras.layers.Layer):
    """One block of the convolutional feature encoder: Conv1D, optional norm, activation.

    "group" is PyTorch's `GroupNorm(C, C)` (each channel normalised over time: wav2vec 2.0 base puts it after the
    first convolution only); "layer" normalises each frame over channels (large / XLS-R, after every convolution).

    Args:
        filters, kernel_size, stride: of the convolution.
        use_bias: whether the convolution has a bias.
        norm: "group", "layer" or None.
        activation: see `apply_activation`.
        gradient_checkpointing: recompute this block in the backward pass (see the module docstring).

    Example:
        >>> FeatureEncoderConv(8, 10, 5, norm="group")(np.zeros((2, 400, 1), "float32")).shape
        (2, 79, 8)
    """

    def __init__(self, filters, kernel_size, stride, use_bias=False, norm=None, activation="gelu",
                 gradient_checkpointing=False, **kwargs):
        super().__init__(**kwargs)
        if norm not in ("group", "layer", None):
            raise ValueError(f"FeatureEncoderConv norm must be 'group', 'layer' or None, got {norm!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.use_bias = bool(use_bias)
        self.norm = norm
        self.activation = activation
        self.gradient_checkpointing = bool(gradient_checkpointing)
        # Kaiming-normal kernels as in the reference (fairseq, transformers), for training from scratch.
        self.conv = keras.layers.Conv1D(self.filters, self.kernel_size, strides=self.stride, use_bias=self.use_bias,
                                        kernel_initializer="he_normal", name="conv")
        self.norm_layer = None
        if norm == "group":
            # PyTorch's eps (1e-5); one group per channel.
            self.norm_layer = keras.layers.GroupNormalization(groups=self.filters, axis=-1, epsilon=1e-5, name="norm")
        elif norm == "layer":
            self.norm_layer = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.norm_layer is not None:
            self.norm_layer.build(self.conv.compute_output_shape(input_shape))

    def _forward(self, x):
        x = self.conv(x)
        if self.norm_layer is not None:
            x = self.norm_layer(x)
        return apply_activation(x, self.activation)

    def call(self, x, training=None):
        # (batch, samples, channels) -> (batch, frames, filters)
        if self.gradient_checkpointing and training and self.trainable:
            return keras.remat(self._forward)(x)
        return self._forward(x)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "stride": self.stride,
                       "use_bias": self.use_bias, "norm": self.norm, "activation": self.activation,
                       "gradient_checkpointing": self.gradient_checkpointing})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class FeatureProjection(keras.layers.Layer):
    """Feature projection: optional layer norm over the encoder channels, Dense to the model width, dropout.

    Args:
        units: the Transformer width.
        use_layer_norm: whether to normalise first (every family but some HuBERT checkpoints).
        layer_norm_eps: epsilon of that norm.
        dropout: dropout rate on the projected features during training.

    Example:
        >>> FeatureProjection(32)(np.zeros((2, 12, 16), "float32")).shape
        (2, 12, 32)
    """

    def __init__(self, units, use_layer_norm=True, layer_norm_eps=1e-5, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_layer_norm = bool(use_layer_norm)
        self.layer_norm_eps = float(layer_norm_eps)
        self.dropout = float(dropout)
        self.layer_norm = (keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, name="layer_norm")
                           if self.use_layer_norm else None)
        self.projection = keras.layers.Dense(self.units, name="projection")
        self.drop = SslDropout(self.dropout, name="drop")

    def build(self, input_shape):
        if self.layer_norm is not None:
            self.layer_norm.build(input_shape)
        self.projection.build(input_shape)

    def call(self, x, training=None):
        # (batch, frames, channels) -> (batch, frames, units)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        active = bool(training) and self.trainable
        return self.drop(self.projection(x), training=active)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "use_layer_norm": self.use_layer_norm,
                       "layer_norm_eps": self.layer_norm_eps, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class PositionalConvEmbedding(keras.layers.Layer):
    """Convolutional relative position embedding with weight normalisation: returns `x + act(conv(x))`.

    A grouped convolution over time ("same" padding; an even kernel drops the last frame, as the reference's
    `SamePad`). Weight normalisation is implemented, not folded into a plain kernel: the kernel is
    `weight_g[k] * weight_v[k] / ||weight_v[k]||` for every tap k (PyTorch `weight_norm(dim=2)`), recomputed at
    each call, so fine-tuning optimises the same parametrisation (g, v) as fairseq and `transformers` do. The
    norm is computed in float32 whatever the compute dtype (the layer does its own casting: `autocast=False`).

    Args:
        kernel_size: taps of the convolution (128 in the released models).
        groups: convolution groups (16).
        activation: see `apply_activation`.

    Example:
        >>> PositionalConvEmbedding(kernel_size=16, groups=4)(np.zeros((2, 12, 32), "float32")).shape
        (2, 12, 32)
    """

    def __init__(self, kernel_size=128, groups=16, activation="gelu", **kwargs):
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.groups = int(groups)
        self.activation = activation

    def build(self, input_shape):
        dims = int(input_shape[-1])
        if dims % self.groups:
            raise ValueError(f"{self.name}: {dims} channels are not divisible into {self.groups} groups")
        # The reference's initialisation (std 2 / sqrt(kernel * dims)); g starts at ||v|| so the kernel equals v.
        std = 2.0 * np.sqrt(1.0 / (self.kernel_size * dims))
        self.weight_v = self.add_weight(shape=(self.kernel_size, dims // self.groups, dims), name="weight_v",
                                        initializer=keras.initializers.RandomNormal(stddev=std))
        self.weight_g = self.add_weight(shape=(self.kernel_size,), name="weight_g", initializer="ones")
        self.bias = self.add_weight(shape=(dims,), name="bias", initializer="zeros")
        self.weight_g.assign(ops.sqrt(ops.sum(ops.square(self.weight_v), axis=(1, 2))))

    def kernel(self):
        """The effective (kernel_size, dims // groups, dims) kernel, float32."""
        v = ops.cast(self.weight_v, "float32")
        norm = ops.sqrt(ops.sum(ops.square(v), axis=(1, 2), keepdims=True))
        return ops.reshape(ops.cast(self.weight_g, "float32"), (-1, 1, 1)) * v / norm

    def call(self, x):
        # (batch, frames, dims) -> (batch, frames, dims)
        dtype = self.compute_dtype
        x = ops.cast(x, dtype)
        half = self.kernel_size // 2
        padded = ops.pad(x, ((0, 0), (half, half), (0, 0)))
        embedding = ops.conv(padded, ops.cast(self.kernel(), dtype), padding="valid")
        if self.kernel_size % 2 == 0:
            embedding = embedding[:, :-1]
        embedding = apply_activation(embedding + ops.cast(self.bias, dtype), self.activation)
        return x + embedding

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        config.update({"kernel_size": self.kernel_size, "groups": self.groups, "activation": self.activation})
        return config


def relative_position_buckets(num_buckets, max_distance):
    """Bucket of every relative position r in [-max_distance, max_distance] (WavLM / T5 bucketing), int32.

    Half the buckets are for r > 0; within a half, |r| below a quarter of `num_buckets` gets its own bucket and
    larger distances share log-spaced buckets, saturating at `max_distance`. Computed in float32 as the
    reference does; beyond +-max_distance the bucket no longer changes, so callers clip r to this range.
    """
    half = num_buckets // 2
    exact = half // 2
    r = np.arange(-max_distance, max_distance + 1)
    buckets = (r > 0).astype(np.int64) * half
    distance = np.abs(r)
    # Distances below `exact` take the first branch of the `where` below; clipping keeps log() finite there.
    scaled = np.log(np.maximum(distance, 1).astype(np.float32) / np.float32(exact))
    scaled = scaled / np.float32(np.log(max_distance / exact)) * np.float32(half - exact)
    large = np.minimum((np.float32(exact) + scaled).astype(np.int64), half - 1)
    buckets += np.where(distance < exact, distance, large)
    return buckets.astype(np.int32)


@keras.saving.register_keras_serializable(package="fakespeech")
class RelativePositionBias(keras.layers.Layer):
    """WavLM's bucketed relative position bias, one learned value per (bucket, head): (1, heads, frames, frames).

    The reference keeps this embedding in the first Transformer layer and passes the bias on to the others; here
    it is its own layer, called once, whose output every layer gates (see `SslSelfAttention`).

    Args:
        num_heads: attention heads.
        num_buckets: number of buckets (320).
        max_distance: distance at which buckets saturate (800 frames).

    Example:
        >>> RelativePositionBias(num_heads=4)(np.zeros((2, 12, 32), "float32")).shape
        (1, 4, 12, 12)
    """

    def __init__(self, num_heads, num_buckets=320, max_distance=800, **kwargs):
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.num_buckets = int(num_buckets)
        self.max_distance = int(max_distance)
        self._buckets = relative_position_buckets(self.num_buckets, self.max_distance)

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.num_buckets, self.num_heads), name="embeddings",
                                          initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, hidden):
        # (batch, frames, dims) -> (1, heads, frames, frames), float32
        frames = ops.shape(hidden)[1]
        position = ops.arange(frames, dtype="int32")
        relative = ops.expand_dims(position, 0) - ops.expand_dims(position, 1)  # (query i, key j): j - i
        relative = ops.clip(relative, -self.max_distance, self.max_distance) + self.max_distance
        buckets = ops.take(ops.convert_to_tensor(self._buckets), relative, axis=0)  # (frames, frames)
        values = ops.take(ops.cast(self.embeddings, "float32"), buckets, axis=0)  # (frames, frames, heads)
        return ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)

    def compute_output_shape(self, input_shape):
        return (1, self.num_heads, input_shape[1], input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        config.update({"num_heads": self.num_heads, "num_buckets": self.num_buckets,
                       "max_distance": self.max_distance})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class SslSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with an optional additive mask and WavLM's gated relative position bias.

    Scores are computed in float32 (softmax, biases and masks stay exact under mixed precision). With
    `gated_relative_position`, each head scales the shared position bias per query frame by a gate computed from
    that frame's input: `g = a * (b * c_h - 1) + 2` with `(a, b) = sigmoid(sum of 4-groups of W x_h)` (WavLM's
    `gru_rel_pos`).

    Args:
        num_heads: attention heads.
        dropout: rate of the attention-probability dropout (applied with a mask given to `call`).
        gated_relative_position: whether to build the WavLM gate (`gru_rel_pos_linear`, `gru_rel_pos_const`).

    Example:
        >>> SslSelfAttention(num_heads=4)(np.zeros((2, 12, 32), "float32")).shape
        (2, 12, 32)
    """

    def __init__(self, num_heads, dropout=0.0, gated_relative_position=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.gated_relative_position = bool(gated_relative_position)
        self.gru_rel_pos_linear = keras.layers.Dense(8, name="gru_rel_pos_linear") if gated_relative_position else None

    def build(self, input_shape):
        dims = int(input_shape[-1])
        if dims % self.num_heads:
            raise ValueError(f"{self.name}: width {dims} is not divisible by {self.num_heads} heads")
        self.head_dim = dims // self.num_heads
        # The projections keep the input width, known only here.
        self.q_proj = _dense(dims, "q_proj")
        self.k_proj = _dense(dims, "k_proj")
        self.v_proj = _dense(dims, "v_proj")
        self.out_proj = _dense(dims, "out_proj")
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            layer.build(input_shape)
        if self.gru_rel_pos_linear is not None:
            self.gru_rel_pos_linear.build((None, None, self.num_heads, self.head_dim))
            self.gru_rel_pos_const = self.add_weight(shape=(self.num_heads,), name="gru_rel_pos_const",
                                                     initializer="ones")

    def _split_heads(self, x):
        batch, frames = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (batch, frames, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def position_gate(self, x):
        """(batch, frames, dims) -> (batch, heads, frames, 1) gate of the relative position bias, float32."""
        batch, frames = ops.shape(x)[0], ops.shape(x)[1]
        per_head = ops.reshape(x, (batch, frames, self.num_heads, self.head_dim))
        projected = ops.cast(self.gru_rel_pos_linear(per_head), "float32")  # (batch, frames, heads, 8)
        projected = ops.sum(ops.reshape(projected, (batch, frames, self.num_heads, 2, 4)), axis=-1)
        gates = ops.sigmoid(projected)
        const = ops.cast(self.gru_rel_pos_const, "float32")
        gate = gates[..., 0] * (gates[..., 1] * const - 1.0) + 2.0  # (batch, frames, heads)
        return ops.expand_dims(ops.transpose(gate, (0, 2, 1)), -1)

    def call(self, x, attention_bias=None, position_bias=None, dropout_keep=None):
        # (batch, frames, dims) -> (batch, frames, dims); attention_bias (batch, 1, 1, frames) and
        # position_bias (1, heads, frames, frames) are additive float32; dropout_keep (batch, heads, frames, frames)
        batch, frames = ops.shape(x)[0], ops.shape(x)[1]
        query = self._split_heads(self.q_proj(x)) * ops.cast(self.head_dim ** -0.5, x.dtype)
        key = self._split_heads(self.k_proj(x))
        value = self._split_heads(self.v_proj(x))
        scores = ops.cast(ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))), "float32")  # (b, h, i, j)
        if position_bias is not None:
            bias = ops.cast(position_bias, "float32")
            if self.gru_rel_pos_linear is not None:
                bias = self.position_gate(x) * bias
            scores = scores + bias
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, "float32")
        probabilities = apply_dropout(ops.softmax(scores, axis=-1), dropout_keep, self.dropout)
        context = ops.matmul(ops.cast(probabilities, value.dtype), value)  # (batch, heads, frames, head_dim)
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, frames, self.num_heads * self.head_dim))
        return self.out_proj(context)

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "dropout": self.dropout,
                       "gated_relative_position": self.gated_relative_position})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class SslTransformerLayer(keras.layers.Layer):
    """One Transformer encoder layer, post-layer-norm (base models) or pre-layer-norm (large / XLS-R).

    post-LN: `h = LN(h + drop(attn(h)))`, then `h = LN_final(h + drop(W2 drop(act(W1 h))))`.
    pre-LN:  `h = h + drop(attn(LN(h)))`, then `h = h + drop(W2 drop(act(W1 LN_final(h))))`.

    Args:
        num_heads, intermediate_size: attention heads and feed-forward width.
        hidden_act: feed-forward activation (see `apply_activation`).
        layer_norm_eps: epsilon of both layer norms.
        pre_layer_norm: the pre-LN ("stable layer norm") variant.
        gated_relative_position: WavLM's gate on the position bias given to `call`.
        hidden_dropout, attention_dropout, activation_dropout: dropout rates during training.
        layerdrop: probability of skipping the whole layer for a training batch (LayerDrop).
        gradient_checkpointing: recompute the layer in the backward pass (see the module docstring).
        seed: seed of the layer's `SeedGenerator` (dropout masks, LayerDrop).

    Example:
        >>> SslTransformerLayer(num_heads=4, intermediate_size=64)(np.zeros((2, 12, 32), "float32")).shape
        (2, 12, 32)
    """

    def __init__(self, num_heads, intermediate_size, hidden_act="gelu", layer_norm_eps=1e-5, pre_layer_norm=False,
                 gated_relative_position=False, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                 layerdrop=0.0, gradient_checkpointing=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.intermediate_size = int(intermediate_size)
        self.hidden_act = hidden_act
        self.layer_norm_eps = float(layer_norm_eps)
        self.pre_layer_norm = bool(pre_layer_norm)
        self.gated_relative_position = bool(gated_relative_position)
        self.hidden_dropout = float(hidden_dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation_dropout = float(activation_dropout)
        self.layerdrop = float(layerdrop)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.attention = SslSelfAttention(self.num_heads, self.attention_dropout, self.gated_relative_position,
                                          name="attention")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, name="layer_norm")
        self.intermediate_dense = _dense(self.intermediate_size, "intermediate_dense")
        self.final_layer_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_eps, name="final_layer_norm")

    def build(self, input_shape, *args, **kwargs):
        input_shape = tuple(input_shape)
        self.output_dense = _dense(int(input_shape[-1]), "output_dense")  # back to the input width
        self.attention.build(input_shape)
        self.layer_norm.build(input_shape)
        self.intermediate_dense.build(input_shape)
        self.output_dense.build(input_shape[:-1] + (self.intermediate_size,))
        self.final_layer_norm.build(input_shape)

    def _dropout_masks(self, hidden):
        """Keep-masks of the four dropout sites, drawn before any recomputation; None where the rate is 0."""
        batch, frames, dims = ops.shape(hidden)[0], ops.shape(hidden)[1], hidden.shape[-1]
        draw = lambda shape, rate: keep_mask(shape, rate, self.seed_generator) if rate > 0 else None
        return {
            "keep_attention": draw((batch, self.num_heads, frames, frames), self.attention_dropout),
            "keep_attention_output": draw((batch, frames, dims), self.hidden_dropout),
            "keep_activation": draw((batch, frames, self.intermediate_size), self.activation_dropout),
            "keep_feed_forward": draw((batch, frames, dims), self.hidden_dropout),
        }

    def _feed_forward(self, x, keep_activation, keep_feed_forward):
        x = apply_dropout(apply_activation(self.intermediate_dense(x), self.hidden_act), keep_activation,
                          self.activation_dropout)
        return apply_dropout(self.output_dense(x), keep_feed_forward, self.hidden_dropout)

    def _forward(self, hidden, attention_bias=None, position_bias=None, keep_attention=None,
                 keep_attention_output=None, keep_activation=None, keep_feed_forward=None):
        attend = lambda x: apply_dropout(
            self.attention(x, attention_bias=attention_bias, position_bias=position_bias, dropout_keep=keep_attention),
            keep_attention_output, self.hidden_dropout)
        if self.pre_layer_norm:
            hidden = hidden + attend(self.layer_norm(hidden))
            return hidden + self._feed_forward(self.final_layer_norm(hidden), keep_activation, keep_feed_forward)
        hidden = self.layer_norm(hidden + attend(hidden))
        return self.final_layer_norm(hidden + self._feed_forward(hidden, keep_activation, keep_feed_forward))

    def call(self, hidden, attention_bias=None, position_bias=None, training=None):
        # (batch, frames, dims) -> (batch, frames, dims)
        active = bool(training) and self.trainable
        masks = self._dropout_masks(hidden) if active else {}

        # Only tensors that need a gradient are arguments of the (possibly recomputed) function; the masks and the
        # padding bias are captured constants (tf.recompute_grad differentiates every argument, even a boolean).
        def forward(hidden, *position):
            return self._forward(hidden, attention_bias, position[0] if position else None, **masks)

        if self.gradient_checkpointing and active:
            forward = keras.remat(forward)
        output = forward(hidden, *([] if position_bias is None else [position_bias]))
        if active and self.layerdrop > 0:
            skip = keras.random.uniform((), seed=self.seed_generator) < self.layerdrop
            output = ops.where(skip, hidden, output)
        return output

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads, "intermediate_size": self.intermediate_size, "hidden_act": self.hidden_act,
            "layer_norm_eps": self.layer_norm_eps, "pre_layer_norm": self.pre_layer_norm,
            "gated_relative_position": self.gated_relative_position, "hidden_dropout": self.hidden_dropout,
            "attention_dropout": self.attention_dropout, "activation_dropout": self.activation_dropout,
            "layerdrop": self.layerdrop, "gradient_checkpointing": self.gradient_checkpointing, "seed": self.seed,
        })
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class FrameMask(keras.layers.Layer):
    """Feature-frame validity (batch, frames) from a sample-level attention mask, as `transformers` computes it.

    The valid length of each clip (the number of ones in its mask) is pushed through the convolution length
    formula `(L - kernel) // stride + 1` of every feature-encoder layer; frames below that length are valid.

    Args:
        conv_kernel, conv_stride: of the feature encoder.

    Example:
        >>> mask = np.ones((2, 4000), "int32"); mask[1, 2000:] = 0  # clip 1 is 2000 samples long
        >>> frames = FrameMask((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))(mask, np.zeros((2, 12, 8), "float32"))
        >>> np.asarray(frames).sum(-1)  # (4000 - 400) // 320 + 1 and (2000 - 400) // 320 + 1 valid frames
        array([12.,  6.], dtype=float32)
    """

    def __init__(self, conv_kernel, conv_stride, **kwargs):
        super().__init__(**kwargs)
        self.conv_kernel = tuple(int(k) for k in conv_kernel)
        self.conv_stride = tuple(int(s) for s in conv_stride)

    def call(self, sample_mask, features):
        # (batch, samples) 0/1 and (batch, frames, dims) -> (batch, frames) float 0/1
        lengths = ops.sum(ops.cast(ops.cast(sample_mask, "bool"), "int32"), axis=1)
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            lengths = (lengths - kernel) // stride + 1
        frames = ops.arange(ops.shape(features)[1], dtype="int32")
        valid = ops.expand_dims(frames, 0) < ops.expand_dims(lengths, 1)
        return ops.cast(valid, self.compute_dtype)

    def compute_output_shape(self, sample_mask_shape, features_shape):
        return (features_shape[0], features_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"conv_kernel": list(self.conv_kernel), "conv_stride": list(self.conv_stride)})
        return config


def attention_bias_from_mask(frame_mask):
    """(batch, frames) 0/1 validity -> (batch, 1, 1, frames) additive float32 bias masking padded keys."""
    valid = ops.cast(frame_mask, "float32")
    return ops.expand_dims(ops.expand_dims((1.0 - valid) * _NEG_INF, 1), 1)


@keras.saving.register_keras_serializable(package="fakespeech")
class WaveformNormalization(keras.layers.Layer):
    """Scales each clip to zero mean and unit variance: the `do_normalize` of the Hugging Face feature extractor.

    Checkpoints pre-trained on normalised audio (XLS-R, wav2vec 2.0 large) expect it; others (HuBERT, WavLM base+)
    and the SSL-AASIST recipe feed raw waveforms.

    Args:
        epsilon: added to the variance (1e-7, as `transformers`).

    Example:
        >>> WaveformNormalization()(np.arange(8, dtype="float32")[None]).shape
        (1, 8)
    """

    def __init__(self, epsilon=1e-7, **kwargs):
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, waveforms):
        # (batch, samples) -> (batch, samples), statistics in float32
        x = ops.cast(waveforms, "float32")
        mean = ops.mean(x, axis=1, keepdims=True)
        variance = ops.var(x, axis=1, keepdims=True)
        return ops.cast((x - mean) / ops.sqrt(variance + self.epsilon), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        config.update({"epsilon": self.epsilon})
        return config

