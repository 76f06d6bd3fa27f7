"""NumPy STFT, inverse STFT and mel filterbank shared by the vocoders (time-major: `(frames, bins)`).

Kept free of TensorFlow and librosa: they run in the build's decoding worker processes.
"""

import numpy as np


def default_sizes(sample_rate):
    """`(n_fft, hop)`: a ~32 ms power-of-two Hann window with 4x overlap at any rate (512, 128 at 16 kHz)."""
    n_fft = int(2 ** np.ceil(np.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 4


def hann(n_fft):
    """The periodic Hann window (what `scipy.signal.get_window("hann", n)` and librosa use)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def stft(x, n_fft, hop, win_length=None, center=True):
    """Complex STFT of a 1-D signal: shape `(frames, n_fft//2+1)`.

    `center=True` reflect-pads by `n_fft // 2` (librosa's framing); `center=False` by `(n_fft - hop) // 2`, the
    framing of HiFi-GAN's mel front end. A `win_length` below `n_fft` centres a shorter Hann window in the frame.
    """
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2 if center else (n_fft - hop) // 2
    mode = "reflect" if x.shape[0] > pad else "constant"  # reflect needs more samples than the pad
    padded = np.pad(x, pad, mode=mode)
    if padded.shape[0] < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.shape[0]))
    n_frames = 1 + (padded.shape[0] - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    return np.fft.rfft(frames * _window(n_fft, win_length), axis=-1)


def _window(n_fft, win_length):
    if win_length is None or win_length == n_fft:
        return hann(n_fft)
    left = (n_fft - win_length) // 2
    return np.pad(hann(win_length), (left, n_fft - win_length - left))


def istft(spec, n_fft, hop, length):
    """Inverse of `stft` by weighted overlap-add; returns exactly `length` samples."""
    window = hann(n_fft)
    frames = np.fft.irfft(spec, n=n_fft, axis=-1) * window
    n_frames = frames.shape[0]
    total = n_fft + hop * (n_frames - 1)
    out = np.zeros(total)
    norm = np.zeros(total)
    for i in range(n_frames):  # frames overlap 4x: a Python loop over frames costs little next to the FFTs
        out[i * hop:i * hop + n_fft] += frames[i]
        norm[i * hop:i * hop + n_fft] += window ** 2
    out = np.divide(out, norm, out=np.zeros_like(out), where=norm > 1e-8)
    out = out[n_fft // 2:]
    return _fit(out, length)


def _fit(x, length):
    return x[:length] if x.shape[0] >= length else np.pad(x, (0, length - x.shape[0]))


def hz_to_mel(hz):
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's default `htk=False`."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mel = hz / f_sp
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, mel)


def mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None, norm="slaney"):
    """Triangular mel filters, shape `(n_mels, n_fft//2+1)`; `norm="slaney"` scales each to unit area.

    The same filters as `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm=norm)`, the front end
    HiFi-GAN and most TTS vocoders were trained with.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]
    elif norm is not None:
        raise ValueError(f"mel norm must be 'slaney' or None, got {norm!r}")
    return weights


def mel_to_linear(mel_magnitude, filterbank, iterations=30):
    """A non-negative linear magnitude `(frames, bins)` whose mel projection approximates `mel_magnitude`.

    Multiplicative updates of non-negative least squares, min ||L F^T - M|| over L >= 0 (Lee & Seung): started
    from the transposed projection, deterministic, and never negative where a pseudo-inverse would be.
    """
    target = np.maximum(mel_magnitude, 0.0)  # (frames, mels)
    numerator = target @ filterbank  # (frames, bins)
    linear = np.maximum(numerator, 1e-10)
    for _ in range(iterations):
        # (L F^T) F rather than L (F^T F): two thin products instead of one bins x bins product.
        linear *= numerator / np.maximum((linear @ filterbank.T) @ filterbank, 1e-12)
    return linear
