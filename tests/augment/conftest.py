"""Shared fixtures of the augment tests: miniature recording banks for the folder-based layers (written with
soundfile once per session), and the per-backend worker processes of test_backends.py.

The workers start with the first augment test and the cross-backend tests are moved after the other augment
tests, so the workers run beside the in-process tests instead of before them.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

RIR_DELAY = 40  # samples of silence before the direct path of every generated impulse response


def _impulse_response(rng, length, delay=RIR_DELAY):
    """A direct path of 1 after `delay` zeros, then an exponentially decaying noise tail below it."""
    rir = np.zeros(length)
    rir[delay] = 1.0
    tail = np.arange(length - delay - 1)
    rir[delay + 1:] = 0.2 * rng.uniform(-1.0, 1.0, tail.size) * np.exp(-tail / (0.1 * length))
    return rir.astype(np.float32)


@pytest.fixture(scope="session")
def banks(tmp_path_factory):
    """{"noise": folder, "rir": folder, "rir_delay": samples}: noise at 16 kHz (mono) and 8 kHz (stereo) plus a text
    file that must be ignored; RIRs at 16 and 8 kHz whose direct path comes after `rir_delay` silent samples."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("banks")
    noise, rir = root / "noise", root / "rir"
    (noise / "sub").mkdir(parents=True)
    rir.mkdir()
    sf.write(noise / "a_16k.wav", (0.1 * rng.standard_normal(6000)).astype(np.float32), 16000, subtype="FLOAT")
    sf.write(noise / "sub" / "b_8k_stereo.wav", (0.1 * rng.standard_normal((1500, 2))).astype(np.float32), 8000,
             subtype="FLOAT")
    (noise / "README.txt").write_text("not audio")
    sf.write(rir / "room_16k.wav", _impulse_response(rng, 800), 16000, subtype="FLOAT")
    sf.write(rir / "room_8k.flac", _impulse_response(rng, 300), 8000)
    return {"noise": str(noise), "rir": str(rir), "rir_delay": RIR_DELAY}


WORKER = pathlib.Path(__file__).with_name("backend_worker.py")
CROSS_BACKEND_TESTS = pathlib.Path(__file__).with_name("test_backends.py")


class BackendWorkers:
    """backend_worker.py under KERAS_BACKEND=tensorflow (parity outputs only) and =jax (everything), concurrently."""

    CHECKS = {"tensorflow": "parity", "jax": "all"}

    def __init__(self, out_dir, banks):
        self.out_dir = out_dir
        self.processes, self._results = {}, None
        for backend, checks in self.CHECKS.items():
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            with open(out_dir / f"{backend}.log", "w", encoding="utf-8") as log:
                self.processes[backend] = subprocess.Popen(
                    [sys.executable, str(WORKER), str(out_dir), banks["noise"], banks["rir"], checks],
                    env=env, stdout=log, stderr=subprocess.STDOUT)

    def results(self):
        """{backend: (npz outputs, json report)}, waiting for the workers the first time."""
        if self._results is None:
            results = {}
            for backend, process in self.processes.items():
                process.wait(timeout=600)
                log = (self.out_dir / f"{backend}.log").read_text(encoding="utf-8")
                assert process.returncode == 0, f"{backend} worker failed:\n{log[-4000:]}"
                report = json.loads((self.out_dir / f"{backend}.json").read_text(encoding="utf-8"))
                results[backend] = (dict(np.load(self.out_dir / f"{backend}.npz")), report)
            self._results = results
        return self._results

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def backend_workers(banks, tmp_path_factory):
    workers = BackendWorkers(tmp_path_factory.mktemp("backends"), banks)
    yield workers
    workers.stop()


def _is_cross_backend(item):
    return pathlib.Path(str(item.fspath)) == CROSS_BACKEND_TESTS


@pytest.fixture(autouse=True)
def _start_backend_workers_early(request):
    if any(_is_cross_backend(item) for item in request.session.items):
        request.getfixturevalue("backend_workers")


def pytest_collection_modifyitems(items):
    """Moves the cross-backend tests after the last other augment test (their order among themselves kept)."""
    cross = [item for item in items if _is_cross_backend(item)]
    if not cross:
        return
    here = pathlib.Path(__file__).parent
    rest = [item for item in items if not _is_cross_backend(item)]
    last = max((i for i, item in enumerate(rest) if here in pathlib.Path(str(item.fspath)).parents), default=-1)
    items[:] = rest[:last + 1] + cross + rest[last + 1:]
