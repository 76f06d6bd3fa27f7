"""Every feature layer under KERAS_BACKEND=tensorflow and KERAS_BACKEND=jax, one fresh process per backend.

The processes (backend_worker.py, run side by side) compute each layer on the same input compiled (jax.jit / XLA),
as a tf.data map, and eagerly on TensorFlow; the tests compare backends and modes with each other. librosa is the
reference for the values themselves (test_features.py, test_chroma.py, test_deep_voice.py); here the bound is
float32 rounding: 1e-5 absolute plus 1e-5 relative (the DEEP-VOICE table holds frequencies in Hz and dB).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "backend_worker.py")
REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOLERANCE = dict(atol=1e-5, rtol=1e-5)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """{"tensorflow": {key: array}, "jax": {...}} from backend_worker.py run once per backend, in parallel."""
    folder = tmp_path_factory.mktemp("backends")
    runs = {}
    for backend in ("tensorflow", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([REPO, os.environ.get(
            "PYTHONPATH", "")]), TF_CPP_MIN_LOG_LEVEL="2")
        path = folder / f"{backend}.npz"
        runs[backend] = path, subprocess.Popen([sys.executable, WORKER, str(path)], env=env, cwd=REPO,
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    for backend, (path, process) in runs.items():
        log = process.communicate(timeout=600)[0]
        assert process.returncode == 0, f"{backend} worker failed:\n{log[-4000:]}"
        with np.load(path) as data:
            assert str(data["backend"]) == backend
            results[backend] = {key: data[key] for key in data.files}
    return results


def _layers(outputs):
    return sorted({key.split("/")[0] for key in outputs["tensorflow"] if key.endswith("/eager")})


def test_both_backends_ran_every_layer(outputs):
    assert len(_layers(outputs)) == 7
    modes = {"jax": ("compiled", "dataset"), "tensorflow": ("compiled", "dataset", "eager")}
    for backend, names in modes.items():
        assert {key for key in outputs[backend] if key.split("/")[-1] in names} == {
            f"{layer}/{mode}" for layer in _layers(outputs) for mode in names}


def test_jax_matches_tensorflow(outputs):
    for name in _layers(outputs):
        np.testing.assert_allclose(outputs["jax"][f"{name}/compiled"], outputs["tensorflow"][f"{name}/eager"],
                                   err_msg=name, **TOLERANCE)


def test_xla_matches_eager_on_tensorflow(outputs):
    for name in _layers(outputs):
        np.testing.assert_allclose(outputs["tensorflow"][f"{name}/compiled"],
                                   outputs["tensorflow"][f"{name}/eager"], err_msg=name, **TOLERANCE)


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_tf_data_map_matches_the_model_path(outputs, backend):
    for name in _layers(outputs):
        np.testing.assert_allclose(outputs[backend][f"{name}/dataset"], outputs[backend][f"{name}/compiled"],
                                   err_msg=name, **TOLERANCE)


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_mixed_policy_computes_in_float32_and_returns_bfloat16(outputs, backend):
    assert str(outputs[backend]["logmel_top_db/mixed_bfloat16_dtype"]) == "bfloat16"
    # A bfloat16 STFT would be off by far more: all that is left is rounding the result to 8 significant bits.
    np.testing.assert_allclose(outputs[backend]["logmel_top_db/mixed_bfloat16"],
                               outputs[backend]["logmel_top_db/compiled"], rtol=2.0**-8, atol=1e-6)
