"""Every registered model on both Keras backends: trains, round-trips `.keras`, and gives the same outputs from the
same weights under TensorFlow and JAX (each backend in its own process, KERAS_BACKEND set before keras is imported).

The runs live in the session fixture `backend_runs` (tests/models/conftest.py); the worker is backend_worker.py.
"""

import numpy as np
import pytest

import backend_worker
from backend_worker import AASIST_DIR, aasist_reference_skip_reason

pytestmark = pytest.mark.slow

CASES = sorted(backend_worker.cases())
# Models fitted by EM (pipelines.train.gmm): the worker trains nothing, only their .keras round trip is checked.
FITTED_OUTSIDE_GRADIENT_DESCENT = {"gmm"}
# Outputs are logits up to a few tens: equal within 1e-5, relative to max(1, |output|).
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
# (reader process, writer process): JAX reads what TensorFlow wrote, then TensorFlow reads what JAX wrote.
DIRECTIONS = {"tensorflow->jax": ("jax", "tensorflow"), "jax->tensorflow": ("tensorflow_read", "jax")}


def _result(run, phase, case):
    result = run.report[phase].get(case)
    assert result is not None, f"{case}: no {phase} result (registered after the worker ran?)"
    assert result["error"] is None, f"{case} ({run.report['backend']}, {phase}): {result['error']}\n{result['traceback']}"
    return result


def test_each_worker_ran_under_its_backend(backend_runs):
    backends = {name: run.report["backend"] for name, run in backend_runs.items()}
    assert backends == {"tensorflow": "tensorflow", "jax": "jax", "tensorflow_read": "tensorflow"}


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("case", CASES)
def test_trains_and_round_trips_keras(backend_runs, backend, case):
    run = backend_runs[backend]
    losses = _result(run, "write", case)["losses"]
    outputs = run.arrays[f"{case}/outputs"]
    np.testing.assert_allclose(run.arrays[f"{case}/own_keras"], outputs, rtol=1e-6, atol=1e-6)
    if case in FITTED_OUTSIDE_GRADIENT_DESCENT:
        assert losses == [], f"{case} was expected to have no trainable weights"
        return
    assert np.mean(losses[-3:]) < 0.8 * losses[0], f"{case} on {backend}: training losses {losses}"


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("case", CASES)
def test_same_weights_give_the_same_outputs(backend_runs, case, direction):
    reader, writer = (backend_runs[name] for name in DIRECTIONS[direction])
    _result(reader, "read", case)
    expected = writer.arrays[f"{case}/outputs"]
    np.testing.assert_allclose(reader.arrays[f"{case}/from_weights"], expected, **TOLERANCE)


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("case", CASES)
def test_keras_file_loads_under_the_other_backend(backend_runs, case, direction):
    reader, writer = (backend_runs[name] for name in DIRECTIONS[direction])
    result = _result(reader, "read", case)
    np.testing.assert_allclose(reader.arrays[f"{case}/from_keras"], writer.arrays[f"{case}/outputs"], **TOLERANCE)
    assert result["loss_class"] == _result(writer, "write", case)["loss_class"]  # the compiled loss travels too


def test_published_aasist_reproduces_the_reference_logits_under_jax(backend_runs):
    reason = aasist_reference_skip_reason()
    if reason:
        pytest.skip(reason)
    run = backend_runs["jax"]
    assert run.report["aasist"]["error"] is None, run.report["aasist"]["traceback"]
    reference = np.load(AASIST_DIR / "reference_logits_AASIST.npy")  # (6, 2): spoof, bona fide (PyTorch)
    two_class = run.arrays["aasist/aasist/two_class"]
    assert np.abs(two_class - reference).max() < 1e-3
    np.testing.assert_allclose(run.arrays["aasist/aasist/spoof_logit"][:, 0], reference[:, 0] - reference[:, 1], atol=2e-3)
