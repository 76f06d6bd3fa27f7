"""`build_feature_layer` / `feature_output_shape`: each kind's layer from a `FeatureConfig`, and its static shape."""

import types

import numpy as np
import pytest

from pipelines import features
from pipelines.config import ConfigError, FeatureConfig

SETTINGS = {"logmel": dict(n_mels=40), "mfcc": dict(n_mels=40, n_coefficients=13, deltas=True),
            "lfcc": dict(n_coefficients=13, deltas=True), "deep_voice": dict(sample_rate=22050)}
STFT = dict(n_fft=256, win_length=200, hop_length=80)


def feature_config(kind, **overrides):
    settings = {**STFT, **SETTINGS.get(kind, {}), **overrides}
    try:
        return FeatureConfig(kind=kind, **settings)
    except ConfigError as err:  # the kinds added here reach FeatureConfig when the lead adds them
        pytest.skip(f"pipelines.config.FeatureConfig does not accept kind {kind!r} yet: {err}")


@pytest.mark.parametrize("kind", features.FEATURE_KINDS)
def test_built_layer_has_the_announced_static_shape(kind):
    cfg = feature_config(kind)
    samples = cfg.sample_rate if kind == "deep_voice" else 3200
    waveform = np.random.default_rng(0).standard_normal((2, samples)).astype(np.float32)
    out = features.build_feature_layer(cfg, name="front_end")(waveform)
    assert (2, *features.feature_output_shape(cfg, samples)) == tuple(out.shape)


def test_chroma_kind_reads_the_stft_fields_with_tuning_zero():
    layer = features.build_feature_layer(feature_config("chroma", window="hamming", center=False))
    assert isinstance(layer, features.Chroma)
    assert (layer.tuning, layer.n_fft, layer.hop_length, layer.window, layer.center) == (0.0, 256, 80, "hamming",
                                                                                         False)


def test_deep_voice_kind_is_one_window_vector_and_names_a_wrong_clip():
    cfg = feature_config("deep_voice")
    layer = features.build_feature_layer(cfg)
    assert isinstance(layer, features.DeepVoiceFeatures) and layer.single_window and layer.sample_rate == 22050
    assert features.feature_output_shape(cfg, 22050) == (26,)
    with pytest.raises(ValueError, match="data.clip_samples"):
        features.feature_output_shape(cfg, 64600)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="kind must be one of"):
        features.build_feature_layer(types.SimpleNamespace(kind="cqt"))
