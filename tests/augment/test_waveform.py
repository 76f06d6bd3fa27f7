"""Waveform layers against hand computations with injected transformations."""

import keras
import numpy as np
import pytest

import augment
from augment.waveform import colored_noise

RNG = np.random.default_rng(0)
X = (0.2 * RNG.standard_normal((3, 2048))).astype(np.float32)
APPLY = np.array([True, True, False])


def test_gain_multiplies_by_decibels():
    layer = augment.RandomGain()
    gain_db = np.array([-6.0, 3.0, 9.0], np.float32)
    out = np.asarray(layer.transform_inputs(X, {"apply": APPLY, "gain_db": gain_db}))
    expected = X * np.where(APPLY, 10.0 ** (gain_db / 20.0), 1.0)[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_drawn_gains_stay_in_range():
    layer = augment.RandomGain(gain_db=(-3.0, 2.0), seed=0)
    gains = np.asarray(layer.get_random_transformation(np.zeros((256, 4)))["gain_db"])
    assert -3.0 <= gains.min() and gains.max() <= 2.0


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_is_added_at_the_drawn_snr(color):
    layer = augment.AddNoise(noise_color=color, seed=0)
    transformation = {k: np.asarray(v) for k, v in layer.get_random_transformation(X).items()}
    transformation["apply"] = APPLY
    out = np.asarray(layer.transform_inputs(X, transformation))
    noise = out - X
    snr = 10.0 * np.log10(np.mean(X**2, axis=1) / np.maximum(np.mean(noise**2, axis=1), 1e-30))
    np.testing.assert_allclose(snr[APPLY], transformation["snr_db"][APPLY], atol=1e-2)
    np.testing.assert_array_equal(out[~APPLY], X[~APPLY])


def test_pink_noise_power_falls_as_one_over_f():
    ops = augment.AddNoise().backend
    noise = np.asarray(colored_noise(ops, (8, 8192), 1.0, keras.random.SeedGenerator(1)))
    power = np.mean(np.abs(np.fft.rfft(noise, axis=1)) ** 2, axis=0)[1:]
    freqs = np.arange(1, len(power) + 1)
    slope = np.polyfit(np.log(freqs), np.log(power), 1)[0]
    assert abs(slope + 1.0) < 0.1
    np.testing.assert_allclose(np.mean(noise**2, axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("mode", ["circular", "zero"])
def test_shift_moves_samples(mode):
    layer = augment.TimeShift(max_shift=100, mode=mode)
    shifts = np.array([37, -5, 0], np.int32)
    out = np.asarray(layer.transform_inputs(X, {"apply": APPLY, "shift": shifts}))
    for row, shift in zip(range(len(X)), shifts):
        expected = np.roll(X[row], shift)
        if mode == "zero" and shift > 0:
            expected[:shift] = 0.0
        elif mode == "zero" and shift < 0:
            expected[shift:] = 0.0
        np.testing.assert_array_equal(out[row], expected)


def test_drawn_shifts_are_zero_where_not_applied():
    layer = augment.TimeShift(max_shift=7, probability=0.5, seed=1)
    transformation = layer.get_random_transformation(np.zeros((128, 16), np.float32))
    shifts, applied = np.asarray(transformation["shift"]), np.asarray(transformation["apply"])
    assert np.abs(shifts).max() <= 7 and np.all(shifts[~applied] == 0)


def test_bandlimit_keeps_only_the_pass_band():
    sample_rate = 16000
    layer = augment.BandLimit(sample_rate=sample_rate)
    low = np.array([300.0, 0.0, 300.0], np.float32)
    high = np.array([3400.0, 4000.0, 3400.0], np.float32)
    out = np.asarray(layer.transform_inputs(X, {"apply": APPLY, "low_hz": low, "high_hz": high}))
    freqs = np.fft.rfftfreq(X.shape[1], 1.0 / sample_rate)
    for row in np.flatnonzero(APPLY):
        inside = (freqs >= low[row]) & (freqs <= high[row])
        spectrum, original = np.fft.rfft(out[row]), np.fft.rfft(X[row])
        assert np.abs(spectrum[~inside]).max() < 1e-3 * np.abs(original).max()
        np.testing.assert_allclose(spectrum[inside], original[inside], atol=1e-3 * np.abs(original).max())
    np.testing.assert_array_equal(out[~APPLY], X[~APPLY])


def test_bad_ranges_are_named():
    with pytest.raises(ValueError, match="high_hz"):
        augment.BandLimit(sample_rate=8000, high_hz=(3000.0, 6000.0))
    with pytest.raises(ValueError, match="noise_color"):
        augment.AddNoise(noise_color="blue")
    with pytest.raises(ValueError, match="mode"):
        augment.TimeShift(mode="reflect")
