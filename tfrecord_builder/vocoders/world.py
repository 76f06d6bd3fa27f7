"""WORLD vocoder (Morise et al., 2016) through pyworld: F0, spectral envelope and aperiodicity, resynthesised.

`world` estimates F0 with DIO refined by StoneMask (fast); `world:harvest` with Harvest (more robust, about 4x
slower). pyworld is an optional dependency (`pip install fakespeech[vocode]` or `pip install pyworld`).
"""

import importlib
import importlib.machinery
import importlib.util
import pathlib
from importlib import metadata

import numpy as np

FRAME_PERIOD_MS = 5.0
F0_FLOOR_HZ = 71.0
F0_CEIL_HZ = 800.0
PACKAGE = "pyworld"


def load_pyworld():
    """The pyworld module, or an `ImportError` saying how to install it.

    pyworld 0.3.5's `__init__` imports `pkg_resources` only to read its own version, and setuptools >= 81 no longer
    ships `pkg_resources`; the compiled extension itself needs neither, so it is loaded directly when that import
    is what fails.
    """
    try:
        return importlib.import_module(PACKAGE)
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise ImportError(f"needs the package {PACKAGE} (pip install {PACKAGE}, or pip install "
                              f"'fakespeech[vocode]')") from None
    spec = importlib.util.find_spec(PACKAGE)
    for path in sorted(pathlib.Path(spec.submodule_search_locations[0]).glob("pyworld*.so")):
        loader = importlib.machinery.ExtensionFileLoader(f"{PACKAGE}.pyworld", str(path))
        module_spec = importlib.util.spec_from_file_location(f"{PACKAGE}.pyworld", str(path), loader=loader)
        module = importlib.util.module_from_spec(module_spec)
        loader.exec_module(module)
        return module
    raise ImportError(f"{PACKAGE} is installed but its compiled extension was not found; reinstall it")


def check(option, sample_rate):
    load_pyworld()


def versions():
    return {PACKAGE: metadata.version(PACKAGE)}


def params(option, sample_rate):
    f0 = "harvest" if option == "harvest" else "dio+stonemask"
    return {"f0_estimator": f0, "frame_period_ms": FRAME_PERIOD_MS, "f0_floor_hz": F0_FLOOR_HZ,
            "f0_ceil_hz": F0_CEIL_HZ, "envelope": "cheaptrick", "aperiodicity": "d4c"}


def make(option, sample_rate):
    pyworld = load_pyworld()

    def vocode(x, rng):  # WORLD is deterministic: its synthesis noise restarts from a fixed seed on every call
        x = np.ascontiguousarray(x, dtype=np.float64)
        bounds = {"f0_floor": F0_FLOOR_HZ, "f0_ceil": F0_CEIL_HZ, "frame_period": FRAME_PERIOD_MS}
        if option == "harvest":
            f0, times = pyworld.harvest(x, sample_rate, **bounds)
        else:
            f0, times = pyworld.dio(x, sample_rate, **bounds)
            f0 = pyworld.stonemask(x, f0, times, sample_rate)
        envelope = pyworld.cheaptrick(x, f0, times, sample_rate, f0_floor=F0_FLOOR_HZ)
        aperiodicity = pyworld.d4c(x, f0, times, sample_rate)
        return pyworld.synthesize(f0, envelope, aperiodicity, sample_rate, FRAME_PERIOD_MS)

    return vocode
