"""LPC vocoder: linear-prediction analysis, the residual replaced by a pulse train or noise, and resynthesis.

Per 10 ms hop, an all-pole envelope (autocorrelation method on a 25 ms Hann window of the pre-emphasised signal,
order 2 + sample_rate/1000) and a voicing decision with a pitch period (the normalised cross-correlation peak of
the signal low-passed at 1 kHz, between 60 and 400 Hz) are estimated. The excitation is a pulse train at that
period for voiced hops and seeded white noise for unvoiced ones, each at the residual's level; it drives the
all-pole filter, whose state carries across hops; a 60 Hz high-pass removes the DC that de-emphasis would lift.
So the copy keeps the envelope, pitch and level of its source but none of its residual: a really vocoded copy
(the classic LPC-10 scheme), not a filtered one.
"""

import numpy as np
from scipy import linalg, signal

PRE_EMPHASIS = 0.97
FRAME_SECONDS = 0.025
HOP_SECONDS = 0.010
F0_RANGE_HZ = (60.0, 400.0)
VOICING_THRESHOLD = 0.5  # normalised cross-correlation of the low-passed signal at the pitch lag
PITCH_BAND_HZ = 1000.0
HIGH_PASS_HZ = 60.0


def params(option, sample_rate):
    return {"order": _order(sample_rate), "frame_seconds": FRAME_SECONDS, "hop_seconds": HOP_SECONDS,
            "window": "hann", "pre_emphasis": PRE_EMPHASIS, "f0_range_hz": list(F0_RANGE_HZ),
            "voicing_threshold": VOICING_THRESHOLD, "excitation": "pulse train (voiced) / white noise (unvoiced)",
            "pitch_band_hz": PITCH_BAND_HZ, "high_pass_hz": HIGH_PASS_HZ}


def _order(sample_rate):
    return 2 + int(round(sample_rate / 1000))


def make(option, sample_rate):
    order = _order(sample_rate)
    frame = int(round(FRAME_SECONDS * sample_rate))
    hop = int(round(HOP_SECONDS * sample_rate))
    lags = (int(sample_rate / F0_RANGE_HZ[1]), int(sample_rate / F0_RANGE_HZ[0]))
    window = signal.get_window("hann", frame)
    # A Gaussian lag window (60 Hz bandwidth) widens razor-sharp resonances that would ring in resynthesis.
    lag_window = np.exp(-0.5 * (2 * np.pi * 60.0 / sample_rate * np.arange(order + 1)) ** 2)
    low_pass = signal.butter(4, min(PITCH_BAND_HZ, 0.45 * sample_rate), fs=sample_rate, output="sos")
    dc_block = signal.butter(4, HIGH_PASS_HZ, btype="highpass", fs=sample_rate, output="sos")

    def vocode(x, rng):
        emphasised = signal.lfilter([1.0, -PRE_EMPHASIS], [1.0], x)
        padded = np.pad(emphasised, (frame // 2, frame))
        voice_band = np.pad(signal.sosfilt(low_pass, x), (frame // 2, frame))  # pitch is tracked below 1 kHz
        excitation_state = {"next_pulse": 0}
        zi = np.zeros(order)
        out = np.zeros(x.shape[0] + hop)
        for start in range(0, x.shape[0], hop):
            segment = padded[start:start + frame]
            a = _lpc(segment * window, order, lag_window)
            residual = signal.lfilter(a, [1.0], segment)[order:]  # past the start-up transient
            gain = np.sqrt(np.mean(residual ** 2))
            period = _pitch_period(voice_band[start:start + frame], lags)
            excitation = _excitation(hop, gain, period, rng, excitation_state)
            out[start:start + hop], zi = signal.lfilter([1.0], a, excitation, zi=zi)
        # De-emphasis lifts DC by 30 dB, and a pulse train has DC: the high-pass takes it out again.
        return signal.sosfilt(dc_block, signal.lfilter([1.0], [1.0, -PRE_EMPHASIS], out[:x.shape[0]]))

    return vocode


def _lpc(frame, order, lag_window):
    """Prediction polynomial `[1, a1..ap]` by Levinson-Durbin on the frame's lag-windowed autocorrelation."""
    r = np.correlate(frame, frame, "full")[frame.shape[0] - 1:frame.shape[0] + order]
    if r[0] <= 1e-12:
        return np.concatenate([[1.0], np.zeros(order)])
    r = r * lag_window
    r[0] *= 1.0 + 1e-9  # white-noise correction keeps the Toeplitz system well conditioned
    coefficients = linalg.solve_toeplitz(r[:order], -r[1:order + 1])
    return np.concatenate([[1.0], coefficients])


def _pitch_period(segment, lags):
    """The pitch period in samples of a (low-passed) segment, or None when it is not periodic enough (unvoiced).

    The normalised cross-correlation of the segment with itself shifted by each lag (each product over the samples
    both parts overlap in, divided by both parts' energies), so long lags are not penalised for overlapping less;
    the shortest lag within 10 % of the best score wins, which avoids picking twice the period.
    """
    if segment.shape[0] <= lags[1] + 1 or np.dot(segment, segment) <= 1e-10:
        return None
    scores = np.array([_normalised_correlation(segment, lag) for lag in range(lags[0], lags[1] + 1)])
    if scores.max() <= VOICING_THRESHOLD:
        return None
    return lags[0] + int(np.argmax(scores >= 0.9 * scores.max()))


def _normalised_correlation(x, lag):
    head, tail = x[:-lag], x[lag:]
    energy = np.sqrt(np.dot(head, head) * np.dot(tail, tail))
    return np.dot(head, tail) / energy if energy > 0 else 0.0


def _excitation(length, gain, period, rng, state):
    """`length` samples of unit-RMS pulses (every `period`) or noise, scaled to `gain`; pulse phase carries on."""
    if period is None:
        state["next_pulse"] = 0
        return gain * rng.standard_normal(length)
    excitation = np.zeros(length)
    position = state["next_pulse"]
    while position < length:
        excitation[position] = gain * np.sqrt(period)
        position += period
    state["next_pulse"] = position - length
    return excitation
