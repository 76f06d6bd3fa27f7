"""The wav2vec 2.0 / HuBERT / WavLM backbone reproduces PyTorch `transformers` hidden states after conversion.

Reference: tiny randomly initialised `transformers` models (no download), every weight perturbed, saved as
checkpoint folders and converted; every hidden state is compared with PyTorch in eval mode within 1e-4.
"""

import importlib.util

import keras
import numpy as np
import pytest

from models.ssl import SslBackbone, UnusedTensorsWarning, build_backbone, convert_checkpoint, sidecar_config_path
from models.ssl.layers import relative_position_buckets
from ssl_reference import (
    generated_speech_like,
    real_speech,
    reference_outputs,
    save_checkpoint,
    tiny_hf_model,
    write_json,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="the PyTorch reference needs torch and transformers (the `torch` extra)",
)
TOLERANCE = 1e-4
SAMPLES = 16000  # 1 s: 49 frames
# (family, layout, weights file): every family in both layouts, safetensors and pytorch_model.bin both covered.
CASES = [
    ("wav2vec2", "post_ln", "safetensors"),
    ("wav2vec2", "pre_ln", "bin"),
    ("hubert", "post_ln", "bin"),
    ("hubert", "pre_ln", "safetensors"),
    ("wavlm", "post_ln", "safetensors"),
    ("wavlm", "pre_ln", "bin"),
]
_CONVERTED = {}


def converted(case, tmp_path_factory):
    """(PyTorch model, converted Keras backbone, checkpoint folder) of a case, built once per session."""
    if case not in _CONVERTED:
        family, layout, weights_format = case
        torch_model = tiny_hf_model(family, layout)
        folder = save_checkpoint(torch_model, tmp_path_factory.mktemp(f"{family}_{layout}"), weights_format)
        with pytest.warns(UnusedTensorsWarning, match="masked_spec_embed"):
            backbone = convert_checkpoint(family, folder)
        _CONVERTED[case] = (torch_model, backbone, folder)
    return _CONVERTED[case]


def _transformers_major():
    import transformers

    return int(transformers.__version__.split(".")[0])


def assert_same_hidden_states(outputs, reference, stable_layer_norm, frames=None):
    hidden_states, last = reference
    ours = list(outputs["hidden_states"])
    if stable_layer_norm and _transformers_major() < 5:
        ours[-1] = outputs["last_hidden_state"]  # transformers 4 put the normalised output last
    assert len(ours) == len(hidden_states)
    select = (lambda a: a) if frames is None else frames
    for index, (mine, theirs) in enumerate(zip(ours, hidden_states)):
        error = np.abs(select(np.asarray(mine)) - select(theirs)).max()
        assert error < TOLERANCE, f"hidden state {index}: max |error| {error:.2e}"
    error = np.abs(select(np.asarray(outputs["last_hidden_state"])) - select(last)).max()
    assert error < TOLERANCE, f"last_hidden_state: max |error| {error:.2e}"


@pytest.mark.parametrize("case", CASES, ids=["-".join(case) for case in CASES])
def test_hidden_states_match_pytorch_on_a_generated_signal(case, tmp_path_factory):
    torch_model, backbone, _ = converted(case, tmp_path_factory)
    waveforms = generated_speech_like(SAMPLES, batch=2)
    assert_same_hidden_states(backbone(waveforms), reference_outputs(torch_model, waveforms),
                              torch_model.config.do_stable_layer_norm)


@pytest.mark.parametrize("case", CASES, ids=["-".join(case) for case in CASES])
def test_hidden_states_match_pytorch_on_real_speech(case, tmp_path_factory):
    waveforms = real_speech(SAMPLES)
    if waveforms is None:
        pytest.skip("../shared/realdev is absent: no real speech file to compare on")
    torch_model, backbone, _ = converted(case, tmp_path_factory)
    assert_same_hidden_states(backbone(waveforms), reference_outputs(torch_model, waveforms),
                              torch_model.config.do_stable_layer_norm)


@pytest.mark.parametrize("case", CASES, ids=["-".join(case) for case in CASES])
def test_padded_batch_with_attention_mask_matches_pytorch(case, tmp_path_factory):
    torch_model, backbone, _ = converted(case, tmp_path_factory)
    waveforms = generated_speech_like(SAMPLES, batch=3, seed=1)
    mask = np.ones(waveforms.shape, "int64")
    for row, length in ((1, 9000), (2, 4321)):
        mask[row, length:] = 0
        waveforms[row, length:] = 0.0
    masked = SslBackbone(backbone.config, use_attention_mask=True)
    masked.set_weights(backbone.get_weights())

    outputs = masked([waveforms, mask])

    # Every frame is compared, the padded ones included: they are computed the same way (keys masked).
    assert_same_hidden_states(outputs, reference_outputs(torch_model, waveforms, mask),
                              torch_model.config.do_stable_layer_norm)
    # The padding changes the result: the mask is really used.
    unmasked = reference_outputs(torch_model, waveforms)[1]
    assert np.abs(np.asarray(outputs["last_hidden_state"])[2] - unmasked[2]).max() > 1e-3


def test_relative_position_buckets_match_pytorch():
    from transformers.models.wavlm.modeling_wavlm import WavLMAttention

    for buckets, distance in ((320, 800), (32, 20)):
        attention = WavLMAttention(32, 4, num_buckets=buckets, max_distance=distance)
        relative = np.arange(-3 * distance, 3 * distance + 1)
        import torch

        expected = attention._relative_positions_bucket(torch.from_numpy(relative)).numpy()
        table = relative_position_buckets(buckets, distance)
        np.testing.assert_array_equal(table[np.clip(relative, -distance, distance) + distance], expected)


def test_converted_backbone_round_trips_through_keras_and_weights_files(tmp_path, tmp_path_factory):
    torch_model, backbone, _ = converted(("wavlm", "pre_ln", "bin"), tmp_path_factory)
    waveforms = generated_speech_like(SAMPLES, seed=2)
    expected = backbone(waveforms)

    backbone.save(tmp_path / "backbone.keras")
    restored = keras.saving.load_model(tmp_path / "backbone.keras")
    weights = tmp_path / "wavlm.weights.h5"
    backbone.save_weights(weights)
    write_json(sidecar_config_path(weights), backbone.config.to_dict())  # what `convert-weights` writes beside
    from_weights = build_backbone(pretrained_weights=str(weights), input_samples=SAMPLES)

    for model in (restored, from_weights):
        outputs = model(waveforms)
        for ours, theirs in zip(outputs["hidden_states"] + [outputs["last_hidden_state"]],
                                expected["hidden_states"] + [expected["last_hidden_state"]]):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_a_checkpoint_folder_is_accepted_as_pretrained_weights(tmp_path_factory):
    torch_model, backbone, folder = converted(("hubert", "post_ln", "bin"), tmp_path_factory)
    with pytest.warns(UnusedTensorsWarning):
        direct = build_backbone(pretrained_weights=str(folder), input_samples=SAMPLES)
    assert direct.config == backbone.config
    for ours, theirs in zip(direct.weights, backbone.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_feature_projection_without_layer_norm_matches_pytorch(tmp_path):
    torch_model = tiny_hf_model("hubert", "post_ln", feat_proj_layer_norm=False)
    folder = save_checkpoint(torch_model, tmp_path / "hubert")
    with pytest.warns(UnusedTensorsWarning):
        backbone = convert_checkpoint("hubert", folder)
    assert backbone.get_layer("feature_projection").layer_norm is None
    waveforms = generated_speech_like(SAMPLES, seed=3)
    assert_same_hidden_states(backbone(waveforms), reference_outputs(torch_model, waveforms), False)
