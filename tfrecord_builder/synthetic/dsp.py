"""Small NumPy/SciPy signal helpers shared by the speech synthesiser and the attacks.

Spectrograms are complex arrays shaped (frames, bins), like the rest of fakespeech's (time, bins) order.
"""

import functools

import numpy as np
from scipy import fft, ndimage, signal, sparse


@functools.lru_cache(maxsize=16)
def hann(n_fft):
    # Periodic Hann: with hop n_fft/4 its squared overlap-add is flat, so istft(stft(x)) == x. Single precision
    # halves the FFT time and is far below the 16-bit output's resolution.
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def frame_count(n_samples, hop):
    return 1 + n_samples // hop


def stft(x, n_fft=512, hop=128):
    """Centred STFT with zero padding; returns (frames, n_fft // 2 + 1) complex."""
    n_frames = frame_count(len(x), hop)
    padded = np.zeros(n_fft + hop * (n_frames - 1), dtype=np.float32)
    start = n_fft // 2
    padded[start:start + len(x)] = x[: len(padded) - start]
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    return fft.rfft(frames * hann(n_fft), axis=-1)


@functools.lru_cache(maxsize=16)
def _window_sum(n_frames, n_fft, hop):
    return _overlap_add(np.broadcast_to(hann(n_fft) ** 2, (n_frames, n_fft)), hop)


def _overlap_add(frames, hop):
    n_frames, n_fft = frames.shape
    ratio = n_fft // hop
    out = np.zeros(hop * (n_frames + ratio - 1), dtype=np.float32)
    # n_fft is a multiple of hop, so overlap-add is `ratio` shifted block sums instead of a per-frame loop.
    for k in range(ratio):
        block = frames[:, k * hop:(k + 1) * hop]
        out[k * hop:k * hop + n_frames * hop] += block.reshape(-1)
    return out


def istft(spec, length, n_fft=512, hop=128):
    """Inverse of `stft` by weighted overlap-add, cropped to `length` samples."""
    frames = fft.irfft(spec, n=n_fft, axis=-1) * hann(n_fft)
    total = _overlap_add(frames, hop)
    norm = _window_sum(spec.shape[0], n_fft, hop)
    total = total / np.maximum(norm, 1e-3 * norm.max())
    start = n_fft // 2
    out = total[start:start + length]
    if len(out) < length:
        out = np.pad(out, (0, length - len(out)))
    return out


def unit_phasor(phase):
    """exp(1j * phase) in complex64 (NumPy's complex exp is an order of magnitude slower)."""
    out = np.empty(np.shape(phase), dtype=np.complex64)
    out.real = np.cos(phase)
    out.imag = np.sin(phase)
    return out


def phase_of(spec):
    """spec / |spec|: the phase as unit phasors."""
    return spec / np.maximum(np.abs(spec), 1e-12)


def griffin_lim(magnitude, length, rng, n_iter, n_fft=512, hop=128, init_phase=None, momentum=0.99):
    """Fast Griffin-Lim (Perraudin et al., 2013): phase from magnitude alone, the hallmark of early neural TTS.

    `init_phase` is unit phasors (e.g. `phase_of(spec)`); None starts from random phase.
    """
    magnitude = magnitude.astype(np.float32)
    angles = unit_phasor(rng.uniform(-np.pi, np.pi, size=magnitude.shape)) if init_phase is None else init_phase
    previous = np.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(magnitude * angles, length, n_fft, hop), n_fft, hop)
        accelerated = rebuilt - (momentum / (1.0 + momentum)) * previous
        previous = rebuilt
        angles = phase_of(accelerated)
    return istft(magnitude * angles, length, n_fft, hop)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate, n_fft, n_mels):
    """Triangular HTK-mel band averages, (n_mels, bins), and the interpolating map back, (bins, n_mels).

    Both are sparse (each bin touches two bands): a dense BLAS product this small costs more in threading
    overhead than in arithmetic.
    """
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-9)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Averages rather than sums, so the map back (a normalised transpose) is a plain interpolation; a
    # least-squares inverse would need an SVD per configuration and gives negative energies to clip anyway.
    filters = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    inverse = weights.T / np.maximum(weights.T.sum(axis=1, keepdims=True), 1e-9)
    return sparse.csr_array(filters.astype(np.float32)), sparse.csr_array(inverse.astype(np.float32))


def cepstral_envelope(magnitude, n_lifter):
    """Smooth spectral envelope (frames, bins) keeping the first `n_lifter` real-cepstrum coefficients."""
    log_mag = np.log(np.maximum(magnitude, 1e-8))
    cepstrum = np.fft.irfft(log_mag, axis=-1)
    lifter = np.zeros(cepstrum.shape[-1])
    lifter[:n_lifter] = 1.0
    lifter[-(n_lifter - 1):] = 1.0
    return np.exp(np.fft.rfft(cepstrum * lifter, axis=-1).real)


def smooth(track, width):
    """Moving average along axis 0 with edge padding (control tracks: formants, gains)."""
    return ndimage.uniform_filter1d(np.asarray(track, dtype=np.float64), max(1, int(width)), axis=0, mode="nearest")


@functools.lru_cache(maxsize=64)
def _butter(order, cutoff, btype, sample_rate):
    return signal.butter(order, cutoff, btype=btype, fs=sample_rate, output="sos")


def lowpass(x, cutoff_hz, sample_rate, order=8):
    return signal.sosfilt(_butter(order, min(float(cutoff_hz), 0.49 * sample_rate), "lowpass", sample_rate), x)


def bandpass(x, low_hz, high_hz, sample_rate, order=4):
    band = (float(low_hz), min(float(high_hz), 0.49 * sample_rate))
    return signal.sosfilt(_butter(order, band, "bandpass", sample_rate), x)


def mu_law(x, bits):
    """Companding quantiser of telephone codecs: mu-law encode, keep `bits`, decode."""
    mu = 2.0 ** bits - 1.0
    x = np.clip(x, -1.0, 1.0)
    encoded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    levels = np.round((encoded + 1.0) / 2.0 * mu)
    decoded = 2.0 * levels / mu - 1.0
    return np.sign(decoded) * ((1.0 + mu) ** np.abs(decoded) - 1.0) / mu


def quantise(x, bits):
    step = 2.0 / (2.0 ** bits)
    return np.clip(np.round(x / step) * step, -1.0, 1.0)
