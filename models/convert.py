"""Converts the published PyTorch AASIST / AASIST-L state dicts (clovaai/aasist) to Keras weights.

    model = convert("aasist", "AASIST.pth")   # a Keras AASIST holding the published weights; writes nothing

Saving is the caller's job (`fakespeech convert-weights`, `pipelines.commands.convert_weights`, writes
`model.save_weights(OUT.weights.h5)` atomically).

Every tensor of the state dict is mapped by an explicit name to one variable of `models.aasist.AASIST`;
convolution kernels (out, in, freq, time) become (time, freq, in, out) because our maps are (time, frequency),
linear weights (out, in) become (in, out), BN `running_mean`/`running_var` become `moving_mean`/`moving_variance`.
`num_batches_tracked` (a PyTorch training counter with no Keras counterpart) is the only tensor left out. Any
other tensor without a target, or any target without a tensor, is an error that lists them.

torch is optional (the `torch` extra) and is imported here only, inside the functions that read `.pth` files.
"""

import os

import numpy as np

from models.registry import build

# The clip length of the published models (about 4 s at 16 kHz).
PUBLISHED_INPUT_SAMPLES = 64600

VARIANTS = ("aasist", "aasist_l")
IGNORED_SUFFIXES = ("num_batches_tracked",)


def _identity(array):
    return array


def _linear_kernel(array):
    return array.T  # (out, in) -> (in, out)


def _conv2d_kernel(array):
    return array.transpose(3, 2, 1, 0)  # (out, in, freq, time) -> (time, freq, in, out)


def _dense(prefix, layer):
    return {f"{prefix}.weight": (layer.kernel, _linear_kernel), f"{prefix}.bias": (layer.bias, _identity)}


def _conv(prefix, layer):
    return {f"{prefix}.weight": (layer.kernel, _conv2d_kernel), f"{prefix}.bias": (layer.bias, _identity)}


def _batch_norm(prefix, layer):
    return {
        f"{prefix}.weight": (layer.gamma, _identity),
        f"{prefix}.bias": (layer.beta, _identity),
        f"{prefix}.running_mean": (layer.moving_mean, _identity),
        f"{prefix}.running_var": (layer.moving_variance, _identity),
    }


def _encoder_block(prefix, block):
    mapping = {**_conv(f"{prefix}.conv1", block.conv1), **_batch_norm(f"{prefix}.bn2", block.bn2)}
    mapping.update(_conv(f"{prefix}.conv2", block.conv2))
    if not block.first:
        mapping.update(_batch_norm(f"{prefix}.bn1", block.bn1))
    if block.downsample:
        mapping.update(_conv(f"{prefix}.conv_downsample", block.conv_downsample))
    return mapping


def _graph_attention(prefix, layer):
    mapping = {f"{prefix}.att_weight": (layer.att_weight, _identity), **_batch_norm(f"{prefix}.bn", layer.bn)}
    for name in ("att_proj", "proj_with_att", "proj_without_att"):
        mapping.update(_dense(f"{prefix}.{name}", getattr(layer, name)))
    return mapping


def _hetero_graph_attention(prefix, layer):
    mapping = _batch_norm(f"{prefix}.bn", layer.bn)
    for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
        mapping[f"{prefix}.{name}"] = (getattr(layer, name), _identity)
    for name in ("proj_type1", "proj_type2", "att_proj", "att_projM", "proj_with_att", "proj_without_att",
                 "proj_with_attM", "proj_without_attM"):
        mapping.update(_dense(f"{prefix}.{name}", getattr(layer, name)))
    return mapping


def aasist_weight_map(model):
    """{torch state-dict key: (keras variable, transform)} for every variable of an `AASIST` model."""
    layer = model.get_layer
    mapping = {
        "pos_S": (layer("pos_s").embedding, _identity),
        "master1": (layer("master_1").node, _identity),
        "master2": (layer("master_2").node, _identity),
        **_batch_norm("first_bn", layer("first_bn")),
        **_graph_attention("GAT_layer_S", layer("gat_s")),
        **_graph_attention("GAT_layer_T", layer("gat_t")),
        **_dense("out_layer", layer("out_layer")),
    }
    for i in range(6):
        mapping.update(_encoder_block(f"encoder.{i}.0", layer(f"encoder_block_{i}")))
    for key in ("11", "12", "21", "22"):
        mapping.update(_hetero_graph_attention(f"HtrgGAT_layer_ST{key}", layer(f"hs_gat_{key}")))
    for ours, theirs in (("s", "S"), ("t", "T"), ("hs1", "hS1"), ("ht1", "hT1"), ("hs2", "hS2"), ("ht2", "hT2")):
        mapping.update(_dense(f"pool_{theirs}.proj", layer(f"pool_{ours}").proj))
    return mapping


def read_state_dict(path):
    """Reads a PyTorch state dict as {key: float32 numpy array}; needs torch (the `torch` extra)."""
    try:
        import torch  # optional (the `torch` extra) and heavy: imported only when a .pth is read
    except ImportError as error:
        raise ImportError(f"reading {path} needs torch: pip install 'fakespeech[torch]'") from error
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such weights file: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {key: value.detach().cpu().numpy() for key, value in state.items()}


def assign_state_dict(model, state, source="state dict"):
    """Assigns every mapped tensor of `state` to `model`; raises listing unmapped, missing or misshapen tensors."""
    mapping = aasist_weight_map(model)
    present = {key for key in state if not key.endswith(IGNORED_SUFFIXES)}
    unmapped = sorted(present - set(mapping))
    missing = sorted(set(mapping) - present)
    if unmapped or missing:
        raise ValueError(f"{source} does not match the Keras model: unmapped tensors {unmapped}, missing {missing}")
    mapped_variables = {id(variable) for variable, _ in mapping.values()}
    unfilled = [v.path for v in model.weights if id(v) not in mapped_variables]
    if unfilled:
        raise ValueError(f"Keras variables without a {source} tensor: {unfilled}")
    for key, (variable, transform) in mapping.items():
        value = transform(np.asarray(state[key], dtype=np.float32))
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{source}: {key} has shape {value.shape} after conversion, {variable.path} needs {variable.shape}")
        variable.assign(value)
    return model


def load_torch_weights(model, path, variant):
    """Loads the published `.pth` at `path` into `model` (an AASIST of the same `variant`)."""
    try:
        return assign_state_dict(model, read_state_dict(path), source=f"{path} ({variant})")
    except ValueError as error:
        raise ValueError(f"{error}\n(is {path} really an {variant} checkpoint?)") from None


def convert(variant, pth_path, input_samples=PUBLISHED_INPUT_SAMPLES):
    """Builds the registered `variant` ("aasist" or "aasist_l") and fills it from the published `.pth`; writes nothing.

    Args:
        variant: which architecture the checkpoint holds.
        pth_path: the PyTorch state dict (needs torch, the `torch` extra).
        input_samples: clip length of the returned model (the weights do not depend on it).

    Returns:
        The Keras `AASIST` model (spoof-logit output) holding the converted weights.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    model = build(variant, (input_samples,))
    return load_torch_weights(model, pth_path, variant)
