"""Anti-spoofing models on a self-supervised front end: `ssl_aasist` and `ssl_linear`, on raw 16 kHz waveforms.

`ssl_aasist` is the SSL-AASIST recipe (Tak et al., "Automatic speaker verification spoofing and deepfake detection
using wav2vec 2.0 and data augmentation", Odyssey 2022; TakHemlata/SSL_Anti-spoofing): one SSL hidden state
(the encoder output by default) -> Dense to 128 -> a (time, 128) map, 3x3 max pool, BN, SELU -> six AASIST
residual blocks without time pooling -> BN, SELU -> a 1x1-convolution attention map whose softmax over time pools
the spectral graph and over the feature axis the temporal graph -> GAT-S / GAT-T, graph pooling, two HS-GAT
branches with master nodes (AASIST's graph back end, `models.graph_attention`) -> Dense(2) (spoof, bona fide).

`ssl_linear` is the layer-wise probe of SSL studies: a learned softmax-weighted sum of all hidden states ->
Dense projection -> mean over frames -> Dense(1).

Both end in the shared float32 spoof logit (`ssl_aasist` as AASIST does: `l_spoof - l_bonafide` of its two-class
layer, so the two-class weights of the reference carry over).

The SSL part is one nested model named "ssl_backbone", and every one of its variable paths starts with
"ssl_backbone/" (`ssl_variables(model)` returns them) so an optimiser can give it its own learning rate
(`train.backbone_learning_rate`; the published recipe trains the whole model at 1e-6). `ssl_trainable` chooses
what of it is trained: "all" (the recipe: full fine-tuning), "none" (a frozen feature extractor, run in inference mode) or "top:N" (the top N Transformer
layers). `gradient_checkpointing=True` recomputes each feature-encoder block and Transformer layer in the backward
pass (`keras.remat`, on TensorFlow and JAX) instead of keeping their activations.
"""

import keras
from keras import ops

from models.aasist import AasistResidualBlock
from models.graph_attention import (
    GraphAttention,
    GraphPool,
    HeteroGraphAttention,
    MasterNode,
    NodePositionEmbedding,
    batch_norm,
)
from models.heads import classifier_head, resolve_preset
from models.layers import SpoofLogit
from models.registry import register_model
from models.ssl import (
    BACKBONE_NAME,
    BACKBONE_PRESETS,
    TEST_PRESETS,
    SslBackbone,
    SslConfig,
    load_pretrained,
    read_pretrained,
    resolve_backbone_config,
)
from models.ssl.layers import WaveformNormalization

OUTPUT_MODES = ("spoof_logit", "two_class")
DROPOUT_RATES = (0.2, 0.3, 0.2, 0.5)  # graph attention inputs, graph-pool scorers, branches, readout
# PyTorch's default initialisation of Linear / Conv (uniform within 1 / sqrt(fan_in)), the reference's: a
# projection of 1024-wide SSL features started with Glorot weights gives large initial logits.
TORCH_INIT = keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")
# The test size: graphs of a few nodes learn poorly (pooling keeps one or two), so it keeps 16 spectral nodes and a
# 40-unit readout, and it trains without dropout so that a few steps on one small batch give a steady signal.
_SMALL_BACK_END = {"projection_units": 48, "encoder_filters": ((1, 4), (4, 4), (4, 8), (8, 8)), "gat_dims": (16, 8),
                   "attention_units": 16, "dropout_rates": (0.0, 0.0, 0.0, 0.0)}
# Named sizes: each backbone preset with the published back end; "tiny" (tests) shrinks both.
SSL_AASIST_PRESETS = {name: {"ssl_preset": name} for name in BACKBONE_PRESETS}
SSL_AASIST_PRESETS["tiny"] = {"ssl_preset": "tiny", **_SMALL_BACK_END}
SSL_LINEAR_PRESETS = {name: {"ssl_preset": name} for name in BACKBONE_PRESETS}
SSL_LINEAR_PRESETS["tiny"] = {"ssl_preset": "tiny", "projection_units": 16}


def parse_ssl_trainable(value, num_layers):
    """"all" -> None (everything trains), "none" -> 0, "top:N" -> N; the `trainable_layers` of `SslBackbone`."""
    text = str(value).strip().lower()
    if text == "all":
        return None
    if text == "none":
        return 0
    if text.startswith("top:"):
        try:
            count = int(text[4:])
        except ValueError:
            count = -1
        if 0 <= count <= num_layers:
            return count
    raise ValueError(f"ssl_trainable must be 'all', 'none' or 'top:N' with 0 <= N <= {num_layers}, got {value!r}")


def ssl_variables(model):
    """The variables of the SSL front end of `model` (paths under "ssl_backbone/"), for their own learning rate."""
    return [v for v in model.weights if v.path.startswith(BACKBONE_NAME + "/")]


def _backbone_config(config):
    return config if isinstance(config, SslConfig) else SslConfig.from_dict(dict(config))


def _front_end_config(model):
    """The constructor arguments both SSL models share: the front end and the projection after it."""
    return {
        "name": model.name,
        "trainable": model.trainable,
        "ssl_config": model.ssl_config.to_dict(),
        "input_samples": model.input_samples,
        "ssl_trainable": model.ssl_trainable,
        "gradient_checkpointing": model.gradient_checkpointing,
        "normalize_waveform": model.normalize_waveform,
        "projection_units": model.projection_units,
    }


def _maybe_normalize(waveform, normalize):
    return WaveformNormalization(name="waveform_normalization")(waveform) if normalize else waveform


def _select_state(outputs, ssl_layer, num_layers):
    """One hidden state of the backbone: "last" (the encoder output) or an index into hidden_states."""
    if ssl_layer == "last":
        return outputs["last_hidden_state"]
    index = int(ssl_layer)
    if not -(num_layers + 1) <= index <= num_layers:
        raise ValueError(f"ssl_layer={ssl_layer!r} must be 'last' or an index in [0, {num_layers}]")
    return outputs["hidden_states"][index]


@keras.saving.register_keras_serializable(package="fakespeech")
class SslAasistResidualBlock(AasistResidualBlock):
    """AASIST's residual block without its max pooling along time, as in SSL-AASIST (the map keeps its size).

    Same weights and layout as `models.aasist.AasistResidualBlock` (conv 3x2 over (time, feature), BN, SELU, conv
    3x2, identity or a 3x1 downsampling convolution).

    Example:
        >>> SslAasistResidualBlock(filters=8, first=True)(np.zeros((2, 9, 8, 1), "float32")).shape
        (2, 9, 8, 8)
    """

    def __init__(self, filters, first=False, **kwargs):
        super().__init__(filters, first=first, **kwargs)
        self.pool = keras.layers.Identity(name="mp")  # the reference comments its pooling out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.filters,)


def _graph_back_end(x, waveform, encoder_filters, gat_dims, pool_ratios, temperatures, attention_units, dropout_rates):
    """SSL-AASIST's back end on (batch, frames, features) -> (batch, 2) logits (spoof, bona fide)."""
    graph_drop, pool_drop, branch_drop, readout_drop = dropout_rates
    gat = lambda units, temperature, name: GraphAttention(units, temperature, graph_drop, name=name)
    hs_gat = lambda units, temperature, name: HeteroGraphAttention(units, temperature, graph_drop, name=name)
    pool = lambda ratio, name: GraphPool(ratio, pool_drop, name=name)
    out_channels = [pair[1] for pair in encoder_filters] + [encoder_filters[-1][1]] * 2
    x = keras.layers.MaxPooling2D((3, 3), name="first_pool")(ops.expand_dims(x, -1))  # (batch, time, feat, 1)
    x = ops.selu(batch_norm("first_bn")(x))
    for i, channels in enumerate(out_channels):
        x = SslAasistResidualBlock(channels, first=i == 0, name=f"encoder_block_{i}")(x)  # (batch, t, f, c)
    x = ops.selu(batch_norm("encoder_bn")(x))
    w = keras.layers.Conv2D(attention_units, 1, kernel_initializer=TORCH_INIT, bias_initializer=TORCH_INIT,
                            name="attention_conv_1")(x)
    w = batch_norm("attention_bn")(ops.selu(w))
    w = keras.layers.Conv2D(out_channels[-1], 1, kernel_initializer=TORCH_INIT, bias_initializer=TORCH_INIT,
                            name="attention_conv_2")(w)  # (batch, time, feat, channels)
    # Attentive statistics: softmax over time pools the spectral nodes, softmax over features the temporal ones.
    spectral = ops.sum(x * ops.softmax(w, axis=1), axis=1)  # (batch, feat, channels)
    temporal = ops.sum(x * ops.softmax(w, axis=2), axis=2)  # (batch, time, channels)
    spectral = NodePositionEmbedding(name="pos_s")(spectral)
    out_s = pool(pool_ratios[0], "pool_s")(gat(gat_dims[0], temperatures[0], "gat_s")(spectral))
    out_t = pool(pool_ratios[1], "pool_t")(gat(gat_dims[0], temperatures[1], "gat_t")(temporal))

    branches = []
    for branch in ("1", "2"):
        master = MasterNode(gat_dims[0], name=f"master_{branch}")(waveform)
        t1, s1, m1 = hs_gat(gat_dims[1], temperatures[2], f"hs_gat_{branch}1")(out_t, out_s, master)
        s1 = pool(pool_ratios[2], f"pool_hs{branch}")(s1)
        t1 = pool(pool_ratios[2], f"pool_ht{branch}")(t1)
        t_aug, s_aug, m_aug = hs_gat(gat_dims[1], temperatures[2], f"hs_gat_{branch}2")(t1, s1, m1)
        branches.append((t1 + t_aug, s1 + s_aug, m1 + m_aug))

    drop_way = keras.layers.Dropout(branch_drop, name="drop_way")
    (t1, s1, m1), (t2, s2, m2) = branches
    out_t = ops.maximum(drop_way(t1), drop_way(t2))
    out_s = ops.maximum(drop_way(s1), drop_way(s2))
    master = ops.maximum(drop_way(m1), drop_way(m2))
    hidden = ops.concatenate([ops.max(ops.abs(out_t), axis=1), ops.mean(out_t, axis=1), ops.max(ops.abs(out_s), axis=1),
                              ops.mean(out_s, axis=1), ops.squeeze(master, 1)], axis=-1)
    hidden = keras.layers.Dropout(readout_drop, name="drop")(hidden)
    return keras.layers.Dense(2, dtype="float32", name="out_layer")(hidden)


@keras.saving.register_keras_serializable(package="fakespeech")
class SslAasist(keras.Model):
    """SSL-AASIST: a wav2vec 2.0 family front end and AASIST's graph back end, on waveforms (batch, samples).

    Args:
        ssl_config: the backbone's `SslConfig` (or its dict).
        input_samples: clip length in samples (64,600 in the recipe: about 4 s).
        ssl_layer: "last" (the encoder output, as the recipe) or an index into the hidden states.
        ssl_trainable: "all", "none" or "top:N" (see the module docstring).
        gradient_checkpointing: recompute the backbone's blocks in the backward pass.
        normalize_waveform: scale each clip to zero mean, unit variance first (`WaveformNormalization`; the
            recipe does not, checkpoints pre-trained on normalised audio such as XLS-R may prefer it).
        projection_units: width of the Dense after the SSL features (128).
        encoder_filters: (in, out) channels of residual blocks 1-4; blocks 5 and 6 repeat the last.
        gat_dims: output dims of GAT-S/GAT-T and of the HS-GAT layers.
        pool_ratios: kept fractions of graph pooling (GAT-S, GAT-T, HS-GAT; the fourth is unused as in the reference).
        temperatures: of GAT-S, GAT-T and the HS-GAT layers (the fourth is unused).
        attention_units: width of the 1x1-convolution attention map (128).
        dropout_rates: input dropout of the graph attention layers, of the graph-pool scorers, of the two branches
            before their maximum, and of the readout (the reference's 0.2, 0.3, 0.2, 0.5).
        output_mode: "spoof_logit" (batch, 1) float32, or "two_class" (batch, 2) (spoof, bona fide).

    Example:
        >>> model = SslAasist(SslConfig(**BACKBONE_PRESETS["tiny"]), input_samples=16000, **_SMALL_BACK_END)
        >>> model(np.zeros((1, 16000), "float32")).shape
        (1, 1)
    """

    def __init__(self, ssl_config, input_samples=64600, ssl_layer="last", ssl_trainable="all",
                 gradient_checkpointing=False, normalize_waveform=False, projection_units=128,
                 encoder_filters=((1, 32), (32, 32), (32, 64), (64, 64)), gat_dims=(64, 32),
                 pool_ratios=(0.5, 0.5, 0.5, 0.5), temperatures=(2.0, 2.0, 100.0, 100.0), attention_units=128,
                 dropout_rates=DROPOUT_RATES, output_mode="spoof_logit", **kwargs):
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"ssl_aasist output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        ssl_config = _backbone_config(ssl_config)
        encoder_filters = tuple(tuple(int(c) for c in pair) for pair in encoder_filters)
        gat_dims = tuple(int(d) for d in gat_dims)
        dropout_rates = tuple(float(r) for r in dropout_rates)
        if len(dropout_rates) != 4 or not all(0.0 <= r < 1.0 for r in dropout_rates):
            raise ValueError(f"ssl_aasist dropout_rates must be 4 rates in [0, 1), got {dropout_rates}")
        _check_frames(ssl_config, input_samples, projection_units)
        backbone = SslBackbone(ssl_config, input_samples=input_samples,
                               trainable_layers=parse_ssl_trainable(ssl_trainable, ssl_config.num_hidden_layers),
                               gradient_checkpointing=gradient_checkpointing, name=BACKBONE_NAME)

        waveform = keras.Input((input_samples,), name="waveform")
        features = _select_state(backbone(_maybe_normalize(waveform, normalize_waveform)), ssl_layer,
                                 ssl_config.num_hidden_layers)
        x = keras.layers.Dense(projection_units, kernel_initializer=TORCH_INIT, bias_initializer=TORCH_INIT,
                               name="ssl_projection")(features)  # (batch, frames, 128)
        logits = _graph_back_end(x, waveform, encoder_filters, gat_dims, pool_ratios, temperatures, attention_units,
                                 dropout_rates)
        outputs = logits if output_mode == "two_class" else SpoofLogit(name="predictions")(logits)
        super().__init__(inputs=waveform, outputs=outputs, **kwargs)

        self.ssl_config = ssl_config
        self.input_samples = int(input_samples)
        self.ssl_layer = ssl_layer if ssl_layer == "last" else int(ssl_layer)
        self.ssl_trainable = str(ssl_trainable)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.normalize_waveform = bool(normalize_waveform)
        self.projection_units = int(projection_units)
        self.encoder_filters = encoder_filters
        self.gat_dims = gat_dims
        self.pool_ratios = tuple(float(r) for r in pool_ratios)
        self.temperatures = tuple(float(t) for t in temperatures)
        self.attention_units = int(attention_units)
        self.dropout_rates = dropout_rates
        self.output_mode = output_mode

    def get_config(self):
        return {
            **_front_end_config(self),
            "ssl_layer": self.ssl_layer,
            "encoder_filters": [list(pair) for pair in self.encoder_filters],
            "gat_dims": list(self.gat_dims),
            "pool_ratios": list(self.pool_ratios),
            "temperatures": list(self.temperatures),
            "attention_units": self.attention_units,
            "dropout_rates": list(self.dropout_rates),
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_frames(ssl_config, input_samples, projection_units):
    # The 3x3 first pooling must leave at least one node along time and along the projected features.
    frames = ssl_config.frames(input_samples)
    if frames is None or frames < 3 or projection_units < 3:
        raise ValueError(
            f"input_samples={input_samples} gives {frames} SSL frames; ssl_aasist needs at least 3 "
            f"(at least {ssl_config.min_samples() + 2 * ssl_config.total_stride} samples)"
        )


@keras.saving.register_keras_serializable(package="fakespeech")
class LayerWeightedSum(keras.layers.Layer):
    """Softmax-weighted sum of a list of same-shaped hidden states, one learned weight per state.

    The weights start equal (zeros before the softmax), as in SUPERB-style layer-wise probes.

    Example:
        >>> LayerWeightedSum()([np.ones((2, 5, 4), "float32")] * 3).shape
        (2, 5, 4)
    """

    def build(self, input_shape):
        self.layer_logits = self.add_weight(shape=(len(input_shape),), initializer="zeros", name="layer_logits")

    def call(self, states):
        # list of (batch, frames, dims) -> (batch, frames, dims)
        weights = ops.softmax(ops.cast(self.layer_logits, "float32"))
        stacked = ops.stack([ops.cast(s, "float32") for s in states], axis=0)  # (layers, batch, frames, dims)
        mixed = ops.tensordot(weights, stacked, axes=1)
        return ops.cast(mixed, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="fakespeech")
class SslLinear(keras.Model):
    """Layer-weighted SSL probe: softmax-weighted sum of all hidden states, projection, mean pooling, logit.

    The states summed are the Transformer input and every layer's output, the last one taken after the final
    layer norm in the pre-LN variant (hidden_states[:-1] + [last_hidden_state]).

    Args:
        ssl_config: the backbone's `SslConfig` (or its dict).
        input_samples: clip length in samples.
        ssl_trainable: "all", "none" or "top:N".
        gradient_checkpointing: recompute the backbone's blocks in the backward pass.
        normalize_waveform: scale each clip to zero mean, unit variance first (see `SslAasist`).
        projection_units: width of the Dense before pooling (256, as SUPERB's projector).
        dropout: dropout before the logit layer.

    Example:
        >>> model = SslLinear(SslConfig(**BACKBONE_PRESETS["tiny"]), input_samples=4000, projection_units=8)
        >>> model(np.zeros((1, 4000), "float32")).shape
        (1, 1)
    """

    def __init__(self, ssl_config, input_samples=64600, ssl_trainable="none", gradient_checkpointing=False,
                 normalize_waveform=False, projection_units=256, dropout=0.0, **kwargs):
        ssl_config = _backbone_config(ssl_config)
        backbone = SslBackbone(ssl_config, input_samples=input_samples,
                               trainable_layers=parse_ssl_trainable(ssl_trainable, ssl_config.num_hidden_layers),
                               gradient_checkpointing=gradient_checkpointing, name=BACKBONE_NAME)
        waveform = keras.Input((input_samples,), name="waveform")
        outputs = backbone(_maybe_normalize(waveform, normalize_waveform))
        states = list(outputs["hidden_states"][:-1]) + [outputs["last_hidden_state"]]
        x = LayerWeightedSum(name="layer_weights")(states)  # (batch, frames, hidden)
        x = keras.layers.Dense(projection_units, name="projector")(x)
        logits = classifier_head(x, pooling="avg", dropout=dropout, name="head")
        super().__init__(inputs=waveform, outputs=logits, **kwargs)

        self.ssl_config = ssl_config
        self.input_samples = int(input_samples)
        self.ssl_trainable = str(ssl_trainable)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.normalize_waveform = bool(normalize_waveform)
        self.projection_units = int(projection_units)
        self.dropout = float(dropout)

    def get_config(self):
        return {**_front_end_config(self), "dropout": self.dropout}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _build(cls, presets, name, input_shape, preset, pretrained_weights, ssl_preset, ssl_overrides, config):
    if len(input_shape) != 1:
        raise ValueError(f"{name} takes waveforms, input_shape must be (samples,), got {input_shape}")
    config = resolve_preset(presets, preset, config, name)
    preset_backbone = config.pop("ssl_preset", None)
    checkpoint, weights_config = read_pretrained(pretrained_weights)
    ssl_config = resolve_backbone_config(ssl_preset or preset_backbone, weights_config, ssl_overrides)
    model = cls(ssl_config, input_samples=input_shape[0], name=name, **config)
    load_pretrained(model.get_layer(BACKBONE_NAME), pretrained_weights, checkpoint)
    return model


@register_model("ssl_aasist", input_kind="waveform",
                description="SSL-AASIST (Tak et al. 2022): XLS-R / wav2vec 2.0 / WavLM front end, AASIST back end",
                presets=SSL_AASIST_PRESETS, hidden_presets=TEST_PRESETS)
def build_ssl_aasist(input_shape=(64600,), preset=None, pretrained_weights=None, ssl_preset=None, ssl_overrides=None,
                     **config):
    """SSL-AASIST on waveforms.

    Args:
        input_shape: (samples,).
        preset: a size of `SSL_AASIST_PRESETS` (a backbone preset name with the published back end, or "tiny").
        pretrained_weights: the SSL front end's weights: a converted backbone `.weights.h5` or a checkpoint (Hugging
            Face folder or fairseq `.pt`) whose architecture then decides the backbone.
        ssl_preset: the backbone preset (default: the checkpoint's architecture, else "xls_r_300m").
        ssl_overrides: `SslConfig` fields to change (e.g. {"hidden_dropout": 0.0}).
        **config: `SslAasist` arguments (ssl_layer, ssl_trainable, gradient_checkpointing, back-end sizes, ...).
    """
    return _build(SslAasist, SSL_AASIST_PRESETS, "ssl_aasist", input_shape, preset, pretrained_weights, ssl_preset,
                  ssl_overrides, config)


@register_model("ssl_linear", input_kind="waveform",
                description="Weighted sum of SSL layers + mean pooling + linear head (layer-wise SSL probe)",
                presets=SSL_LINEAR_PRESETS, hidden_presets=TEST_PRESETS)
def build_ssl_linear(input_shape=(64600,), preset=None, pretrained_weights=None, ssl_preset=None, ssl_overrides=None,
                     **config):
    """Layer-weighted SSL probe on waveforms; arguments as `build_ssl_aasist`, **config for `SslLinear`."""
    return _build(SslLinear, SSL_LINEAR_PRESETS, "ssl_linear", input_shape, preset, pretrained_weights, ssl_preset,
                  ssl_overrides, config)
