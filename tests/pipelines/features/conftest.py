"""Signals and real speech shared by the feature tests."""

import glob
import os

import numpy as np
import pytest

REALDEV = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "realdev"))


def _harmonic_tone(f0, seconds, sr, seed=0, noise=0.01):
    """Five harmonics of f0 with 1/k amplitudes and a slow vibrato, plus white noise, float32."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * f0 * t + 0.3 * np.sin(2 * np.pi * 5.0 * t)
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))
    return (y + noise * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="session")
def harmonic_tone():
    """`harmonic_tone(f0, seconds, sr, seed=0, noise=0.01)` -> float32 signal."""
    return _harmonic_tone


@pytest.fixture(scope="session")
def realdev_flacs():
    """Every FLAC of ../shared/realdev (ASVspoof2019 LA layout), sorted; skips when the corpus is absent."""
    files = sorted(glob.glob(os.path.join(REALDEV, "LA", "*", "flac", "*.flac")))
    if not files:
        pytest.skip(f"real speech corpus not found under {REALDEV}")
    return files
