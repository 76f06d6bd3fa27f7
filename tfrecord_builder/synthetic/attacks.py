"""Spoofing attacks: one signal processing per ASVspoof2019 system id, each leaving the trace its kind leaves.

LA: A01-A06 (train/dev) and A07-A19 (eval) are built from a handful of processings with different settings, so the
eval attacks share families with the training ones but not their exact artefacts; as in the real corpus A16 is A04
and A19 is A06. PA: a replay attack `XY` records the talker at distance X (A near .. C far) with a device of
quality Y (A perfect .. C poor) and plays it back; every PA utterance, bona fide or not, then passes through its
acoustic environment `abc` (room size, reverberation time T60, talker-to-ASV distance).

Every LA spoof also shares two traits of synthetic speech whatever its system: an over-regular voice source
(`synthetic_voice`) and a roll-off of the top band (`vocoder_band_edge`), so a detector trained on A01-A06 has
something to carry over to A07-A19, as in the real corpus.

Every processing maps (samples, rng, sample_rate) -> samples of the same length.
"""

import dataclasses
import functools

import numpy as np
from scipy import signal

from tfrecord_builder.synthetic import dsp
from tfrecord_builder.synthetic.speech import stft_size

LA_TRAIN_ATTACKS = tuple(f"A{i:02d}" for i in range(1, 7))
LA_EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))
PA_ATTACKS = tuple(d + q for d in "ABC" for q in "ABC")
PA_ENVIRONMENTS = tuple(s + t + d for s in "abc" for t in "abc" for d in "abc")


def synthetic_voice(voice):
    """The target talker as a TTS or VC system renders them: an over-regular, less breathy voice source.

    Statistical models average out cycle-to-cycle variation, which every LA attack shares whatever its
    vocoder; it is what lets a detector trained on A01-A06 say something about A07-A19.
    """
    return dataclasses.replace(voice, jitter=voice.jitter * 0.3, shimmer=voice.shimmer * 0.3,
                               breathiness=voice.breathiness * 0.5)


def vocoder_band_edge(x, rng, sample_rate):
    """The top band a neural or parametric vocoder rarely renders: a roll-off somewhere in the last 20% below
    Nyquist (sub-band studies of ASVspoof2019 LA find the 6-8 kHz band the most telling one)."""
    # Cut-offs on a 50 Hz grid so the filter designs are cached.
    cutoff = 50.0 * np.round(rng.uniform(0.8, 0.95) * sample_rate / 2.0 / 50.0)
    return dsp.lowpass(x, cutoff, sample_rate, order=6)


def _spectrum(x, sample_rate):
    n_fft, hop = stft_size(sample_rate)
    return dsp.stft(x, n_fft, hop), n_fft, hop


def mel_griffin_lim(x, rng, sample_rate, n_mels, n_iter, window_scale=1):
    """Acoustic model + Griffin-Lim vocoder: only a mel magnitude survives, phase is re-estimated."""
    n_fft, hop = stft_size(sample_rate)
    n_fft, hop = n_fft * window_scale, hop * window_scale
    magnitude = np.abs(dsp.stft(x, n_fft, hop))
    filters, inverse = dsp.mel_filterbank(sample_rate, n_fft, n_mels)
    rebuilt = (inverse @ (filters @ magnitude.T)).T  # (frames, bins) through n_mels bands
    return dsp.griffin_lim(rebuilt, len(x), rng, n_iter, n_fft, hop)


def fine_structure_smoothing(x, rng, sample_rate, n_lifter, alpha, frame_hold=1):
    """Parametric-vocoder look: harmonic fine structure compressed towards a cepstral envelope, coarse frames."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    magnitude = np.abs(spec)
    envelope = dsp.cepstral_envelope(magnitude, n_lifter)
    fine = magnitude / np.maximum(envelope, 1e-9)
    shaped = envelope * fine ** alpha
    if frame_hold > 1:
        # A vocoder running at a coarser frame shift: parameters held, then linearly interpolated.
        index = np.arange(len(shaped))
        anchors = index[::frame_hold]
        shaped = np.stack([np.interp(index, anchors, column[::frame_hold]) for column in shaped.T], axis=1)
    return dsp.istft(shaped * dsp.phase_of(spec), len(x), n_fft, hop)


def band_limit_mu_law(x, rng, sample_rate, factor, bits):
    """Telephone-style channel: resampled down, mu-law companded at the low rate, resampled back up."""
    narrow = dsp.mu_law(signal.resample_poly(x, 1, factor), bits)
    return signal.resample_poly(narrow, factor, 1)[: len(x)]


def concatenate_units(x, rng, sample_rate, unit_ms, gain_db, fade_ms, cutoff=None):
    """Unit selection: waveform units picked with jumps, repeats and level mismatches, joined by short crossfades."""
    unit = max(1, min(int(unit_ms * sample_rate / 1000), len(x) // 2))
    fade = min(int(fade_ms * sample_rate / 1000), unit // 2)
    n_units = int(np.ceil(len(x) / unit))
    # Each unit starts near where the previous one ended, sometimes jumping back (repeat) or ahead (skip).
    steps = rng.choice([-1, 0, 1, 1, 1, 2], size=n_units)
    jitter = rng.integers(-(unit // 4), unit // 4 + 1, n_units)
    starts = np.clip(np.cumsum(steps) * unit + jitter, 0, len(x) - unit - fade)
    gains = 10.0 ** (rng.uniform(-gain_db, gain_db, n_units) / 20.0)
    window = np.ones(unit + fade)
    window[:fade] = np.linspace(0.0, 1.0, fade, endpoint=False)
    window[unit:] = 1.0 - window[:fade]
    units = x[starts[:, None] + np.arange(unit + fade)[None, :]] * (gains[:, None] * window[None, :])
    # Overlap-add: each unit's body at k * unit, its fade-out tail over the next unit's fade-in.
    y = np.zeros((n_units + 1) * unit)
    y[: n_units * unit] += units[:, :unit].reshape(-1)
    tails = np.zeros((n_units, unit))
    tails[:, :fade] = units[:, unit:]
    y[unit:] += tails.reshape(-1)
    y = y[: len(x)]
    return y if cutoff is None else dsp.lowpass(y, cutoff * sample_rate, sample_rate)


def spectral_warp(x, rng, sample_rate, factor, n_iter, cutoff=None):
    """Voice conversion by frequency warping of the magnitude (a new vocal-tract length), phase re-estimated."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    magnitude = np.abs(spec)
    bins = np.arange(magnitude.shape[1])
    warped = np.stack([np.interp(bins / factor, bins, frame) for frame in magnitude])
    if cutoff is not None:
        warped[:, int(cutoff * 2 * len(bins)):] *= 0.02
    return dsp.griffin_lim(warped, len(x), rng, n_iter, n_fft, hop, init_phase=dsp.phase_of(spec))


def spectral_filter_ola(x, rng, sample_rate, n_coefficients, depth_db, segment_ms):
    """Spectral-filtering voice conversion: a smooth random filter that changes every segment, overlap-added."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    n_frames, n_bins = spec.shape
    segment = max(1, int(segment_ms * sample_rate / 1000 / hop))
    n_segments = n_frames // segment + 2
    cepstrum = np.zeros((n_segments, n_bins * 2 - 2))
    cepstrum[:, 1:n_coefficients] = rng.normal(0.0, depth_db / 20.0 * np.log(10.0), (n_segments, n_coefficients - 1))
    gains = np.exp(np.fft.rfft(cepstrum, axis=-1).real)
    index = np.arange(n_frames) / segment
    per_frame = np.stack([np.interp(index, np.arange(n_segments), column) for column in gains.T], axis=1)
    return dsp.istft(spec * per_frame, len(x), n_fft, hop)


def buzz_griffin_lim(x, rng, sample_rate, n_mels, n_iter, buzz_hz, buzz_db):
    """A Griffin-Lim vocoder whose excitation leaks a constant harmonic buzz into voiced parts."""
    y = mel_griffin_lim(x, rng, sample_rate, n_mels, n_iter)
    phase = (np.arange(len(x)) * (buzz_hz / sample_rate)) % 1.0
    table = _sawtooth_table(float(buzz_hz), int(sample_rate))
    buzz = table[(phase * len(table)).astype(np.int64)]
    envelope = dsp.smooth(np.abs(y), int(0.02 * sample_rate))
    return y + 10.0 ** (buzz_db / 20.0) * buzz * envelope / max(envelope.max(), 1e-9)


@functools.lru_cache(maxsize=8)
def _sawtooth_table(buzz_hz, sample_rate, size=4096):
    """One period of a band-limited sawtooth: read at the buzz rate instead of summing harmonics per sample."""
    harmonics = np.arange(1, int(0.45 * sample_rate / buzz_hz) + 1)
    phase = 2.0 * np.pi * np.arange(size)[:, None] / size
    return np.sum(np.sin(phase * harmonics[None, :]) / harmonics[None, :], axis=1)


def phase_randomisation(x, rng, sample_rate, above, spread):
    """A neural source-filter vocoder's noisy phase: bins above a fraction of Nyquist get random phase offsets."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    offsets = rng.uniform(-spread, spread, spec.shape)
    offsets[:, : int(above * spec.shape[1])] = 0.0
    return dsp.istft(spec * dsp.unit_phasor(offsets), len(x), n_fft, hop)


def linear_quantise(x, rng, sample_rate, bits, cutoff):
    """A low-resolution waveform generator: coarse linear quantisation after a gentle low-pass."""
    return dsp.quantise(dsp.lowpass(x, cutoff * sample_rate, sample_rate, order=4), bits)


def mixed_excitation(x, rng, sample_rate, n_lifter, split_hz):
    """LPC-style vocoder with mixed excitation: noise replaces the fine structure above a voicing cut-off."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    magnitude = np.abs(spec)
    envelope = dsp.cepstral_envelope(magnitude, n_lifter)
    noise = dsp.stft(rng.standard_normal(len(x)), n_fft, hop)
    noise = noise / np.sqrt(np.mean(np.abs(noise) ** 2))
    high = np.fft.rfftfreq(n_fft, 1.0 / sample_rate) >= split_hz
    out = spec.copy()
    out[:, high] = envelope[:, high] * noise[:, high]
    return dsp.istft(out, len(x), n_fft, hop)


def frame_repetition(x, rng, sample_rate, rate):
    """Duration modelling by frame repetition: STFT frames re-read at `rate`, keeping their phase (phasiness)."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    source = np.minimum((np.arange(len(spec)) * rate).astype(np.int64), len(spec) - 1)
    return dsp.istft(spec[source], len(x), n_fft, hop)


def temporal_smoothing(x, rng, sample_rate, width, alpha):
    """Over-smoothed statistical parametric output: magnitudes averaged over time, fine structure compressed."""
    spec, n_fft, hop = _spectrum(x, sample_rate)
    magnitude = dsp.smooth(np.abs(spec), width)
    envelope = dsp.cepstral_envelope(magnitude, 30)
    shaped = envelope * (magnitude / np.maximum(envelope, 1e-9)) ** alpha
    return dsp.istft(shaped * dsp.phase_of(spec), len(x), n_fft, hop)


def tilt_mu_law(x, rng, sample_rate, emphasis, bits):
    """Waveform filtering (pre-emphasis tilt) followed by mu-law companding."""
    return dsp.mu_law(signal.lfilter([1.0, -emphasis], [1.0], x) / (1.0 + emphasis), bits)


LA_PROCESSING = {
    "A01": functools.partial(mel_griffin_lim, n_mels=80, n_iter=16),
    "A02": functools.partial(fine_structure_smoothing, n_lifter=40, alpha=0.3, frame_hold=2),
    "A03": functools.partial(band_limit_mu_law, factor=2, bits=8),
    "A04": functools.partial(concatenate_units, unit_ms=70, gain_db=2.0, fade_ms=2.0),
    "A05": functools.partial(spectral_warp, factor=1.12, n_iter=8),
    "A06": functools.partial(spectral_filter_ola, n_coefficients=10, depth_db=5.0, segment_ms=80),
    "A07": functools.partial(buzz_griffin_lim, n_mels=40, n_iter=16, buzz_hz=110.0, buzz_db=-26.0),
    "A08": functools.partial(phase_randomisation, above=0.5, spread=np.pi),
    "A09": functools.partial(linear_quantise, bits=6, cutoff=0.45),
    "A10": functools.partial(mel_griffin_lim, n_mels=128, n_iter=4, window_scale=2),
    "A11": functools.partial(mixed_excitation, n_lifter=24, split_hz=2500.0),
    "A12": functools.partial(frame_repetition, rate=0.8),
    "A13": functools.partial(concatenate_units, unit_ms=110, gain_db=3.0, fade_ms=0.0, cutoff=0.375),
    "A14": functools.partial(temporal_smoothing, width=5, alpha=0.6),
    "A15": functools.partial(tilt_mu_law, emphasis=0.7, bits=7),
    "A17": functools.partial(phase_randomisation, above=0.0, spread=np.pi / 3),
    "A18": functools.partial(spectral_warp, factor=0.9, n_iter=4, cutoff=0.42),
}
# The real corpus reuses two training systems in the evaluation set under new names.
LA_PROCESSING["A16"] = LA_PROCESSING["A04"]
LA_PROCESSING["A19"] = LA_PROCESSING["A06"]


def apply_la_attack(attack_id, x, rng, sample_rate):
    """Processes bona fide-like speech `x` into the spoof of LA system `attack_id` (`A01`..`A19`)."""
    if attack_id not in LA_PROCESSING:
        raise ValueError(f"unknown LA attack {attack_id!r}; expected one of {sorted(LA_PROCESSING)}")
    return LA_PROCESSING[attack_id](x, rng, sample_rate)


# Letter -> range, per the ASVspoof2019 PA definitions.
ROOM_AREA_M2 = {"a": (2.0, 5.0), "b": (5.0, 10.0), "c": (10.0, 20.0)}
T60_S = {"a": (0.05, 0.2), "b": (0.2, 0.6), "c": (0.6, 1.0)}
DISTANCE_M = {"a": (0.1, 0.5), "b": (0.5, 1.0), "c": (1.0, 1.5)}
# Replay device quality -> (low Hz, high as a fraction of Nyquist, tanh drive); A is nearly transparent.
DEVICE = {"A": (20.0, 0.98, 0.0), "B": (120.0, 0.8, 1.5), "C": (350.0, 0.45, 4.0)}


def room_impulse_response(rng, sample_rate, area_m2, t60_s, distance_m):
    """Direct path, sparse early reflections and an exponentially decaying diffuse tail.

    The tail energy relative to the direct sound follows the critical distance r_c = 0.057 sqrt(V / T60).
    """
    length = int(t60_s * sample_rate) + 1
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * 10.0 ** (-3.0 * t / t60_s)
    first_reflection = int(np.sqrt(area_m2) / 343.0 * sample_rate)
    tail[:first_reflection] = 0.0
    early = rng.integers(first_reflection, max(first_reflection + 1, int(0.05 * sample_rate)), 6)
    tail[early] += rng.uniform(-1.0, 1.0, 6) * 3.0
    critical = 0.057 * np.sqrt(area_m2 * 2.5 / t60_s)
    tail *= (distance_m / critical) / max(np.sqrt(np.sum(tail ** 2)), 1e-9)
    tail[0] = 1.0
    return tail


def apply_environment(environment, x, rng, sample_rate):
    """Bona fide PA capture: the talker heard by the ASV microphone in room `environment` (e.g. `abc`)."""
    if environment not in PA_ENVIRONMENTS:
        raise ValueError(f"unknown PA environment {environment!r}; expected one of {PA_ENVIRONMENTS}")
    size, t60, distance = (rng.uniform(*table[letter]) for table, letter in
                           zip((ROOM_AREA_M2, T60_S, DISTANCE_M), environment))
    y = signal.fftconvolve(x, room_impulse_response(rng, sample_rate, size, t60, distance))[: len(x)]
    return y / max(np.max(np.abs(y)), 1e-9) * 0.9


def apply_pa_attack(attack_id, environment, x, rng, sample_rate):
    """Replay: recorded at attacker distance in the same room, played back through device quality, re-captured."""
    if attack_id not in PA_ATTACKS:
        raise ValueError(f"unknown PA attack {attack_id!r}; expected one of {PA_ATTACKS}")
    recorded = apply_environment(environment[:2] + attack_id[0].lower(), x, rng, sample_rate)
    low, high, drive = DEVICE[attack_id[1]]
    played = dsp.bandpass(recorded, low, high * sample_rate / 2.0, sample_rate, order=3)
    if drive:
        played = np.tanh(drive * played) / np.tanh(drive)
    played = played + 10.0 ** (rng.uniform(-55.0, -45.0) / 20.0) * rng.standard_normal(len(x))
    return apply_environment(environment, played, rng, sample_rate)
