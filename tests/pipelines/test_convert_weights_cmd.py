"""`fakespeech convert-weights` for the SSL families: a tiny `transformers` checkpoint (built offline, saved with
`save_pretrained`) through the command into a `.weights.h5`, which `ssl_aasist` then loads and whose hidden states
match PyTorch's; bad input exits non-zero naming the file or tensor and writes nothing."""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

import models
from models.ssl import BACKBONE_NAME, sidecar_config_path
from pipelines.commands.convert_weights import main as convert_weights_main
from ssl_reference import generated_speech_like, real_speech, reference_outputs, save_checkpoint, tiny_hf_model

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="building reference checkpoints needs torch and transformers (the `torch` extra)",
)
SAMPLES = 8000  # 0.5 s: 24 SSL frames, enough for ssl_aasist's first 3x3 pooling
CASES = {"wav2vec2": "pre_ln", "wavlm": "post_ln", "hubert": "post_ln"}  # family -> layer-norm layout


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """family -> (PyTorch model, its Hugging Face folder)."""
    folders = {}
    for family, layout in CASES.items():
        model = tiny_hf_model(family, layout)
        folders[family] = (model, save_checkpoint(model, tmp_path_factory.mktemp(family)))
    return folders


def _speech():
    waveform = real_speech(SAMPLES)
    return generated_speech_like(SAMPLES) if waveform is None else waveform


@pytest.mark.parametrize("family", sorted(CASES))
def test_converted_file_gives_ssl_aasist_the_pytorch_hidden_states(family, checkpoints, tmp_path, capsys):
    torch_model, folder = checkpoints[family]
    out = tmp_path / f"{family}.weights.h5"

    assert convert_weights_main([family, str(folder), str(out)]) == 0

    assert sorted(os.listdir(tmp_path)) == sorted([out.name, os.path.basename(sidecar_config_path(out))])
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert "left out: ['masked_spec_embed']" in printed  # the pre-training tensor the backbone does not use
    # No preset named: the architecture comes from the file written beside the weights.
    model = models.build("ssl_aasist", (SAMPLES,), pretrained_weights=str(out))
    backbone = model.get_layer(BACKBONE_NAME)
    waveform = _speech()
    theirs, _ = reference_outputs(torch_model, waveform)
    ours = backbone(waveform, training=False)["hidden_states"]
    assert len(ours) == len(theirs) == torch_model.config.num_hidden_layers + 1
    for index, (mine, reference) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(np.asarray(mine), reference, atol=1e-4, err_msg=f"hidden state {index}")


def test_the_sidecar_holds_the_checkpoints_architecture(checkpoints, tmp_path):
    torch_model, folder = checkpoints["wavlm"]
    out = tmp_path / "w.weights.h5"
    assert convert_weights_main(["wavlm", str(folder), str(out)]) == 0
    with open(sidecar_config_path(out), encoding="utf-8") as file:
        stored = json.load(file)
    hf = torch_model.config
    assert (stored["family"], stored["hidden_size"], stored["num_hidden_layers"], stored["num_attention_heads"]) == (
        "wavlm", hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads)


def test_a_checkpoint_of_another_family_is_refused_naming_it(checkpoints, tmp_path, capsys):
    _, folder = checkpoints["wav2vec2"]
    out = tmp_path / "x.weights.h5"
    assert convert_weights_main(["wavlm", str(folder), str(out)]) == 1
    err = capsys.readouterr().err
    assert str(folder) in err and "holds a wav2vec2 model, not wavlm" in err
    assert os.listdir(tmp_path) == []


def test_an_unknown_family_is_a_usage_error(checkpoints, tmp_path, capsys):
    _, folder = checkpoints["wav2vec2"]
    assert convert_weights_main(["bert", str(folder), str(tmp_path / "x.weights.h5")]) == 2
    assert "FAMILY 'bert'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_truncated_checkpoint_names_the_file_and_tensor(checkpoints, tmp_path, capsys):
    _, folder = checkpoints["hubert"]
    copy = tmp_path / "checkpoint"
    shutil.copytree(folder, copy)
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) - 100])
    out = tmp_path / "out" / "h.weights.h5"

    assert convert_weights_main(["hubert", str(copy), str(out)]) == 1

    err = capsys.readouterr().err
    assert "model.safetensors: truncated file: tensor '" in err
    assert not os.path.exists(out.parent) or os.listdir(out.parent) == []


def test_a_missing_tensor_is_listed(checkpoints, tmp_path, capsys):
    import torch  # the test extra; only to write the damaged checkpoint
    from safetensors.torch import load_file

    _, folder = checkpoints["wav2vec2"]
    copy = tmp_path / "checkpoint"
    shutil.copytree(folder, copy)
    state = load_file(str(copy / "model.safetensors"))
    del state["encoder.layers.0.feed_forward.output_dense.weight"]
    os.remove(copy / "model.safetensors")
    torch.save(state, copy / "pytorch_model.bin")

    assert convert_weights_main(["wav2vec2", str(copy), str(tmp_path / "x.weights.h5")]) == 1
    assert "missing tensors ['encoder.layers.0.feed_forward.output_dense.weight']" in capsys.readouterr().err
    assert not (tmp_path / "x.weights.h5").exists()


def test_an_existing_out_is_kept_unless_overwrite(checkpoints, tmp_path, capsys):
    _, folder = checkpoints["wav2vec2"]
    out = tmp_path / "x.weights.h5"
    out.write_bytes(b"the user's file")

    assert convert_weights_main(["wav2vec2", str(folder), str(out)]) == 2

    assert f"{out} already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's file"
    assert convert_weights_main(["wav2vec2", str(folder), str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"the user's file" and os.path.isfile(sidecar_config_path(out))


def test_out_must_be_a_weights_file(checkpoints, tmp_path, capsys):
    _, folder = checkpoints["wav2vec2"]
    assert convert_weights_main(["wav2vec2", str(folder), str(tmp_path / "x.h5")]) == 2
    assert "must end with .weights.h5" in capsys.readouterr().err


def test_a_missing_checkpoint_is_a_data_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert convert_weights_main(["wav2vec2", str(missing), str(tmp_path / "x.weights.h5")]) == 1
    assert str(missing) in capsys.readouterr().err
