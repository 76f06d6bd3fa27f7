"""The wav2vec 2.0 family backbone (wav2vec 2.0, XLS-R, HuBERT, WavLM) as a functional Keras model.

Raw 16 kHz waveform (batch, samples) -> convolutional feature encoder (7 strided convolutions, 20 ms frames) ->
feature projection -> convolutional position embedding -> Transformer encoder (post- or pre-layer-norm; WavLM adds
a gated relative position bias). HuBERT shares wav2vec 2.0's encoder; only its pre-training differs.

Outputs, a dict, the same tensors `transformers` returns (`output_hidden_states=True`, transformers >= 5):
- "hidden_states": num_hidden_layers + 1 tensors (batch, frames, hidden_size): the Transformer input (after the
  position embedding, and its layer norm in the post-LN variant), then every layer's output. In the pre-LN
  variant the last entry is the last layer's output *before* the final layer norm (transformers 4.x put the
  normalised one there instead).
- "last_hidden_state": the encoder output (after the final layer norm in the pre-LN variant; the same tensor as
  hidden_states[-1] in the post-LN variant). fairseq's `extract_features(...)["x"]`, which SSL-AASIST uses.

The input is not normalised: checkpoints trained on normalised audio (`do_normalize` in the Hugging Face
feature extractor, e.g. XLS-R) expect zero-mean unit-variance clips, which the data pipeline provides.

With `use_attention_mask=True` the model takes a second input, "attention_mask" (batch, samples) of 0/1 as in
`transformers`; the frame mask follows from each clip's valid length through the convolution length formula,
padded frames are zeroed before the position embedding and masked as attention keys.

Freezing: `trainable_layers=N` keeps the top N Transformer layers (and, in the pre-LN variant, the final layer
norm) trainable and freezes everything below them (feature encoder, projection, position embedding, lower layers).
Frozen layers run in inference mode and the gradient stops at their output (`ops.stop_gradient`), so nothing below
the first trainable layer is kept for the backward pass. `trainable_layers=None` trains everything; 0 freezes all.

All variables are created inside a name scope named after the model ("ssl_backbone" by default), so their paths
start with "ssl_backbone/" wherever the backbone is nested: an optimiser can give them their own learning rate.
"""

import keras
from keras import ops

from models.ssl.config import SslConfig
from models.ssl.layers import (
    FeatureEncoderConv,
    FeatureProjection,
    FrameMask,
    PositionalConvEmbedding,
    RelativePositionBias,
    SslDropout,
    SslTransformerLayer,
    attention_bias_from_mask,
)

BACKBONE_NAME = "ssl_backbone"


@keras.saving.register_keras_serializable(package="fakespeech")
class SslBackbone(keras.Model):
    """wav2vec 2.0 / XLS-R / HuBERT / WavLM backbone returning every layer's hidden states.

    Args:
        config: an `SslConfig` or its dict.
        input_samples: clip length in samples, or None for any length (at least `config.min_samples()`).
        use_attention_mask: add the "attention_mask" input for padded batches.
        trainable_layers: None (all trainable), or the number of top Transformer layers left trainable.
        gradient_checkpointing: recompute feature-encoder blocks and Transformer layers in the backward pass
            (`keras.remat`) instead of keeping their activations.

    Example:
        >>> from models.ssl.presets import preset_config
        >>> backbone = SslBackbone(preset_config("tiny"), input_samples=4000)
        >>> outputs = backbone(np.zeros((1, 4000), "float32"))
        >>> len(outputs["hidden_states"]), tuple(outputs["last_hidden_state"].shape)
        (3, (1, 12, 32))
    """

    def __init__(self, config, input_samples=None, use_attention_mask=False, trainable_layers=None,
                 gradient_checkpointing=False, **kwargs):
        config = config if isinstance(config, SslConfig) else SslConfig.from_dict(dict(config))
        _check_arguments(config, input_samples, trainable_layers)
        name = kwargs.setdefault("name", BACKBONE_NAME)
        with keras.name_scope(name):  # variable paths start with the backbone's name (see the module docstring)
            layers = _make_layers(config, bool(gradient_checkpointing))
            inputs, outputs = _graph(config, layers, input_samples, bool(use_attention_mask), trainable_layers)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        _freeze(config, layers, trainable_layers)

        self.config = config
        self.input_samples = None if input_samples is None else int(input_samples)
        self.use_attention_mask = bool(use_attention_mask)
        self.trainable_layers = None if trainable_layers is None else int(trainable_layers)
        self.gradient_checkpointing = bool(gradient_checkpointing)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.config.to_dict(),
            "input_samples": self.input_samples,
            "use_attention_mask": self.use_attention_mask,
            "trainable_layers": self.trainable_layers,
            "gradient_checkpointing": self.gradient_checkpointing,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_arguments(config, input_samples, trainable_layers):
    if input_samples is not None and int(input_samples) < config.min_samples():
        raise ValueError(f"input_samples={input_samples} is too short for the feature encoder: it needs at least "
                         f"{config.min_samples()} samples for one frame")
    if trainable_layers is not None and not 0 <= int(trainable_layers) <= config.num_hidden_layers:
        raise ValueError(f"trainable_layers={trainable_layers} must be between 0 and num_hidden_layers="
                         f"{config.num_hidden_layers} (or None for all)")


def _make_layers(config, gradient_checkpointing):
    norms = ["group"] + [None] * (len(config.conv_dim) - 1) if config.feat_extract_norm == "group" else \
        ["layer"] * len(config.conv_dim)
    wavlm = config.family == "wavlm"
    return {
        "feature_encoder": [
            FeatureEncoderConv(dim, kernel, stride, use_bias=config.conv_bias, norm=norm,
                               activation=config.feat_extract_activation,
                               gradient_checkpointing=gradient_checkpointing, name=f"feature_encoder_{i}")
            for i, (dim, kernel, stride, norm) in enumerate(
                zip(config.conv_dim, config.conv_kernel, config.conv_stride, norms))
        ],
        "feature_projection": FeatureProjection(config.hidden_size, config.feat_proj_layer_norm,
                                                config.layer_norm_eps, config.feat_proj_dropout,
                                                name="feature_projection"),
        "positional_embedding": PositionalConvEmbedding(config.num_conv_pos_embeddings,
                                                        config.num_conv_pos_embedding_groups,
                                                        config.feat_extract_activation, name="positional_embedding"),
        "encoder_layer_norm": keras.layers.LayerNormalization(epsilon=config.layer_norm_eps,
                                                              name="encoder_layer_norm"),
        "encoder_dropout": SslDropout(config.hidden_dropout, name="encoder_dropout"),
        "relative_position_bias": RelativePositionBias(config.num_attention_heads, config.num_buckets,
                                                       config.max_bucket_distance, name="relative_position_bias")
        if wavlm else None,
        "encoder_layers": [
            SslTransformerLayer(
                config.num_attention_heads, config.intermediate_size, config.hidden_act, config.layer_norm_eps,
                pre_layer_norm=config.do_stable_layer_norm, gated_relative_position=wavlm,
                hidden_dropout=config.hidden_dropout, attention_dropout=config.attention_dropout,
                activation_dropout=config.activation_dropout,
                # WavLM never drops its first layer (in the reference it holds the position bias).
                layerdrop=0.0 if wavlm and i == 0 else config.layerdrop,
                gradient_checkpointing=gradient_checkpointing, name=f"encoder_layer_{i}",
            )
            for i in range(config.num_hidden_layers)
        ],
    }


def _graph(config, layers, input_samples, use_attention_mask, trainable_layers):
    """Inputs and the outputs dict of the functional graph."""
    waveform = keras.Input((input_samples,), name="waveform")
    inputs = [waveform]
    x = ops.expand_dims(waveform, -1)  # (batch, samples, 1)
    for block in layers["feature_encoder"]:
        x = block(x)  # (batch, frames, conv_dim)
    hidden = layers["feature_projection"](x)  # (batch, frames, hidden)

    attention_bias = None
    if use_attention_mask:
        sample_mask = keras.Input((input_samples,), name="attention_mask")
        inputs.append(sample_mask)
        frame_mask = FrameMask(config.conv_kernel, config.conv_stride, name="frame_mask")(sample_mask, hidden)
        hidden = hidden * ops.expand_dims(frame_mask, -1)  # padded frames are zero before the position embedding
        attention_bias = attention_bias_from_mask(frame_mask)  # (batch, 1, 1, frames)

    hidden = layers["positional_embedding"](hidden)
    if not config.do_stable_layer_norm:
        hidden = layers["encoder_layer_norm"](hidden)
    hidden = layers["encoder_dropout"](hidden)
    position_bias = None
    if layers["relative_position_bias"] is not None:
        position_bias = layers["relative_position_bias"](hidden)  # (1, heads, frames, frames)

    # With freezing, layers [0, first_trainable) are frozen: the gradient stops at every tensor they produce.
    frozen = trainable_layers is not None
    first_trainable = config.num_hidden_layers - int(trainable_layers) if frozen else 0
    hidden_states = []
    for i, layer in enumerate(layers["encoder_layers"]):
        if frozen and i <= first_trainable:
            hidden = ops.stop_gradient(hidden)
            position_bias = None if position_bias is None else ops.stop_gradient(position_bias)
        hidden_states.append(hidden)
        hidden = layer(hidden, attention_bias=attention_bias, position_bias=position_bias)
    if frozen and first_trainable == config.num_hidden_layers:
        hidden = ops.stop_gradient(hidden)
    hidden_states.append(hidden)
    last = layers["encoder_layer_norm"](hidden) if config.do_stable_layer_norm else hidden
    if frozen and first_trainable == config.num_hidden_layers:
        last = ops.stop_gradient(last)
    return (inputs if use_attention_mask else waveform), {"hidden_states": hidden_states, "last_hidden_state": last}


def _freeze(config, layers, trainable_layers):
    if trainable_layers is None:
        return
    first_trainable = config.num_hidden_layers - int(trainable_layers)
    frozen = list(layers["feature_encoder"]) + [layers["feature_projection"], layers["positional_embedding"],
                                                layers["encoder_dropout"]]
    frozen += layers["encoder_layers"][:first_trainable]
    if layers["relative_position_bias"] is not None:
        frozen.append(layers["relative_position_bias"])
    if not config.do_stable_layer_norm or trainable_layers == 0:
        frozen.append(layers["encoder_layer_norm"])  # post-LN: it sits below layer 0; pre-LN: above the last
    for layer in frozen:
        layer.trainable = False
