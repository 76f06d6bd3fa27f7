"""Our Keras 3 Conformer loads audio-classification-models 1.0.9 Keras 2 weights and reproduces its encoder.

The reference runs in a subprocess under tf-keras (`TF_USE_LEGACY_KERAS=1`), because that package does not run on
Keras 3: it builds the package's default `Conformer()` with seeded random weights (every weight perturbed, so a
swapped bias, norm or moving statistic shows up), saves the encoder's weights as `.h5`, and writes the input, the
encoder output and the parameter count of the whole model.
"""

import importlib.util
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("tf_keras") is None or importlib.util.find_spec("audio_classification_models") is None,
        reason="needs the 'legacy' extra (tf-keras and audio-classification-models==1.0.9) for the reference model",
    ),
]

INPUT_SHAPE = (128, 80, 1)  # the package's default input

REFERENCE_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
from audio_classification_models.models.conformer import Conformer

out = sys.argv[1]
tf.keras.utils.set_random_seed(0)
model = Conformer(input_shape={shape}, pretrain=False)
encoder = model.get_layer("conformer_encoder")
rng = np.random.default_rng(0)
for weight in encoder.weights:
    value = weight.numpy() + 0.1 * rng.standard_normal(weight.shape)
    if "moving_variance" in weight.name:
        value = rng.uniform(0.5, 1.5, weight.shape)
    weight.assign(value.astype("float32"))
inputs = rng.standard_normal((2,) + {shape}).astype("float32")
outputs = encoder(inputs, training=False).numpy()
encoder.save_weights(out + "/encoder.h5")
np.save(out + "/inputs.npy", inputs)
np.save(out + "/outputs.npy", outputs)
json.dump({{"params": int(model.count_params())}}, open(out + "/meta.json", "w"))
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("acm_reference")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    script = REFERENCE_SCRIPT.format(shape=INPUT_SHAPE)
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"reference subprocess failed:\n{result.stderr[-3000:]}"
    meta = json.loads((out / "meta.json").read_text())
    return {
        "dir": out,
        "weights": out / "encoder.h5",
        "inputs": np.load(out / "inputs.npy"),
        "outputs": np.load(out / "outputs.npy"),
        "params": meta["params"],
    }


@pytest.fixture(scope="module")
def loaded_model(reference):
    import models

    return models.build("conformer", INPUT_SHAPE, pretrained_weights=str(reference["weights"]))


def test_published_layout_loads_every_layer(loaded_model):
    report = loaded_model.pretrained_report
    assert report.missing == () and report.unused == ()
    encoder = loaded_model.get_layer("conformer_encoder")
    assert set(report.loaded) == {layer.name for layer in encoder.layers if layer.weights}


def test_encoder_outputs_match_the_package(reference, loaded_model):
    encoder = loaded_model.get_layer("conformer_encoder")
    ours = np.asarray(encoder(reference["inputs"], training=False))
    assert ours.shape == reference["outputs"].shape
    difference = np.max(np.abs(ours - reference["outputs"]))
    print(f"max abs difference to the package: {difference:.2e}")
    assert difference <= 1e-4


def test_parameter_count_matches_the_package(reference, loaded_model):
    assert loaded_model.count_params() == reference["params"]


def _copy_without(source, target, drop, rename):
    """Rewrites a Keras 2 weights file without layer `drop` and with layer `rename[0]` called `rename[1]`."""
    old, new = rename
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        kept = []
        for name in (n.decode() if isinstance(n, bytes) else n for n in src.attrs["layer_names"]):
            if name == drop:
                continue
            group = dst.create_group(new if name == old else name)
            weight_names = []
            for weight in (w.decode() if isinstance(w, bytes) else w for w in src[name].attrs["weight_names"]):
                weight_names.append(weight.replace(old, new))
                group.create_dataset(weight_names[-1], data=src[name][weight][()])
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            kept.append(group.name.lstrip("/").encode())
        dst.attrs["layer_names"] = kept


def test_missing_and_unused_layers_are_reported(reference, loaded_model, tmp_path):
    from models.conformer import load_keras2_h5_weights

    partial = tmp_path / "partial.h5"
    _copy_without(
        reference["weights"], partial, drop="conformer_encoder_block_15", rename=("conformer_encoder_linear", "other")
    )
    encoder = loaded_model.get_layer("conformer_encoder")
    with pytest.warns(UserWarning, match="got no weights"):
        report = load_keras2_h5_weights(encoder, partial)
    assert set(report.missing) == {"conformer_encoder_block_15", "conformer_encoder_linear"}
    assert report.unused == ("other",)
