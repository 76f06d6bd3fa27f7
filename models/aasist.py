"""AASIST and AASIST-L (Jung et al., "AASIST: Audio Anti-Spoofing using Integrated Spectro-Temporal Graph
Attention Networks", ICASSP 2022) in Keras 3, weight-compatible with the published PyTorch models.

Raw 16 kHz waveform -> fixed sinc filters (`models.sinc.SincConv`) -> |.|, 3x3 max pool, BN, SELU -> six residual
blocks on a (time, frequency) map -> spectral and temporal graphs (max over the other axis) -> GAT-S / GAT-T ->
graph pooling -> two parallel heterogeneous stacking GAT branches with master nodes -> element-wise max of the
branches -> max(|.|) and mean readouts + master -> Dense(2) (column 0 spoof, column 1 bona fide).

Output contract of the registry: one float32 spoof logit, `logit_spoof - logit_bonafide` (so sigmoid of it is the
two-class softmax probability of spoof). Higher score = more bona fide downstream, so the evaluator scores with
`-logit`. `AASIST(output_mode="two_class")` returns the published (batch, 2) logits instead; the published score is
column 1. Both variants hold the same weights, so weight files load into either.

Pretrained weights: `models.build("aasist", (64600,), pretrained_weights=PATH)` with PATH either a Keras
`.weights.h5` written by `fakespeech convert-weights` or directly the published `.pth` (then torch must be
installed; it is imported only by `models.convert`).

Axis order: our feature maps are (batch, time, frequency, channels), the house order, where the reference uses
(batch, channels, frequency, time); the converter permutes convolution kernels accordingly.

Parameter counts: AASIST 297,866 and AASIST-L 85,306 trainable parameters, the figures of the paper (PyTorch
counts parameters, not batch-normalisation running statistics; Keras' `count_params()` also counts those).
"""

import keras
from keras import ops

from models.convert import load_torch_weights
from models.graph_attention import GraphAttention, GraphPool, HeteroGraphAttention, MasterNode, NodePositionEmbedding
from models.layers import TwoClassModel, batch_norm, two_class_outputs
from models.registry import register_model
from models.sinc import SincConv

# The published configurations (clovaai/aasist config/AASIST.conf and AASIST-L.conf).
AASIST_CONFIGS = {
    "aasist": {
        "sinc_filters": 70,
        "first_conv": 128,
        "encoder_filters": ((1, 32), (32, 32), (32, 64), (64, 64)),
        "gat_dims": (64, 32),
        "pool_ratios": (0.5, 0.7, 0.5, 0.5),
        "temperatures": (2.0, 2.0, 100.0, 100.0),
    },
    "aasist_l": {
        "sinc_filters": 70,
        "first_conv": 128,
        "encoder_filters": ((1, 32), (32, 32), (32, 24), (24, 24)),
        "gat_dims": (24, 32),
        "pool_ratios": (0.4, 0.5, 0.7, 0.5),
        "temperatures": (2.0, 2.0, 100.0, 100.0),
    },
}
# Named sizes on top of a variant's published configuration (`models.build("aasist", shape, preset="tiny")`);
# "tiny" is for tests, a hidden preset left out of listings.
SIZE_PRESETS = {"tiny": {"encoder_filters": ((1, 4), (4, 4), (4, 8), (8, 8)), "gat_dims": (8, 4)}}


@keras.saving.register_keras_serializable(package="fakespeech")
class AasistResidualBlock(keras.layers.Layer):
    """Residual block of the AASIST encoder on (batch, time, frequency, channels) maps.

    conv(3x2 over time x frequency) -> BN -> SELU -> conv(3x2) + identity (or a 3x1 conv when the channel count
    changes), then max pooling by 3 along time. The padding reproduces the reference: the first convolution pads
    one frequency bin on both sides (the map grows by one bin), the second pads none (back to the input size).

    The reference also creates a pre-activation BN (`bn1`) in every block but the first, yet feeds the block input
    to the first convolution directly, so that BN never touches the output. We keep it, built but not called, so
    that the published weights and parameter count carry over; it gets no gradient in training, as in PyTorch.

    Args:
        filters: output channels.
        first: whether this is the first block (no `bn1`).

    Example:
        >>> AasistResidualBlock(filters=32, first=True)(np.zeros((2, 90, 23, 1), "float32")).shape
        (2, 30, 23, 32)
    """

    def __init__(self, filters, first=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.first = bool(first)
        self.conv1 = keras.layers.Conv2D(self.filters, (3, 2), name="conv1")
        self.bn2 = batch_norm("bn2")
        self.conv2 = keras.layers.Conv2D(self.filters, (3, 2), name="conv2")
        self.pool = keras.layers.MaxPooling2D((3, 1), name="mp")

    def build(self, input_shape):
        channels = input_shape[-1]
        if not self.first:
            self.bn1 = batch_norm("bn1")
            self.bn1.build(input_shape)
        time, freq = input_shape[1], input_shape[2]
        padded = (input_shape[0], None if time is None else time + 2, freq + 2, channels)
        self.conv1.build(padded)
        grown = (input_shape[0], time, freq + 1, self.filters)
        self.bn2.build(grown)
        self.conv2.build((input_shape[0], None if time is None else time + 2, freq + 1, self.filters))
        self.downsample = channels != self.filters
        if self.downsample:
            self.conv_downsample = keras.layers.Conv2D(self.filters, (3, 1), name="conv_downsample")
            self.conv_downsample.build((input_shape[0], None if time is None else time + 2, freq, channels))

    def call(self, x, training=None):
        # (batch, time, freq, channels) -> (batch, time // 3, freq, filters)
        out = self.conv1(ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))  # (batch, time, freq + 1, filters)
        out = ops.selu(self.bn2(out, training=training))
        out = self.conv2(ops.pad(out, ((0, 0), (1, 1), (0, 0), (0, 0))))  # (batch, time, freq, filters)
        identity = x
        if self.downsample:
            identity = self.conv_downsample(ops.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0))))
        return self.pool(out + identity)

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        return (input_shape[0], None if time is None else time // 3, input_shape[2], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "first": self.first})
        return config


def _readout(nodes):
    """max(|x|) and mean over nodes: (batch, n, d) -> two (batch, d)."""
    return ops.max(ops.abs(nodes), axis=1), ops.mean(nodes, axis=1)


@keras.saving.register_keras_serializable(package="fakespeech")
class AASIST(TwoClassModel):
    """AASIST / AASIST-L as a functional model on raw waveforms (batch, samples).

    Args:
        input_samples: clip length in samples (64,600 in the paper, about 4 s at 16 kHz).
        sinc_filters: number of sinc band-pass filters (frequency bins of the first map).
        first_conv: sinc filter length (raised to odd).
        encoder_filters: (in, out) channels of the residual blocks 1-4; blocks 5 and 6 repeat the last.
        gat_dims: output dims of GAT-S/GAT-T and of the HS-GAT layers.
        pool_ratios: kept fractions of graph pooling after GAT-S, GAT-T, and in the HS-GAT branches (the fourth
            is unused, as in the reference config).
        temperatures: of GAT-S, GAT-T, and the HS-GAT layers (the fourth is unused, as in the reference).
        sample_rate: sampling rate in Hz.
        output_mode: "spoof_logit" (batch, 1) float32, or "two_class" (batch, 2) published logits (spoof, bona fide).

    Example:
        >>> model = AASIST(**AASIST_CONFIGS["aasist"])
        >>> model(np.zeros((1, 64600), "float32")).shape
        (1, 1)
    """

    def __init__(
        self,
        input_samples=64600,
        sinc_filters=70,
        first_conv=128,
        encoder_filters=((1, 32), (32, 32), (32, 64), (64, 64)),
        gat_dims=(64, 32),
        pool_ratios=(0.5, 0.7, 0.5, 0.5),
        temperatures=(2.0, 2.0, 100.0, 100.0),
        sample_rate=16000,
        output_mode="spoof_logit",
        **kwargs,
    ):
        # Seven divisions by 3 along time (first pool and six blocks) must leave at least one temporal node.
        self.check_arguments("AASIST", input_samples, first_conv, output_mode, poolings_by_3=7)
        input_samples, sinc_filters, first_conv = int(input_samples), int(sinc_filters), int(first_conv)
        sample_rate = int(sample_rate)
        encoder_filters = tuple(tuple(int(c) for c in pair) for pair in encoder_filters)
        gat_dims = tuple(int(d) for d in gat_dims)
        pool_ratios = tuple(float(r) for r in pool_ratios)
        temperatures = tuple(float(t) for t in temperatures)

        # --- layers ---
        sinc = SincConv(sinc_filters, first_conv, sample_rate, name="conv_time")
        first_pool = keras.layers.MaxPooling2D((3, 3), name="first_pool")
        first_bn = batch_norm("first_bn")
        out_channels = [pair[1] for pair in encoder_filters] + [encoder_filters[-1][1]] * 2
        blocks = [AasistResidualBlock(c, first=i == 0, name=f"encoder_block_{i}") for i, c in enumerate(out_channels)]
        pos_s = NodePositionEmbedding(name="pos_s")
        master_1 = MasterNode(gat_dims[0], name="master_1")
        master_2 = MasterNode(gat_dims[0], name="master_2")
        gat_s = GraphAttention(gat_dims[0], temperatures[0], name="gat_s")
        gat_t = GraphAttention(gat_dims[0], temperatures[1], name="gat_t")
        hs_gat = {k: HeteroGraphAttention(gat_dims[1], temperatures[2], name=f"hs_gat_{k}") for k in ("11", "12", "21", "22")}
        pool_s = GraphPool(pool_ratios[0], name="pool_s")
        pool_t = GraphPool(pool_ratios[1], name="pool_t")
        pools = {k: GraphPool(pool_ratios[2], name=f"pool_{k}") for k in ("hs1", "ht1", "hs2", "ht2")}
        drop_way = keras.layers.Dropout(0.2, name="drop_way")
        drop = keras.layers.Dropout(0.5, name="drop")
        out_layer = keras.layers.Dense(2, dtype="float32", name="out_layer")

        # --- functional graph ---
        waveform = keras.Input((input_samples,), name="waveform")
        x = ops.abs(sinc(waveform))  # (batch, frames, filters)
        x = first_pool(ops.expand_dims(x, -1))  # (batch, time, freq, 1)
        e = ops.selu(first_bn(x))
        for block in blocks:
            e = block(e)  # (batch, time, freq, channels)
        e = ops.abs(e)
        spectral = pos_s(ops.max(e, axis=1))  # (batch, freq, channels)
        temporal = ops.max(e, axis=2)  # (batch, time, channels)
        out_s = pool_s(gat_s(spectral))
        out_t = pool_t(gat_t(temporal))

        branches = []
        for first, second, master_node in (("11", "12", master_1), ("21", "22", master_2)):
            branch = first[0]
            t1, s1, m1 = hs_gat[first](out_t, out_s, master_node(waveform))
            s1 = pools[f"hs{branch}"](s1)
            t1 = pools[f"ht{branch}"](t1)
            t_aug, s_aug, m_aug = hs_gat[second](t1, s1, m1)
            branches.append((t1 + t_aug, s1 + s_aug, m1 + m_aug))

        (t1, s1, m1), (t2, s2, m2) = branches
        out_t = ops.maximum(drop_way(t1), drop_way(t2))
        out_s = ops.maximum(drop_way(s1), drop_way(s2))
        master = ops.maximum(drop_way(m1), drop_way(m2))
        t_max, t_avg = _readout(out_t)
        s_max, s_avg = _readout(out_s)
        hidden = ops.concatenate([t_max, t_avg, s_max, s_avg, ops.squeeze(master, 1)], axis=-1)
        logits = out_layer(drop(hidden))  # (batch, 2): spoof, bona fide
        super().__init__(waveform, two_class_outputs(logits, output_mode), locals(), **kwargs)


def load_pretrained(model, path, variant):
    """Loads a `.weights.h5` written by the converter, or converts a published `.pth` in memory (needs torch)."""
    path = str(path)
    if path.endswith(".pth"):
        load_torch_weights(model, path, variant)  # needs torch, which models.convert imports only when called
    else:
        model.load_weights(path)
    return model


def _register_variant(variant, description):
    """Registers the builder of `variant`: its published configuration, a size preset, then explicit arguments."""

    @register_model(variant, "waveform", description, presets=SIZE_PRESETS, hidden_presets=("tiny",))
    def build(input_shape=(64600,), preset=None, pretrained_weights=None, **config):
        model = AASIST.build_for_clips(variant, input_shape, AASIST_CONFIGS[variant], SIZE_PRESETS, preset, config)
        if pretrained_weights:
            load_pretrained(model, pretrained_weights, variant)
        return model

    build.__name__ = build.__qualname__ = f"build_{variant}"
    return build


build_aasist = _register_variant("aasist", "AASIST (ICASSP 2022), 297,866 parameters")
build_aasist_l = _register_variant("aasist_l", "AASIST-L (ICASSP 2022), 85,306 parameters")
