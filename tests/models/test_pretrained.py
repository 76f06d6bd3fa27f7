"""The shipped pretrained detectors: the weight files are the converted published checkpoints, they reproduce the
PyTorch reference logits, the registry builds them by name, and each has its card and licence."""

import importlib.util
import os
import pathlib

import numpy as np
import pytest

import models
from models.aasist import AASIST, AASIST_CONFIGS
from models.convert import convert
from models.pretrained import LICENSE_PATH, NOTICE_PATH, PRETRAINED, get_pretrained
from pipelines.commands.models import main as models_main

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "aasist"
REFERENCE_NAMES = {"aasist_asvspoof2019_la": "AASIST", "aasist_l_asvspoof2019_la": "AASIST-L"}
# float32 through the whole network against the PyTorch reference: a relative 2.4e-6 at most is measured (logits
# of magnitude up to 23), so 1e-5 relative leaves room for other CPUs' kernels.
REFERENCE_RTOL = 1e-5

pytestmark = pytest.mark.slow  # each test builds a published-size AASIST


def _needs_shared():
    if not SHARED.is_dir():
        pytest.skip(f"the published AASIST checkpoints and reference outputs are not present at {SHARED}")


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_shipped_weights_equal_a_fresh_conversion_of_the_published_checkpoint(name):
    _needs_shared()
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch (the `torch` extra) is not installed: cannot read the published .pth checkpoints")
    preset = get_pretrained(name)
    fresh = convert(preset.architecture, str(SHARED / preset.source_file))
    shipped = models.build(preset.architecture, pretrained=name)
    assert [w.path for w in shipped.weights] == [w.path for w in fresh.weights]
    for ours, theirs in zip(shipped.weights, fresh.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_shipped_weights_reproduce_the_pytorch_reference_logits(name):
    _needs_shared()
    preset = get_pretrained(name)
    waveforms = np.load(SHARED / "reference_input.npy")
    reference = np.load(SHARED / f"reference_logits_{REFERENCE_NAMES[name]}.npy")  # (6, 2): spoof, bona fide
    two_class = AASIST(**AASIST_CONFIGS[preset.architecture], output_mode="two_class")
    two_class.load_weights(preset.weights_path)  # the shipped file, read without torch
    np.testing.assert_allclose(np.asarray(two_class(waveforms, training=False)), reference, rtol=REFERENCE_RTOL,
                               atol=1e-5)
    spoof_logit = models.build(preset.architecture, pretrained=name)(waveforms, training=False)
    np.testing.assert_allclose(np.asarray(spoof_logit)[:, 0], reference[:, 0] - reference[:, 1],
                               rtol=REFERENCE_RTOL, atol=1e-5)


def test_an_alias_builds_its_preset_at_the_published_clip_length():
    model = models.build("aasist_l", pretrained="aasist_l")
    assert model.input_shape == (None, 64600)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == get_pretrained("aasist_l").parameters


@pytest.mark.parametrize("config, words", [
    ({"pretrained": "aasist_l_asvspoof2019_la"}, "holds 'aasist_l' weights"),
    ({"pretrained": "rawnet2_in_the_wild"}, "unknown pretrained model"),
    ({"pretrained": "aasist", "pretrained_weights": "x.weights.h5"}, "not both"),
    ({"pretrained": "aasist", "preset": "tiny"}, "takes no preset"),
])
def test_wrong_pretrained_requests_are_refused_by_name(config, words):
    with pytest.raises(ValueError, match=words):
        models.build("aasist", **config)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_every_preset_ships_weights_and_a_card_stating_its_facts(name):
    preset = get_pretrained(name)
    card = preset.card()
    size = os.path.getsize(preset.weights_path)
    assert 100_000 < size < 2_500_000, size  # the converted float32 weights, not a placeholder
    for fact in (f"{preset.published_eer:.2f} %", f"{preset.published_min_tdcf}", f"{preset.parameters:,}",
                 "16 kHz", f"{preset.input_samples:,} samples", "P(spoof)", "MIT", "Known limits",
                 "ASVspoof 2019 LA attacks only", "realdev"):
        assert fact in card, fact
    assert "NAVER Corp." in open(LICENSE_PATH, encoding="utf-8").read()
    assert preset.source_sha256 in open(NOTICE_PATH, encoding="utf-8").read()


def test_models_command_prints_the_card(capsys):
    assert models_main(["--card", "aasist"]) == 0
    assert capsys.readouterr().out == get_pretrained("aasist_asvspoof2019_la").card()
    assert models_main(["--card", "no_such_model"]) == 2
