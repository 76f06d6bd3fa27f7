"""The same layers on both Keras backends: a process per backend (KERAS_BACKEND is fixed when Keras is imported)
runs backend_worker.py; both start at once, once per session (see conftest.py).

- Parity: with the same injected transformation and input, TensorFlow and JAX outputs agree within 1e-5.
- Under KERAS_BACKEND=jax: each layer's own random path runs inside `tf.data.Dataset.map` on batches; the waveform
  layers run chained inside a jax.jit-compiled model call, SpecAugment trains inside a model with fit, and the
  layers' seeds advance. (Under TensorFlow the in-process tests run the same graph paths.)
"""

import numpy as np
import pytest

LAYERS = ("gain", "noise", "shift", "bandlimit", "rawboost", "companding", "telephone", "quantize", "eq", "reverb",
          "background", "specaugment", "mixup", "cutmix")


@pytest.fixture(scope="module")
def runs(backend_workers):
    """{backend: (npz outputs, json report)} from the worker processes (conftest.BackendWorkers)."""
    results = backend_workers.results()
    assert [report["backend"] for _, report in results.values()] == list(results)
    return results


def test_every_layer_is_covered(runs):
    outputs, report = runs["jax"]
    assert set(report["dataset"]) == set(LAYERS)
    assert {name for name in outputs if not name.endswith(("_targets", "_design"))} == set(LAYERS)


@pytest.mark.parametrize("name", LAYERS + ("mixup_targets", "cutmix_targets", "eq_design"))
def test_injected_transformation_gives_the_same_output_on_both_backends(runs, name):
    tf_out, jax_out = runs["tensorflow"][0][name], runs["jax"][0][name]
    assert tf_out.shape == jax_out.shape
    np.testing.assert_allclose(jax_out, tf_out, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", LAYERS)
def test_random_path_runs_in_tf_data_under_jax(runs, name):
    checks = runs["jax"][1]["dataset"][name]
    # Both batches hold the same examples: new draws make them differ, except for the fixed telephone filter.
    assert checks == {"batches": 2, "shape": True, "finite": True, "changed": True,
                      "batches_differ": name != "telephone"}


def test_waveform_layers_run_inside_a_jit_compiled_model_under_jax(runs):
    assert runs["jax"][1]["model"]["waveform_chain"] == {"finite": True, "changed": True, "seeds_moved": True}


def test_specaugment_trains_inside_a_model_under_jax(runs):
    assert runs["jax"][1]["model"]["specaugment_fit"] == {"loss_finite": True, "seeds_moved": True}
