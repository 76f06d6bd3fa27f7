"""The NumPy constants and the framing against librosa's own constructions."""

import keras
import librosa
import numpy as np
import pytest

from pipelines.features import filterbanks
from pipelines.features.chroma import chroma_filterbank
from pipelines.features.spectral import frame


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [(22050, 2048, 128, 0.0, 11025.0),
                                                           (16000, 512, 40, 20.0, 7600.0)])
def test_slaney_mel_filterbank_matches_librosa_default(sr, n_fft, n_mels, fmin, fmax):
    ours = filterbanks.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, slaney=True)
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-9)


def test_htk_mel_filterbank_matches_librosa_htk_unnormalised():
    ours = filterbanks.mel_filterbank(16000, 512, 40, 50.0, 7000.0)
    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=7000.0, htk=True, norm=None).T
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sr, n_fft", [(22050, 2048), (16000, 512)])
def test_chroma_filterbank_matches_librosa_for_fixed_and_per_example_tunings(sr, n_fft):
    tunings = np.array([0.0, 0.23, -0.41])
    expected = np.stack([librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=t).T for t in tunings])
    np.testing.assert_allclose(chroma_filterbank(np, tunings, sr, n_fft), expected, atol=1e-7)
    in_graph = chroma_filterbank(keras.ops, keras.ops.convert_to_tensor(tunings.astype(np.float32)), sr, n_fft)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(in_graph), expected, atol=2e-6)


@pytest.mark.parametrize("frame_length, hop_length", [(256, 80), (2048, 512), (256, 81)])  # 81: gathered frames
def test_frames_are_exact_slices_like_librosa(frame_length, hop_length):
    x = np.random.default_rng(0).standard_normal((2, 3000)).astype(np.float32)
    expected = np.stack([librosa.util.frame(row, frame_length=frame_length, hop_length=hop_length).T for row in x])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(frame(keras.ops, x, frame_length, hop_length)), expected)


def test_window_is_periodic_and_centred_like_librosa():
    expected = np.pad(librosa.filters.get_window("hamming", 400, fftbins=True), (56, 56))
    np.testing.assert_allclose(filterbanks.window("hamming", 400, 512), expected, atol=1e-7)
