"""Bona fide speech from a source-filter model: a jittery glottal pulse train and noise through moving formants.

An utterance is planned at frame rate as words of syllables (optional fricative or stop onset, a vowel or
diphthong nucleus, an optional nasal coda) separated by pauses. The glottal source follows an intonation contour
(declination plus pitch accents) with cycle-to-cycle jitter and shimmer; the vocal-tract filter is a cascade of
five formant resonances whose targets glide between vowels, applied frame by frame in the STFT domain.
"""

import dataclasses

import numpy as np
from scipy import ndimage

from tfrecord_builder.synthetic import dsp

# Peterson & Barney (1952) adult male F1-F3 averages (Hz); F4, F5 are nearly vowel-independent.
VOWELS = {
    "i": (270, 2290, 3010), "I": (390, 1990, 2550), "E": (530, 1840, 2480), "ae": (660, 1720, 2410),
    "a": (730, 1090, 2440), "O": (570, 840, 2410), "U": (440, 1020, 2240), "u": (300, 870, 2240),
    "V": (640, 1190, 2390), "3": (490, 1350, 1690),
}
NASAL = (250, 1000, 2200)
UPPER_FORMANTS = (3400.0, 4400.0)
BANDWIDTHS = np.array([70.0, 100.0, 140.0, 200.0, 260.0])
NEUTRAL = (500.0, 1500.0, 2500.0) + UPPER_FORMANTS

# name -> (centre Hz, width Hz, level, voicing): the frication noise band of common fricatives.
FRICATIVES = {
    "s": (6200.0, 1400.0, 0.3, 0.0), "z": (6000.0, 1500.0, 0.2, 0.45),
    "sh": (3300.0, 1000.0, 0.3, 0.0), "f": (4500.0, 3500.0, 0.1, 0.0),
    "v": (4000.0, 3000.0, 0.07, 0.5), "h": (2000.0, 2500.0, 0.07, 0.0),
}
STOP_BURST = (3000.0, 2500.0, 0.5)


@dataclasses.dataclass(frozen=True)
class Voice:
    """One synthetic talker.

    Args:
        f0_hz: median pitch.
        f0_range_semitones: span of the intonation contour.
        formant_scale: vocal-tract length factor (about 1.0 adult male, 1.15 adult female).
        breathiness: aspiration noise relative to voicing.
        jitter: relative standard deviation of consecutive glottal periods.
        shimmer: relative standard deviation of consecutive glottal pulse amplitudes.
        open_quotient: fraction of the glottal cycle the folds are open (higher = softer, breathier).
        rate: speaking-rate factor (syllables are this much shorter).
    """

    f0_hz: float
    f0_range_semitones: float
    formant_scale: float
    breathiness: float
    jitter: float
    shimmer: float
    open_quotient: float
    rate: float


def make_voice(rng):
    """Draws a talker: about half low-pitched long vocal tracts, half high-pitched short ones."""
    low = rng.random() < 0.5
    return Voice(
        f0_hz=rng.uniform(85.0, 145.0) if low else rng.uniform(165.0, 250.0),
        f0_range_semitones=rng.uniform(3.0, 8.0),
        formant_scale=rng.uniform(0.93, 1.04) if low else rng.uniform(1.10, 1.22),
        breathiness=rng.uniform(0.02, 0.12),
        jitter=rng.uniform(0.004, 0.015),
        shimmer=rng.uniform(0.02, 0.08),
        open_quotient=rng.uniform(0.5, 0.7),
        rate=rng.uniform(0.85, 1.2),
    )


def stft_size(sample_rate):
    """(n_fft, hop): a ~32 ms power-of-two window with 4x overlap at any rate."""
    n_fft = int(2 ** np.ceil(np.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 4


@dataclasses.dataclass
class _Controls:
    """Frame-rate control tracks of one utterance."""

    voicing: np.ndarray
    frication: np.ndarray
    aspiration: np.ndarray
    noise_band: np.ndarray  # (frames, 2): centre, width in Hz
    formants: np.ndarray  # (frames, 5), NaN where the previous target holds
    accents: list  # (frame, height) pitch-accent peaks


def _plan(rng, voice, n_frames, frame_rate):
    c = _Controls(
        voicing=np.zeros(n_frames), frication=np.zeros(n_frames), aspiration=np.zeros(n_frames),
        noise_band=np.tile([4000.0, 3000.0], (n_frames, 1)), formants=np.full((n_frames, 5), np.nan),
        accents=[],
    )
    c.formants[0] = NEUTRAL

    def frames(low_s, high_s):
        return max(1, int(round(rng.uniform(low_s, high_s) / voice.rate * frame_rate)))

    # Leading and trailing silences, capped so that even a very short file holds some speech.
    pos = min(frames(0.05, 0.25), n_frames // 8)
    end = n_frames - min(frames(0.05, 0.2), n_frames // 10)
    while pos < end:
        stressed = rng.integers(0, 3)
        for syllable in range(rng.integers(1, 4)):
            pos = _onset(rng, c, pos, frames)
            length = frames(0.08, 0.22)
            _vowel(rng, c, pos, length)
            if syllable == stressed:
                c.accents.append((pos + length // 2, rng.uniform(0.3, 1.0)))
            pos += length
            if rng.random() < 0.3:
                length = frames(0.04, 0.09)
                c.voicing[pos:pos + length] = 0.45
                _set_target(c.formants, pos, NASAL + UPPER_FORMANTS)
                pos += length
        pos += frames(0.08, 0.35) if rng.random() < 0.6 else frames(0.02, 0.04)
    # The last syllable may run past the planned end: silence the tail so every file ends in a pause.
    for track in (c.voicing, c.frication, c.aspiration):
        track[end:] = 0.0
    return c


def _onset(rng, c, pos, frames):
    kind = rng.choice(["none", "fricative", "stop"], p=[0.3, 0.4, 0.3])
    if kind == "fricative":
        name = rng.choice(list(FRICATIVES))
        centre, width, level, voicing = FRICATIVES[name]
        length = frames(0.05, 0.13)
        c.frication[pos:pos + length] = level
        c.noise_band[pos:pos + length] = (centre, width)
        c.voicing[pos:pos + length] = voicing
        return pos + length
    if kind == "stop":
        closure, burst = frames(0.03, 0.06), frames(0.01, 0.02)
        centre, width, level = STOP_BURST
        c.frication[pos + closure:pos + closure + burst] = level
        c.noise_band[pos + closure:pos + closure + burst] = (centre, width)
        return pos + closure + burst
    return pos


def _vowel(rng, c, pos, length):
    names = list(VOWELS)
    first = VOWELS[names[rng.integers(len(names))]] + UPPER_FORMANTS
    c.voicing[pos:pos + length] = 1.0
    c.aspiration[pos:pos + length] = 1.0
    _set_target(c.formants, pos, first)
    if rng.random() < 0.3:
        # A diphthong: the second target is reached half-way and the smoothing makes the glide.
        _set_target(c.formants, pos + length // 2, VOWELS[names[rng.integers(len(names))]] + UPPER_FORMANTS)
    else:
        _set_target(c.formants, pos + length - 1, first)


def _set_target(formants, frame, target):
    if frame < len(formants):
        formants[frame] = target


def _forward_fill(formants):
    index = np.where(np.isnan(formants[:, 0]), 0, np.arange(len(formants)))
    return formants[np.maximum.accumulate(index)]


def _pitch_contour(rng, voice, controls, n_frames, frame_rate):
    semitones = np.linspace(0.4, -0.5, n_frames) * voice.f0_range_semitones
    frame_index = np.arange(n_frames)
    width = 0.08 * frame_rate
    for centre, height in controls.accents:
        semitones += height * 0.6 * voice.f0_range_semitones * np.exp(-0.5 * ((frame_index - centre) / width) ** 2)
    drift = dsp.smooth(np.cumsum(rng.normal(0.0, 0.15, n_frames)), int(0.2 * frame_rate))
    return voice.f0_hz * 2.0 ** ((semitones + drift - drift.mean()) / 12.0)


def _glottal_source(rng, voice, f0_frames, n_samples, sample_rate, hop):
    f0 = np.interp(np.arange(n_samples), np.arange(len(f0_frames)) * hop, f0_frames)
    # Jitter and shimmer are per glottal cycle: number the cycles on a first pass, then perturb each one.
    cycles = np.floor(np.cumsum(f0 / sample_rate)).astype(np.int64)
    f0 = f0 * (1.0 + rng.normal(0.0, voice.jitter, cycles[-1] + 2)[cycles])
    phase = np.cumsum(f0 / sample_rate)
    frac = phase - np.floor(phase)
    opening = voice.open_quotient * 0.72
    closing = voice.open_quotient - opening
    flow = np.where(
        frac < opening,
        0.5 * (1.0 - np.cos(np.pi * frac / opening)),
        np.where(frac < voice.open_quotient, np.cos(0.5 * np.pi * (frac - opening) / closing), 0.0),
    )
    # The flow derivative (lip radiation folded in) grows with f0; divide that out to keep loudness level.
    derivative = np.diff(flow, prepend=0.0) * (voice.f0_hz / f0)
    amplitude = 1.0 + rng.normal(0.0, voice.shimmer, cycles[-1] + 2)[np.floor(phase).astype(np.int64)]
    return derivative * amplitude


def _vocal_tract(formants, voice, bins):
    """Cascade of resonances, (frames, bins), unit gain at DC."""
    # Formant tracks are smoothed over ~40 ms, so evaluating every other frame and averaging the
    # neighbours in between halves the cost without a visible difference.
    n_frames = len(formants)
    evaluated = np.unique(np.r_[np.arange(0, n_frames, 2), n_frames - 1])
    centres = (formants[evaluated] * voice.formant_scale).astype(np.float32)[:, :, None]
    half_bw = (BANDWIDTHS * voice.formant_scale / 2.0).astype(np.float32)[None, :, None]
    f = bins.astype(np.float32)[None, None, :]
    # Power responses multiply; one square root at the end instead of one per formant.
    power = (centres ** 2 + half_bw ** 2) ** 2 / (((f - centres) ** 2 + half_bw ** 2) * ((f + centres) ** 2 + half_bw ** 2))
    tract = np.empty((n_frames, len(bins)), dtype=np.float32)
    tract[evaluated] = np.sqrt(np.prod(power, axis=1))
    between = np.arange(1, n_frames - 1, 2)
    tract[between] = 0.5 * (tract[between - 1] + tract[between + 1])
    return tract


def _noise_band(noise_band, frication, voice, bins):
    """Frication spectra, (frames, bins); only frames that carry frication noise are evaluated."""
    shape = np.zeros((len(noise_band), len(bins)), dtype=np.float32)
    # Dilated by the STFT's half-window, which spreads each frame's noise into its neighbours.
    active = ndimage.maximum_filter1d(frication, 5) > 0
    centre = noise_band[active, :1] * min(voice.formant_scale, 1.1)
    shape[active] = np.exp(-0.5 * ((bins[None, :] - centre) / noise_band[active, 1:]) ** 2) + 0.01
    return shape


def _sample_gain(track, n_samples, hop):
    return np.interp(np.arange(n_samples), np.arange(len(track)) * hop, track)


def synthesize(rng, voice, n_samples, sample_rate):
    """One bona fide utterance: float64 samples in [-1, 1] with peak 0.9 and a faint recording-noise floor.

    Args:
        rng: a `numpy.random.Generator`; the same state gives the same samples.
        voice: the talker (`make_voice`).
        n_samples: length of the result.
        sample_rate: samples per second.
    """
    n_fft, hop = stft_size(sample_rate)
    frame_rate = sample_rate / hop
    n_frames = dsp.frame_count(n_samples, hop)
    controls = _plan(rng, voice, n_frames, frame_rate)
    formants = dsp.smooth(_forward_fill(controls.formants), int(0.04 * frame_rate))
    voicing = dsp.smooth(controls.voicing, int(0.02 * frame_rate))
    frication = dsp.smooth(controls.frication, int(0.015 * frame_rate))
    aspiration = dsp.smooth(controls.aspiration, int(0.02 * frame_rate)) * voice.breathiness

    f0 = _pitch_contour(rng, voice, controls, n_frames, frame_rate)
    source = _glottal_source(rng, voice, f0, n_samples, sample_rate, hop)
    voiced = source * _sample_gain(voicing, n_samples, hop)
    breath = rng.standard_normal(n_samples) * _sample_gain(aspiration, n_samples, hop) * 0.05
    hiss = rng.standard_normal(n_samples) * _sample_gain(frication, n_samples, hop) * 0.05

    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    tract = _vocal_tract(formants, voice, bins)
    spectrum = dsp.stft(voiced + breath, n_fft, hop) * tract
    spectrum += dsp.stft(hiss, n_fft, hop) * _noise_band(controls.noise_band, frication, voice, bins)
    speech = dsp.istft(spectrum, n_samples, n_fft, hop)
    speech = dsp.bandpass(speech, 60.0, 0.47 * sample_rate, sample_rate, order=2)
    speech = 0.9 * speech / max(np.max(np.abs(speech)), 1e-9)
    floor = 10.0 ** (rng.uniform(-62.0, -50.0) / 20.0)
    return speech + floor * dsp.lowpass(rng.standard_normal(n_samples), 0.3 * sample_rate, sample_rate, order=2)
