"""`DeepVoiceFeatures` against the DEEP-VOICE recipe run with librosa 0.11: each feature function called with its
default parameters on one window, then `np.mean` of its output (per coefficient for mfcc).

Tolerances (TOLERANCES: absolute, relative), from the errors measured on the 2,957 one-second windows of
../shared/realdev resampled to 22050 Hz: chroma_stft at most 5.8e-3 (in 6 windows the tuning estimate lands one
0.01 histogram bin away; the rest agree to 2e-7, so the median error must also stay below 1e-5), rms 6e-8,
spectral_centroid 1.9e-6 relative, spectral_bandwidth 5.3e-6 relative, rolloff 1.3e-4 relative (a cumulative sum
rounded differently moves one frame by one FFT bin), zero_crossing_rate 3e-8, mfcc1..20 7.3e-4 dB.
"""

import keras
import librosa
import numpy as np
import pytest

import models
from deep_voice_fixtures import librosa_row  # tests/pipelines is on pytest's pythonpath (setup.cfg)
from pipelines.features import DEEP_VOICE_COLUMNS, DeepVoiceFeatures

SR = 22050
TOLERANCES = {"chroma_stft": (1e-2, 0.0), "rms": (1e-6, 0.0), "spectral_centroid": (1e-3, 1e-5),
              "spectral_bandwidth": (1e-3, 2e-5), "rolloff": (1e-3, 1e-3), "zero_crossing_rate": (1e-6, 0.0),
              **{f"mfcc{i}": (2e-3, 0.0) for i in range(1, 21)}}
# The header of DEEP-VOICE's DATASET-balanced.csv, without LABEL.
CSV_HEADER = ("chroma_stft,rms,spectral_centroid,spectral_bandwidth,rolloff,zero_crossing_rate,mfcc1,mfcc2,mfcc3,"
              "mfcc4,mfcc5,mfcc6,mfcc7,mfcc8,mfcc9,mfcc10,mfcc11,mfcc12,mfcc13,mfcc14,mfcc15,mfcc16,mfcc17,mfcc18,"
              "mfcc19,mfcc20")


def assert_table_close(ours, expected):
    assert ours.shape == expected.shape and ours.shape[-1] == len(DEEP_VOICE_COLUMNS)
    for column, name in enumerate(DEEP_VOICE_COLUMNS):
        atol, rtol = TOLERANCES[name]
        np.testing.assert_allclose(ours[..., column], expected[..., column], atol=atol, rtol=rtol, err_msg=name)
    # chroma_stft's bound allows a tuning estimate one histogram bin away in a few windows, not in most.
    assert np.median(np.abs(ours[..., 0] - expected[..., 0])) < 1e-5


@pytest.fixture(scope="module")
def signal(harmonic_tone):
    """3.5 s: a detuned voiced tone, a chirp over noise, half a second of silence then a tone, a partial window."""
    voiced = harmonic_tone(150.0 * 2 ** (0.2 / 12), 1.0, SR)
    t = np.arange(SR) / SR
    chirp = 0.2 * np.sin(2 * np.pi * (300.0 * t + 2000.0 * t**2)) + 0.05 * np.random.default_rng(1).standard_normal(SR)
    gap = np.concatenate([np.zeros(SR // 2), harmonic_tone(440.0, 0.5, SR, seed=2)[:SR - SR // 2]])
    return np.concatenate([voiced, chirp, gap, harmonic_tone(90.0, 0.5, SR, seed=3)]).astype(np.float32)


def test_windows_of_a_generated_signal_match_librosa(signal):
    ours = keras.ops.convert_to_numpy(DeepVoiceFeatures()(signal[None]))  # (1, windows, 26)
    expected = np.stack([librosa_row(signal[k * SR:(k + 1) * SR], SR) for k in range(3)])[None]
    assert_table_close(ours, expected)


def test_overlapping_windows_and_another_sample_rate_match_librosa(signal):
    sr = 16000
    y = librosa.resample(signal[:2 * SR], orig_sr=SR, target_sr=sr)[:2 * sr]
    ours = keras.ops.convert_to_numpy(DeepVoiceFeatures(sample_rate=sr, hop_samples=sr // 2)(y[None]))
    expected = np.stack([librosa_row(y[k * sr // 2:k * sr // 2 + sr], sr) for k in range(3)])[None]
    assert_table_close(ours, expected)


def test_real_speech_windows_match_librosa(realdev_flacs):
    # librosa.load's default: mono, resampled to 22050 Hz, as the DEEP-VOICE recipe is assumed to load audio.
    clips = [librosa.load(path)[0] for path in realdev_flacs[::150]]
    windows = np.stack([y[k * SR:(k + 1) * SR] for y in clips for k in range(len(y) // SR)])
    assert len(windows) >= 8
    ours = keras.ops.convert_to_numpy(DeepVoiceFeatures(single_window=True)(windows))  # (windows, 26)
    assert_table_close(ours, np.stack([librosa_row(w, SR) for w in windows]))


def test_columns_are_the_deep_voice_csv_header():
    assert ",".join(DEEP_VOICE_COLUMNS) == CSV_HEADER


def test_single_window_feeds_the_dnn_and_saves(tmp_path, signal):
    inputs = keras.Input((SR,), name="waveform")
    table = DeepVoiceFeatures(single_window=True)(inputs)  # (batch, 26)
    model = keras.Model(inputs, models.build("dnn", (len(DEEP_VOICE_COLUMNS),), preset="tiny")(table))
    x = signal[None, :SR]
    path = tmp_path / "deep_voice_dnn.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_layer(index=1).get_config() == model.get_layer(index=1).get_config()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)),
                               atol=1e-6)


def test_bad_lengths_and_arguments_are_named():
    with pytest.raises(ValueError, match="exactly one window of 22050"):
        DeepVoiceFeatures(single_window=True)(np.zeros((1, 44100), np.float32))
    with pytest.raises(ValueError, match="shorter than one window"):
        DeepVoiceFeatures()(np.zeros((1, 1000), np.float32))
    with pytest.raises(ValueError, match="hop_samples"):
        DeepVoiceFeatures(hop_samples=0)
