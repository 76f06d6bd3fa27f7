"""Phase-vocoder resynthesis: the signal is time-stretched and stretched back with a phase vocoder.

Each pass interpolates the STFT magnitude between frames and rebuilds every bin's phase by accumulating its
measured phase advance (Flanagan & Golden's phase vocoder, in the form of Laroche & Dolson's standard
implementation), so the copy keeps the source's spectral envelope and pitch but loses the phase coherence across
bins: the "phasiness" and smeared transients of phase-vocoder processing. The first pass starts from a seeded
random phase.
"""

import numpy as np

from tfrecord_builder.vocoders import stft

RATE = 0.8  # stretch to 1.25x the duration, then back


def params(option, sample_rate):
    n_fft, hop = stft.default_sizes(sample_rate)
    return {"n_fft": n_fft, "hop": hop, "window": "hann", "stretch_rate": RATE, "passes": [RATE, 1.0 / RATE],
            "initial_phase": "uniform random (seeded)"}


def make(option, sample_rate):
    n_fft, hop = stft.default_sizes(sample_rate)
    advance = 2.0 * np.pi * hop * np.arange(n_fft // 2 + 1) / n_fft  # expected phase advance per hop, per bin

    def vocode(x, rng):
        spec = stft.stft(x, n_fft, hop)  # (frames, bins)
        stretched = time_stretch(spec, RATE, advance, np.exp(2j * np.pi * rng.random(spec.shape[1])))
        restored = time_stretch(stretched, 1.0 / RATE, advance, stretched[0] / np.maximum(np.abs(stretched[0]), 1e-16))
        return stft.istft(restored, n_fft, hop, x.shape[0])

    return vocode


def time_stretch(spec, rate, advance, start_phase):
    """`spec` `(frames, bins)` read at `rate` frames per output frame; phases start at `start_phase` (unit complex)."""
    steps = np.arange(0.0, spec.shape[0], rate)
    padded = np.concatenate([spec, np.zeros((2, spec.shape[1]), spec.dtype)])
    phase = np.angle(start_phase)
    out = np.zeros((steps.shape[0], spec.shape[1]), dtype=np.complex128)
    for t, step in enumerate(steps):  # one output frame at a time: each phase depends on the previous one
        left, right = padded[int(step)], padded[int(step) + 1]
        alpha = step - int(step)
        out[t] = ((1.0 - alpha) * np.abs(left) + alpha * np.abs(right)) * np.exp(1j * phase)
        delta = np.angle(right) - np.angle(left) - advance
        phase = phase + advance + (delta - 2.0 * np.pi * np.round(delta / (2.0 * np.pi)))
    return out
