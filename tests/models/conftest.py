"""Fixtures of the model tests: runs of `backend_worker.py` under each Keras backend, each in its own process."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKER = HERE / "backend_worker.py"
# A worker builds, trains and saves every registered model at its tiny size; minutes on two busy cores at most.
WORKER_TIMEOUT_S = 1800

# The test modules import the worker's case list and fixed inputs (tests/models is no package).
sys.path.insert(0, str(HERE))

from backend_worker import AASIST_DIR, aasist_reference_skip_reason  # noqa: E402  (needs the path above)


@dataclasses.dataclass(frozen=True)
class WorkerRun:
    """What one worker process measured: its report (backend, losses, errors) and its arrays."""

    report: dict
    arrays: dict


def _run_worker(backend, out, *args):
    env = {**os.environ, "KERAS_BACKEND": backend}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.pop("XLA_FLAGS", None)  # one device: this compares backends, not distributions
    command = [sys.executable, str(WORKER), "--out", str(out), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"the {backend} worker failed ({' '.join(command)}):\n{result.stderr[-6000:]}")
    with np.load(out / "arrays.npz") as arrays:
        return WorkerRun(json.loads((out / "report.json").read_text()), dict(arrays))


@pytest.fixture(scope="session")
def backend_runs(tmp_path_factory):
    """{"tensorflow": ..., "jax": ..., "tensorflow_read": ...}: `WorkerRun`s of three processes, in this order.

    TensorFlow writes (trains, saves weights and `.keras`); JAX reads those and writes its own (and checks the
    published AASIST weights when present); a last TensorFlow process reads what JAX wrote.
    """
    root = tmp_path_factory.mktemp("backends")
    aasist = [] if aasist_reference_skip_reason() else ["--aasist", str(AASIST_DIR)]
    runs = {"tensorflow": _run_worker("tensorflow", root / "tensorflow")}
    runs["jax"] = _run_worker("jax", root / "jax", "--read", str(root / "tensorflow"), *aasist)
    runs["tensorflow_read"] = _run_worker(
        "tensorflow", root / "tensorflow_read", "--read", str(root / "jax"), "--no-write"
    )
    return runs
