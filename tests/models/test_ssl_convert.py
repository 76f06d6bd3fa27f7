"""The SSL checkpoint converter: safetensors reading without torch, fairseq checkpoints, and clear errors."""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

from models.ssl import CheckpointError, SslBackbone, UnusedTensorsWarning, build_backbone, convert_checkpoint
from models.ssl.checkpoint import parse_conv_layers
from models.ssl.convert import load_backbone_weights
from models.ssl.presets import preset_config
from models.ssl.safetensors_io import read_safetensors
from ssl_reference import generated_speech_like, reference_outputs, save_checkpoint, tiny_hf_model

needs_reference = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="building reference checkpoints needs torch and transformers (the `torch` extra)",
)
SAMPLES = 8000


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory):
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("building reference checkpoints needs torch and transformers (the `torch` extra)")
    return save_checkpoint(tiny_hf_model("wav2vec2", "pre_ln"), tmp_path_factory.mktemp("wav2vec2"))


def _copy(folder, tmp_path):
    target = tmp_path / "checkpoint"
    shutil.copytree(folder, target)
    return target


# --- the safetensors reader ---


@needs_reference
def test_safetensors_reader_matches_the_reference_library(tmp_path):
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    tensors = {
        "f32": torch.from_numpy(rng.standard_normal((3, 4)).astype("float32")),
        "f16": torch.from_numpy(rng.standard_normal((5,)).astype("float16")),
        "bf16": torch.from_numpy(rng.standard_normal((2, 3)).astype("float32")).to(torch.bfloat16),
        "i64": torch.arange(6).reshape(2, 3),
        "scalar": torch.tensor(2.5),
    }
    path = str(tmp_path / "t.safetensors")
    save_file(tensors, path)

    ours = read_safetensors(path)

    assert sorted(ours) == sorted(tensors)
    for name, tensor in tensors.items():
        expected = tensor.float().numpy() if name == "bf16" else tensor.numpy()
        np.testing.assert_array_equal(ours[name], expected)
        assert ours[name].shape == tuple(tensor.shape)


def test_a_truncated_safetensors_file_names_the_file_and_tensor(wav2vec2_folder, tmp_path):
    folder = _copy(wav2vec2_folder, tmp_path)
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])

    with pytest.raises(CheckpointError, match=r"model\.safetensors: truncated file: tensor '[\w.]+'"):
        convert_checkpoint("wav2vec2", folder)


def test_a_garbled_safetensors_header_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes((20).to_bytes(8, "little") + b"{not json at all...}")
    with pytest.raises(CheckpointError, match="model.safetensors: not a safetensors file"):
        read_safetensors(str(path))
    path.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="no header length"):
        read_safetensors(str(path))


# --- checkpoints of the wrong kind ---


def test_a_checkpoint_of_another_family_is_rejected(wav2vec2_folder):
    with pytest.raises(CheckpointError, match="holds a wav2vec2 model, not wavlm"):
        convert_checkpoint("wavlm", wav2vec2_folder)


def test_a_checkpoint_of_another_size_than_the_preset_is_rejected(wav2vec2_folder):
    with pytest.raises(ValueError, match=r"not a 'wav2vec2_base' backbone.*hidden_size"):
        build_backbone("wav2vec2_base", pretrained_weights=str(wav2vec2_folder))


def test_converted_weights_of_another_size_name_the_file(tmp_path):
    tiny = preset_config("tiny")
    small = SslBackbone(tiny, input_samples=SAMPLES)
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    wider = SslBackbone(tiny.replace(hidden_size=48, intermediate_size=96), input_samples=SAMPLES)
    with pytest.raises(CheckpointError, match=r"small\.weights\.h5 does not load"):
        load_backbone_weights(wider, path)


def test_a_truncated_weights_file_names_the_file(tmp_path):
    backbone = SslBackbone(preset_config("tiny"), input_samples=SAMPLES)
    path = tmp_path / "tiny.weights.h5"
    backbone.save_weights(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"tiny\.weights\.h5 does not load"):
        load_backbone_weights(backbone, path)


def test_a_config_that_disagrees_with_the_tensors_names_the_tensor(wav2vec2_folder, tmp_path):
    folder = _copy(wav2vec2_folder, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"encoder\.layers\.0\.feed_forward\.intermediate_dense\.\w+ has shape"):
        convert_checkpoint("wav2vec2", folder)


def test_another_architecture_in_config_json_is_rejected(wav2vec2_folder, tmp_path):
    folder = _copy(wav2vec2_folder, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "wav2vec2-conformer"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="model_type 'wav2vec2-conformer' is not a supported"):
        convert_checkpoint("wav2vec2", folder)


def test_a_folder_without_config_json_is_named(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        convert_checkpoint("wav2vec2", tmp_path)


# --- missing, unmapped and known-unused tensors ---


@needs_reference
def test_a_missing_tensor_is_listed(wav2vec2_folder, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = _copy(wav2vec2_folder, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    del state["encoder.layers.1.attention.k_proj.bias"]
    os.remove(folder / "model.safetensors")
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"missing tensors \['encoder\.layers\.1\.attention\.k_proj\.bias'\]"):
        convert_checkpoint("wav2vec2", folder)


@needs_reference
def test_an_unknown_tensor_is_listed_and_known_heads_only_warned(wav2vec2_folder, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = _copy(wav2vec2_folder, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    prefixed = {f"wav2vec2.{key}": value for key, value in state.items()}  # as in Wav2Vec2ForPreTraining
    prefixed["project_q.weight"] = torch.zeros(4, 4)
    os.remove(folder / "model.safetensors")
    torch.save(prefixed, folder / "pytorch_model.bin")
    with pytest.warns(UnusedTensorsWarning, match=r"project_q\.weight"):
        convert_checkpoint("wav2vec2", folder)

    prefixed["encoder.adapter.weight"] = torch.zeros(2)
    torch.save(prefixed, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"unmapped tensors \['encoder\.adapter\.weight'\]"):
        convert_checkpoint("wav2vec2", folder)


@needs_reference
def test_a_truncated_pytorch_file_names_the_file(wav2vec2_folder, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = _copy(wav2vec2_folder, tmp_path)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    os.remove(folder / "model.safetensors")
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin: cannot read this PyTorch file"):
        convert_checkpoint("wav2vec2", folder)


# --- fairseq checkpoints ---

# Hugging Face name -> fairseq name (the module layout of fairseq's Wav2Vec2Model / Microsoft's WavLM).
_TO_FAIRSEQ = [
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.2.1."),
    (r"feature_projection\.layer_norm\.", "layer_norm."),
    (r"feature_projection\.projection\.", "post_extract_proj."),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"encoder\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
    (r"\.attention\.gru_rel_pos_linear\.", ".self_attn.grep_linear."),
    (r"\.attention\.gru_rel_pos_const", ".self_attn.grep_a"),
    (r"\.attention\.rel_attn_embed\.", ".self_attn.relative_attention_bias."),
    (r"\.attention\.", ".self_attn."),
    (r"(encoder\.layers\.\d+)\.layer_norm\.", r"\1.self_attn_layer_norm."),
    (r"\.feed_forward\.intermediate_dense\.", ".fc1."),
    (r"\.feed_forward\.output_dense\.", ".fc2."),
    (r"masked_spec_embed", "mask_emb"),
]


def _fairseq_state(torch_model):
    import re

    state = {}
    for key, value in torch_model.state_dict().items():
        for pattern, replacement in _TO_FAIRSEQ:
            key = re.sub(pattern, replacement, key)
        state[key] = value
    return state


def _fairseq_model_cfg(config):
    triples = zip(config.conv_dim, config.conv_kernel, config.conv_stride)
    layers = " + ".join(f"[({d}, {k}, {s})]" for d, k, s in triples)
    return {
        "extractor_mode": "layer_norm" if config.feat_extract_norm == "layer" else "default",
        "encoder_layers": config.num_hidden_layers, "encoder_embed_dim": config.hidden_size,
        "encoder_ffn_embed_dim": config.intermediate_size, "encoder_attention_heads": config.num_attention_heads,
        "activation_fn": "gelu", "layer_norm_first": config.do_stable_layer_norm, "conv_feature_layers": layers,
        "conv_bias": config.conv_bias, "conv_pos": config.num_conv_pos_embeddings,
        "conv_pos_groups": config.num_conv_pos_embedding_groups, "dropout": 0.1, "attention_dropout": 0.1,
        "activation_dropout": 0.0, "encoder_layerdrop": 0.05, "dropout_input": 0.1,
    }


@needs_reference
@pytest.mark.parametrize("family", ["wav2vec2", "wavlm"])
def test_fairseq_checkpoint_matches_pytorch(family, tmp_path):
    import torch

    torch_model = tiny_hf_model(family, "pre_ln")
    model_cfg = _fairseq_model_cfg(torch_model.config)
    if family == "wavlm":  # Microsoft's WavLM .pt: cfg is the model configuration itself
        model_cfg.update(relative_position_embedding=True, num_buckets=torch_model.config.num_buckets,
                         max_distance=torch_model.config.max_bucket_distance, gru_rel_pos=True)
        saved = {"cfg": model_cfg, "model": _fairseq_state(torch_model)}
    else:
        saved = {"cfg": {"model": {"_name": "wav2vec2", **model_cfg}}, "model": _fairseq_state(torch_model)}
    path = tmp_path / "checkpoint.pt"
    torch.save(saved, path)

    with pytest.warns(UnusedTensorsWarning, match="mask_emb"):
        backbone = convert_checkpoint(family, path)

    assert backbone.config.hidden_dropout == 0.1 and backbone.config.layerdrop == 0.05
    waveforms = generated_speech_like(SAMPLES, batch=2, seed=4)
    outputs = backbone(waveforms)
    hidden_states, last = reference_outputs(torch_model, waveforms)
    ours_all = outputs["hidden_states"][:-1] + [outputs["last_hidden_state"]]
    for ours, theirs in zip(ours_all, hidden_states[:-1] + [last]):
        assert np.abs(np.asarray(ours) - theirs).max() < 1e-4


def test_fairseq_conv_layer_strings_parse_like_python():
    text = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    assert parse_conv_layers(text) == eval(text)  # the trusted reference: Python itself
    with pytest.raises(CheckpointError, match="cannot read conv_feature_layers"):
        parse_conv_layers("__import__('os').system('true')")
