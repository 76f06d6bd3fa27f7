"""Reads wav2vec 2.0 / XLS-R / HuBERT / WavLM checkpoints into one canonical form: config + named NumPy tensors.

Two sources:
- a Hugging Face folder: `config.json` plus `model.safetensors` (read with our NumPy reader, no torch),
  `pytorch_model.bin` (needs torch), or their sharded forms (`*.index.json`);
- a fairseq checkpoint `.pt` (wav2vec 2.0, XLS-R, HuBERT; also Microsoft's WavLM `.pt`): `cfg` (or the older
  `args`) plus the `model` state dict (needs torch).

Tensors are renamed to the Hugging Face names of the base model (`encoder.layers.3.attention.q_proj.weight`,
without the `wav2vec2.` prefix of task models), the architecture is read from the checkpoint's own configuration,
and tensors that belong to pre-training or task heads (quantizer, project_q, masked_spec_embed, lm_head, ...) are
set aside as known-unused. torch is optional (the `torch` extra) and imported only to read `.bin` / `.pt` files.
"""

import ast
import dataclasses
import json
import os
import re

import numpy as np

from models.ssl.config import FAMILIES, SslConfig
from models.ssl.safetensors_io import CheckpointError, read_safetensors

HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")
# Base-model prefixes of task models (Wav2Vec2ForPreTraining, ...ForCTC, ...ForSequenceClassification).
_HF_PREFIXES = ("wav2vec2.", "hubert.", "wavlm.")
# Pre-training / task heads that the backbone does not use: reported, never an error.
KNOWN_UNUSED_PREFIXES = (
    "masked_spec_embed", "quantizer.", "project_q.", "project_hid.", "lm_head.", "projector.", "classifier.",
    "layer_weights", "feature_extractor_adapter", "tdnn.", "feature_extractor_xvector", "objective.",
    # fairseq names
    "mask_emb", "final_proj.", "label_embs_concat", "target_glu.", "project_inp.", "input_quantizer.",
    "w2v_encoder.proj.", "proj.",
)
# fairseq tensor name -> Hugging Face name (regular expressions, first match wins).
_FAIRSEQ_RENAMES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)", r"feature_extractor.conv_layers.0.layer_norm.\1"),
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"encoder\.pos_conv\.0\.(weight_g|weight_v|bias)", r"encoder.pos_conv_embed.conv.\1"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", r"encoder.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.grep_linear\.(weight|bias)",
     r"encoder.layers.\1.attention.gru_rel_pos_linear.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.grep_a", r"encoder.layers.\1.attention.gru_rel_pos_const"),
    (r"encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight",
     r"encoder.layers.\1.attention.rel_attn_embed.weight"),
]
_FAIRSEQ_PREFIXES = ("w2v_encoder.w2v_model.", "w2v_model.")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read into canonical form.

    Attributes:
        config: the architecture (`SslConfig`) from the checkpoint's own configuration.
        state: {Hugging Face tensor name: float32 array} of the base model.
        unused: names of the known-unused tensors left out of `state` (pre-training and task heads).
        source: the file or folder read, for messages.
        kind: "huggingface" or "fairseq".
    """

    config: SslConfig
    state: dict
    unused: tuple
    source: str
    kind: str


def read_checkpoint(path, family=None, allow_pickle=False):
    """Reads a Hugging Face folder (or a weights file inside one) or a fairseq `.pt` into a `Checkpoint`.

    Args:
        path: folder with `config.json`, or `model.safetensors` / `pytorch_model.bin` beside one, or a fairseq `.pt`.
        family: expected family ("wav2vec2", "hubert", "wavlm"), or None to accept any.
        allow_pickle: let torch unpickle arbitrary objects from a `.pt`/`.bin` (old fairseq checkpoints store
            argparse / omegaconf objects). Only for files you trust: unpickling can run code.

    Raises:
        FileNotFoundError: no such path, or a folder without config.json or weights.
        CheckpointError: a checkpoint of another family, an unreadable / truncated file (naming it), an
            unsupported architecture option.
    """
    path = os.fspath(path)
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    beside_config = os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(path)), "config.json"))
    huggingface = path.endswith((".safetensors", ".index.json")) or (path.endswith(".bin") and beside_config)
    if os.path.isdir(path) or huggingface:
        checkpoint = _read_huggingface(path, allow_pickle)
    elif path.endswith((".pt", ".pth", ".bin")):
        checkpoint = _read_fairseq(path, allow_pickle)
    else:
        raise CheckpointError(
            f"{path}: not a checkpoint this converter reads; give a Hugging Face folder (config.json + "
            f"model.safetensors or pytorch_model.bin) or a fairseq .pt"
        )
    if family is not None and checkpoint.config.family != family:
        raise CheckpointError(
            f"{path} holds a {checkpoint.config.family} model, not {family}; convert it as "
            f"{checkpoint.config.family} or pick the {family} checkpoint"
        )
    return checkpoint


# --- Hugging Face ---


def _read_huggingface(path, allow_pickle):
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"{folder}: no config.json; a Hugging Face checkpoint folder holds config.json and model.safetensors "
            f"or pytorch_model.bin"
        )
    try:
        with open(config_path, encoding="utf-8") as file:
            hf_config = json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{config_path}: not valid JSON ({error})") from None
    try:
        config = SslConfig.from_hf_config(hf_config, where=config_path)
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    weights = path if not os.path.isdir(path) else _find_weights(folder)
    raw = _read_weights_file(weights, allow_pickle)
    state, unused = _canonical_hf_state(raw, weights)
    return Checkpoint(config, state, unused, weights, "huggingface")


def _find_weights(folder):
    for name in HF_WEIGHT_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{folder}: no weights file; expected one of {', '.join(HF_WEIGHT_FILES)}")


def _read_weights_file(path, allow_pickle):
    if path.endswith(".index.json"):
        return _read_sharded(path, allow_pickle)
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return _torch_state(_torch_load(path, allow_pickle), path)


def _read_sharded(index_path, allow_pickle):
    try:
        with open(index_path, encoding="utf-8") as file:
            weight_map = json.load(file)["weight_map"]
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{index_path}: not a shard index (expected a JSON 'weight_map'): {error}") from None
    folder = os.path.dirname(index_path)
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = os.path.join(folder, shard)
        if not os.path.isfile(shard_path):
            raise FileNotFoundError(f"{index_path} lists shard {shard}, which is missing from {folder}")
        tensors.update(_read_weights_file(shard_path, allow_pickle))
    missing = sorted(set(weight_map) - set(tensors))
    if missing:
        raise CheckpointError(f"{index_path}: tensors listed in the index are missing from their shards: {missing}")
    return tensors


def _canonical_hf_state(raw, source):
    state, unused = {}, []
    for key, value in raw.items():
        for prefix in _HF_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        # Weight normalisation is saved as weight_g / weight_v, or by torch's parametrizations as original0 / 1.
        key = key.replace("conv.parametrizations.weight.original0", "conv.weight_g")
        key = key.replace("conv.parametrizations.weight.original1", "conv.weight_v")
        if key.startswith(KNOWN_UNUSED_PREFIXES):
            unused.append(key)
            continue
        if key in state:
            raise CheckpointError(f"{source}: tensor {key!r} appears twice (with and without a model prefix)")
        state[key] = _as_float32(value, key, source)
    return state, tuple(sorted(unused))


# --- fairseq ---


def _read_fairseq(path, allow_pickle):
    loaded = _torch_load(path, allow_pickle)
    if not isinstance(loaded, dict) or "model" not in loaded:
        raise CheckpointError(f"{path}: not a fairseq checkpoint (expected a dict with 'model' and 'cfg' or 'args')")
    model_cfg = _fairseq_model_cfg(loaded, path)
    raw = _torch_state(loaded["model"], path)
    state, unused = {}, []
    for key, value in raw.items():
        for prefix in _FAIRSEQ_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith(KNOWN_UNUSED_PREFIXES):
            unused.append(key)
            continue
        state[_fairseq_to_hf_name(key)] = _as_float32(value, key, path)
    config = _fairseq_config(model_cfg, state, path)
    return Checkpoint(config, state, tuple(sorted(unused)), path, "fairseq")


def _fairseq_to_hf_name(key):
    for pattern, replacement in _FAIRSEQ_RENAMES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    return key  # left as is: reported as unmapped by the converter


def _as_mapping(value):
    if isinstance(value, dict):
        return value
    if hasattr(value, "items"):  # omegaconf DictConfig (only with allow_pickle)
        return dict(value.items())
    if hasattr(value, "__dict__"):  # argparse.Namespace of older checkpoints
        return vars(value)
    return None


def _fairseq_model_cfg(loaded, path):
    cfg = _as_mapping(loaded.get("cfg"))
    if cfg is not None and _as_mapping(cfg.get("model")) is not None:
        model_cfg = _as_mapping(cfg["model"])
    elif cfg is not None and "encoder_layers" in cfg:  # Microsoft's WavLM .pt: cfg is the model config itself
        model_cfg = cfg
    elif _as_mapping(loaded.get("args")) is not None:
        model_cfg = _as_mapping(loaded["args"])
    else:
        raise CheckpointError(f"{path}: fairseq checkpoint without a model configuration ('cfg' or 'args')")
    nested = _as_mapping(model_cfg.get("w2v_args"))  # a fine-tuned (CTC) model: the encoder's own config
    if nested is not None:
        model_cfg = _as_mapping(nested.get("model")) or nested
    return model_cfg


def _fairseq_family(model_cfg, state, path):
    if model_cfg.get("relative_position_embedding") or any("gru_rel_pos" in key for key in state):
        return "wavlm"
    name = str(model_cfg.get("_name") or model_cfg.get("arch") or "wav2vec2")
    if name.startswith("hubert"):
        return "hubert"
    if name.startswith("wav2vec2") or name in ("wav2vec_ctc", "wav2vec_seq2seq"):
        return "wav2vec2"
    raise CheckpointError(f"{path}: fairseq model {name!r} is not a wav2vec 2.0, HuBERT or WavLM model")


def _fairseq_config(model_cfg, state, path):
    family = _fairseq_family(model_cfg, state, path)
    unsupported = {
        "pos_conv_depth": int(model_cfg.get("pos_conv_depth", 1) or 1) != 1,
        "layer_type": model_cfg.get("layer_type", "transformer") not in (None, "transformer"),
        "gru_rel_pos": family == "wavlm" and not model_cfg.get("gru_rel_pos", True),
        "quantize_input": bool(model_cfg.get("quantize_input", False)),
    }
    used = sorted(name for name, present in unsupported.items() if present)
    if used:
        raise CheckpointError(f"{path}: fairseq option(s) {used} are not implemented by the Keras backbone")
    if "conv_feature_layers" not in model_cfg:
        raise CheckpointError(f"{path}: the model configuration has no conv_feature_layers")
    conv = parse_conv_layers(model_cfg["conv_feature_layers"], path)
    if "feature_projection.projection.weight" not in state:
        raise CheckpointError(
            f"{path}: no post_extract_proj tensor (the feature encoder width equals the model width); "
            f"this layout is not supported"
        )
    values = {
        "family": family,
        "conv_dim": [c[0] for c in conv], "conv_kernel": [c[1] for c in conv], "conv_stride": [c[2] for c in conv],
        "conv_bias": bool(model_cfg.get("conv_bias", False)),
        "feat_extract_norm": "layer" if model_cfg.get("extractor_mode", "default") == "layer_norm" else "group",
        "hidden_size": int(model_cfg.get("encoder_embed_dim", 768)),
        "num_hidden_layers": int(model_cfg.get("encoder_layers", 12)),
        "num_attention_heads": int(model_cfg.get("encoder_attention_heads", 12)),
        "intermediate_size": int(model_cfg.get("encoder_ffn_embed_dim", 3072)),
        "hidden_act": str(model_cfg.get("activation_fn", "gelu")),
        "do_stable_layer_norm": bool(model_cfg.get("layer_norm_first", False)),
        "num_conv_pos_embeddings": int(model_cfg.get("conv_pos", 128)),
        "num_conv_pos_embedding_groups": int(model_cfg.get("conv_pos_groups", 16)),
        "hidden_dropout": float(model_cfg.get("dropout", 0.1)),
        "attention_dropout": float(model_cfg.get("attention_dropout", 0.1)),
        "activation_dropout": float(model_cfg.get("activation_dropout", 0.0)),
        "feat_proj_dropout": float(model_cfg.get("dropout_input", 0.0)),
        "layerdrop": float(model_cfg.get("encoder_layerdrop", 0.0)),
    }
    if family == "wavlm":
        values["num_buckets"] = int(model_cfg.get("num_buckets", 320))
        values["max_bucket_distance"] = int(model_cfg.get("max_distance", 800))
    try:
        return SslConfig(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: {error}") from None


def parse_conv_layers(text, where="conv_feature_layers"):
    """fairseq's `conv_feature_layers` string, e.g. "[(512, 10, 5)] + [(512, 3, 2)] * 4", as [(dim, kernel, stride)].

    Evaluated safely: only lists, tuples, integers, `+` and `*` are allowed.
    """

    def evaluate(node):
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [evaluate(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = evaluate(node.left), evaluate(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unexpected {type(node).__name__}")

    try:
        layers = evaluate(ast.parse(str(text), mode="eval"))
        layers = [tuple(int(v) for v in layer) for layer in layers]
        if not layers or any(len(layer) != 3 for layer in layers):
            raise ValueError("expected (dim, kernel, stride) triples")
    except (SyntaxError, ValueError, TypeError) as error:
        raise CheckpointError(f"{where}: cannot read conv_feature_layers {text!r}: {error}") from None
    return layers


# --- torch files ---


def _torch_load(path, allow_pickle):
    try:
        import torch  # optional (the `torch` extra): only .bin / .pt checkpoints need it
    except ImportError as error:
        raise ImportError(
            f"reading {path} needs torch (pip install 'fakespeech[torch]'); a Hugging Face model.safetensors "
            f"is read without it"
        ) from error
    import argparse

    try:
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file (RuntimeError, EOFError, UnpicklingError)
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = ("" if allow_pickle or "weights_only" not in str(error) else
                "; the file stores Python objects beyond tensors: if you trust it, pass allow_pickle=True")
        raise CheckpointError(f"{path}: cannot read this PyTorch file (truncated or corrupt?): {message}{hint}") \
            from None


def _torch_state(state, path):
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: does not hold a state dict (got {type(state).__name__})")
    arrays = {}
    for key, value in state.items():
        if not hasattr(value, "detach"):
            raise CheckpointError(f"{path}: entry {key!r} of the state dict is not a tensor")
        arrays[key] = value.detach().cpu().float().numpy()
    return arrays


def _as_float32(value, key, source):
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise CheckpointError(f"{source}: tensor {key!r} has dtype {array.dtype}, expected floating point")
    return array.astype(np.float32, copy=False)
