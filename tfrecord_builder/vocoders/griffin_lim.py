"""Griffin-Lim resynthesis: the phase is thrown away and re-estimated from a magnitude alone.

`griffinlim` (option `mel`, the default) inverts an 80-band mel magnitude, as a TTS front end hands a vocoder;
`griffinlim:linear` inverts the full linear magnitude. Both run the fast Griffin-Lim iteration (Perraudin,
Balazs & Sondergaard, 2013) from a seeded random phase, so a copy is deterministic for its seed.
"""

import numpy as np

from tfrecord_builder.vocoders import stft

N_MELS = 80
ITERATIONS = 32
MOMENTUM = 0.99


def params(option, sample_rate):
    n_fft, hop = stft.default_sizes(sample_rate)
    values = {"magnitude": option, "n_fft": n_fft, "hop": hop, "window": "hann", "iterations": ITERATIONS,
              "momentum": MOMENTUM, "initial_phase": "uniform random (seeded)"}
    if option == "mel":
        values.update(n_mels=N_MELS, fmin=0.0, fmax=sample_rate / 2.0, mel_norm="slaney",
                      mel_inversion="non-negative least squares, 60 multiplicative updates")
    return values


def make(option, sample_rate):
    n_fft, hop = stft.default_sizes(sample_rate)
    filterbank = stft.mel_filterbank(sample_rate, n_fft, N_MELS) if option == "mel" else None

    def vocode(x, rng):
        magnitude = np.abs(stft.stft(x, n_fft, hop))  # (frames, bins)
        if filterbank is not None:
            magnitude = stft.mel_to_linear(magnitude @ filterbank.T, filterbank)
        return griffin_lim(magnitude, n_fft, hop, x.shape[0], rng)

    return vocode


def griffin_lim(magnitude, n_fft, hop, length, rng, iterations=ITERATIONS, momentum=MOMENTUM):
    """A signal of `length` samples whose STFT magnitude approaches `magnitude` `(frames, bins)`."""
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    previous = np.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft.stft(stft.istft(magnitude * angles, n_fft, hop, length), n_fft, hop)
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.maximum(np.abs(angles), 1e-16)
        previous = rebuilt
    return stft.istft(magnitude * angles, n_fft, hop, length)
