"""NumPy constants of the feature layers: windows, frame counts, mel / linear filterbanks, the DCT, delta kernels.

Everything here is computed once in float64 when a layer is built and embedded as a float32 constant, so it is the
same on every backend and device. Matrices are laid out `(freq, filters)` so that `power @ matrix` maps a
`(batch, time, freq)` spectrum to `(batch, time, filters)`.
"""

import math

import numpy as np

from pipelines.config.stages import WINDOWS

# librosa's Slaney mel scale (`htk=False`): linear below 1 kHz, logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_LOG_START_HZ = 1000.0
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz):
    """HTK mel scale (librosa `htk=True`)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def hz_to_slaney_mel(hz):
    """Slaney mel scale (librosa's default, `htk=False`)."""
    hz = np.asarray(hz, dtype=np.float64)
    log_start = _SLANEY_LOG_START_HZ / _SLANEY_HZ_PER_MEL
    linear = hz / _SLANEY_HZ_PER_MEL
    logarithmic = log_start + np.log(np.maximum(hz, _SLANEY_LOG_START_HZ) / _SLANEY_LOG_START_HZ) / _SLANEY_LOG_STEP
    return np.where(hz >= _SLANEY_LOG_START_HZ, logarithmic, linear)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    log_start = _SLANEY_LOG_START_HZ / _SLANEY_HZ_PER_MEL
    logarithmic = _SLANEY_LOG_START_HZ * np.exp(_SLANEY_LOG_STEP * (mel - log_start))
    return np.where(mel >= log_start, logarithmic, mel * _SLANEY_HZ_PER_MEL)


def fft_frequencies(sample_rate, n_fft):
    """Centre frequency in Hz of each of the n_fft // 2 + 1 rFFT bins."""
    return np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)


def triangular_filterbank(edges_hz, sample_rate, n_fft):
    """(n_fft // 2 + 1, len(edges_hz) - 2) triangles rising from edge i to i+1 and falling to i+2, peak 1."""
    bin_hz = fft_frequencies(sample_rate, n_fft)
    edges = np.asarray(edges_hz, dtype=np.float64)
    widths = np.diff(edges)
    offsets = edges[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, slaney=False):
    """Mel triangles: HTK scale with peak 1 (librosa `htk=True, norm=None`), or with `slaney=True` librosa's
    defaults, the Slaney scale with each triangle scaled to unit area (`htk=False, norm="slaney"`)."""
    to_mel, to_hz = (hz_to_slaney_mel, slaney_mel_to_hz) if slaney else (hz_to_mel, mel_to_hz)
    edges = to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))
    weights = triangular_filterbank(edges, sample_rate, n_fft).astype(np.float64)
    if slaney:
        weights *= 2.0 / (edges[2:] - edges[:-2])
    return weights.astype(np.float32)


def linear_filterbank(sample_rate, n_fft, n_filters, fmin, fmax):
    return triangular_filterbank(np.linspace(fmin, fmax, n_filters + 2), sample_rate, n_fft)


def dct_matrix(n_inputs, n_outputs):
    """(n_inputs, n_outputs) orthonormal DCT-II: `x @ dct_matrix` == scipy.fft.dct(x, norm="ortho")[..., :n_outputs]."""
    n = np.arange(n_inputs)[:, None]
    k = np.arange(n_outputs)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_inputs)) * np.sqrt(2.0 / n_inputs)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def delta_kernel(width, order):
    """Savitzky-Golay derivative weights of `order` (1 or 2) over `width` frames (polynomial degree == order)."""
    n = np.arange(width) - width // 2
    if order == 1:
        return n / np.sum(n**2)
    centred = n**2 - np.mean(n**2)
    return 2.0 * centred / np.sum(centred**2)


def window(name, win_length, n_fft):
    """Periodic ("fftbins") Hann or Hamming window of `win_length`, centred and zero-padded to `n_fft` (librosa)."""
    if name not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {name!r}")
    a0 = 0.5 if name == "hann" else 0.54
    values = a0 - (1.0 - a0) * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(values, (left, n_fft - win_length - left)).astype(np.float32)


def num_frames(num_samples, n_fft, hop_length, center):
    if center:
        return 1 + num_samples // hop_length
    if num_samples < n_fft:
        raise ValueError(f"num_samples={num_samples} is shorter than n_fft={n_fft} with center=False")
    return 1 + (num_samples - n_fft) // hop_length


def chroma_octave_positions(sample_rate, n_fft, n_chroma):
    """The untuned chroma-bin position of every rFFT bin and each bin's width, as `librosa.filters.chroma` builds them.

    Returns:
        `(positions, widths)`, float64 `(n_fft // 2 + 1,)`: position = n_chroma * log2(f / 27.5 Hz) (A0 = 440 / 16),
        with the 0 Hz bin placed 1.5 octaves below bin 1; width = the distance to the next bin's position, at least 1.
        A tuning of `t` chroma bins shifts every position by `-t` and leaves the widths unchanged.
    """
    bins = np.arange(1, n_fft // 2 + 2)  # one past the last kept bin, for the last width
    positions = n_chroma * np.log2(bins * sample_rate / n_fft / 27.5)
    positions = np.concatenate([[positions[0] - 1.5 * n_chroma], positions])
    widths = np.maximum(np.diff(positions), 1.0)
    return positions[:-1], widths
