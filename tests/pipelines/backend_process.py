"""Runs Python in a fresh interpreter on a chosen Keras backend: Keras fixes its backend when it is first imported.

Imported by the runtime, data-parallel and cross-backend tests.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Variables of the machine the tests run on that would change what a child process detects.
_DETECTED = ("KERAS_BACKEND", "XLA_FLAGS", "TF_CONFIG", "TPU_ACCELERATOR_TYPE", "TPU_PROCESS_ADDRESSES",
             "TPU_WORKER_HOSTNAMES", "COLAB_TPU_1VM", "COLAB_TPU_ADDR", "TPU_NAME", "FAKESPEECH_STRATEGY",
             "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "FAKESPEECH_BACKEND_CHILD")


def backend_env(backend, devices=None, **variables):
    """The environment of a child on `backend`, with `devices` virtual JAX CPU devices and `variables` set."""
    env = {key: value for key, value in os.environ.items() if key not in _DETECTED}
    env["KERAS_BACKEND"] = backend
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.update({key: str(value) for key, value in variables.items()})
    return env


def run_python(script, backend, devices=None, args=(), timeout=600, **variables):
    """Runs `python -c script args...` on `backend`; returns the JSON its last stdout line holds.

    A failing child fails the test with the end of its stderr.
    """
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=backend_env(backend, devices,
                            **variables), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_command(argv, backend, devices=None, timeout=600, **variables):
    """Runs `python -m pipelines.cli argv...` on `backend`; returns the `CompletedProcess` (text output)."""
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, argv)], env=backend_env(
        backend, devices, **variables), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
