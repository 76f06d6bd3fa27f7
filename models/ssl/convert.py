"""Converts wav2vec 2.0 / XLS-R / HuBERT / WavLM checkpoints (Hugging Face or fairseq) into an `SslBackbone`.

    backbone = convert_checkpoint("wav2vec2", "wav2vec2-xls-r-300m/")   # architecture from config.json
    backbone.save_weights("xls_r_300m.weights.h5")                      # the CLI writes it atomically

Every tensor is mapped by name (Hugging Face naming; fairseq names are renamed on reading, see
`models.ssl.checkpoint`) to one Keras variable: convolution kernels (out, in, k) become (k, in, out), linear
weights (out, in) become (in, out), norm weight / bias become gamma / beta, the weight-normalised positional
convolution keeps its (g, v) parametrisation. Conversion fails, listing the names, when a variable has no tensor
(missing), a tensor has no variable and is not a known pre-training / task head (unmapped), or a shape disagrees.
Known heads (quantizer, project_q, masked_spec_embed, lm_head, ...) are reported with a `UnusedTensorsWarning`.
"""

import json
import os
import warnings

import numpy as np

from models.ssl.backbone import SslBackbone
from models.ssl.checkpoint import Checkpoint, CheckpointError, read_checkpoint
from models.ssl.config import SslConfig

__all__ = [
    "Checkpoint", "CheckpointError", "UnusedTensorsWarning", "assign_checkpoint", "backbone_weight_map",
    "convert_checkpoint", "load_backbone_weights", "read_checkpoint", "read_sidecar_config", "sidecar_config_path",
]


class UnusedTensorsWarning(UserWarning):
    """A checkpoint holds pre-training or task-head tensors that the backbone does not use."""


def _identity(array):
    return array


def _linear(array):
    return array.T  # (out, in) -> (in, out)


def _conv1d(array):
    return array.transpose(2, 1, 0)  # (out, in, kernel) -> (kernel, in, out)


def _taps(array):
    return array.reshape(-1)  # weight_g (1, 1, kernel) -> (kernel,); gru_rel_pos_const (1, heads, 1, 1) -> (heads,)


def _dense(prefix, layer):
    return {f"{prefix}.weight": (layer.kernel, _linear), f"{prefix}.bias": (layer.bias, _identity)}


def _norm(prefix, layer):
    return {f"{prefix}.weight": (layer.gamma, _identity), f"{prefix}.bias": (layer.beta, _identity)}


def _feature_encoder(index, block):
    prefix = f"feature_extractor.conv_layers.{index}"
    mapping = {f"{prefix}.conv.weight": (block.conv.kernel, _conv1d)}
    if block.use_bias:
        mapping[f"{prefix}.conv.bias"] = (block.conv.bias, _identity)
    if block.norm_layer is not None:
        mapping.update(_norm(f"{prefix}.layer_norm", block.norm_layer))
    return mapping


def _encoder_layer(index, layer):
    prefix = f"encoder.layers.{index}"
    attention = layer.attention
    mapping = {**_norm(f"{prefix}.layer_norm", layer.layer_norm), **_norm(f"{prefix}.final_layer_norm",
                                                                          layer.final_layer_norm)}
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        mapping.update(_dense(f"{prefix}.attention.{name}", getattr(attention, name)))
    mapping.update(_dense(f"{prefix}.feed_forward.intermediate_dense", layer.intermediate_dense))
    mapping.update(_dense(f"{prefix}.feed_forward.output_dense", layer.output_dense))
    if attention.gru_rel_pos_linear is not None:
        mapping.update(_dense(f"{prefix}.attention.gru_rel_pos_linear", attention.gru_rel_pos_linear))
        mapping[f"{prefix}.attention.gru_rel_pos_const"] = (attention.gru_rel_pos_const, _taps)
    return mapping


def backbone_weight_map(backbone):
    """{Hugging Face tensor name: (Keras variable, transform)} for every weight of an `SslBackbone`."""
    config = backbone.config
    layer = backbone.get_layer
    mapping = {}
    for i in range(len(config.conv_dim)):
        mapping.update(_feature_encoder(i, layer(f"feature_encoder_{i}")))
    projection = layer("feature_projection")
    if projection.layer_norm is not None:
        mapping.update(_norm("feature_projection.layer_norm", projection.layer_norm))
    mapping.update(_dense("feature_projection.projection", projection.projection))
    position = layer("positional_embedding")
    mapping.update({
        "encoder.pos_conv_embed.conv.weight_g": (position.weight_g, _taps),
        "encoder.pos_conv_embed.conv.weight_v": (position.weight_v, _conv1d),
        "encoder.pos_conv_embed.conv.bias": (position.bias, _identity),
    })
    mapping.update(_norm("encoder.layer_norm", layer("encoder_layer_norm")))
    for i in range(config.num_hidden_layers):
        mapping.update(_encoder_layer(i, layer(f"encoder_layer_{i}")))
    if config.family == "wavlm":
        # The reference keeps the bucket embedding in the first layer; here it is a layer of its own.
        mapping["encoder.layers.0.attention.rel_attn_embed.weight"] = (
            layer("relative_position_bias").embeddings, _identity)
    return mapping


def assign_checkpoint(backbone, checkpoint):
    """Assigns every tensor of a `Checkpoint` to `backbone`; raises listing missing, unmapped, misshapen tensors.

    Returns:
        The backbone.

    Raises:
        CheckpointError: naming the checkpoint and the tensors at fault.
    """
    mapping = backbone_weight_map(backbone)
    source = checkpoint.source
    missing = sorted(set(mapping) - set(checkpoint.state))
    unmapped = sorted(set(checkpoint.state) - set(mapping))
    if missing or unmapped:
        raise CheckpointError(
            f"{source} does not match the Keras {backbone.config.family} backbone: "
            f"missing tensors {missing or 'none'}; unmapped tensors {unmapped or 'none'}"
        )
    mapped = {id(variable) for variable, _ in mapping.values()}
    unfilled = [v.path for v in backbone.weights if id(v) not in mapped and not _is_rng_state(v)]
    if unfilled:
        raise CheckpointError(f"Keras variables without a tensor in {source}: {unfilled}")
    values = []
    for key, (variable, transform) in mapping.items():
        value = transform(checkpoint.state[key])
        if tuple(value.shape) != tuple(variable.shape):
            raise CheckpointError(
                f"{source}: tensor {key} has shape {list(checkpoint.state[key].shape)}, which does not fit "
                f"{variable.path} {list(variable.shape)} (a checkpoint of another size?)"
            )
        values.append((variable, value))
    for variable, value in values:  # only once every shape is known to fit
        variable.assign(np.ascontiguousarray(value))
    if checkpoint.unused:
        warnings.warn(
            f"{source}: {len(checkpoint.unused)} pre-training / task-head tensors are not part of the backbone "
            f"and were left out: {list(checkpoint.unused)}",
            UnusedTensorsWarning,
            stacklevel=2,
        )
    return backbone


def _is_rng_state(variable):
    return variable.path.endswith("seed_generator_state")


def convert_checkpoint(family, checkpoint_path, input_samples=None, allow_pickle=False):
    """Reads a checkpoint and returns an `SslBackbone` of its architecture holding its weights.

    Args:
        family: "wav2vec2" (also XLS-R), "hubert" or "wavlm"; the checkpoint must hold that family.
        checkpoint_path: a Hugging Face folder (config.json + model.safetensors or pytorch_model.bin), a weights
            file inside one, or a fairseq `.pt`.
        input_samples: clip length of the returned model, or None for any length (weights do not depend on it).
        allow_pickle: see `models.ssl.checkpoint.read_checkpoint`.

    Returns:
        The backbone; `backbone.config` is its architecture (write it beside the weights with
        `sidecar_config_path` so that the `.weights.h5` can be loaded without naming a preset).

    Raises:
        FileNotFoundError, CheckpointError (a ValueError): see `read_checkpoint` and `assign_checkpoint`.
        ImportError: a `.bin` / `.pt` checkpoint without torch installed.
    """
    checkpoint = read_checkpoint(checkpoint_path, family=family, allow_pickle=allow_pickle)
    backbone = SslBackbone(checkpoint.config, input_samples=input_samples)
    return assign_checkpoint(backbone, checkpoint)


def sidecar_config_path(weights_path):
    """Where a converted backbone's architecture is kept: `NAME.weights.h5` -> `NAME.ssl_config.json`."""
    weights_path = os.fspath(weights_path)
    stem = weights_path[:-len(".weights.h5")] if weights_path.endswith(".weights.h5") else weights_path
    return stem + ".ssl_config.json"


def read_sidecar_config(weights_path):
    """The `SslConfig` stored beside a converted `.weights.h5`, or None when there is none."""
    path = sidecar_config_path(weights_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return SslConfig.from_dict(json.load(file), where=path)
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path}: not a valid backbone configuration: {error}") from None


def load_backbone_weights(backbone, weights_path):
    """Loads a converted `.weights.h5` into `backbone`; a clear error names the file when it does not fit."""
    weights_path = os.fspath(weights_path)
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"no such weights file: {weights_path}")
    try:
        backbone.load_weights(weights_path)
    except (OSError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{weights_path} does not load into this {backbone.config.family} backbone "
            f"({backbone.config.num_hidden_layers} layers of width {backbone.config.hidden_size}; truncated file or "
            f"another size?): {first}"
        ) from None
    return backbone
