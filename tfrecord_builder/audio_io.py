"""Reading one utterance as mono int16 PCM at the build's sample rate.

Kept free of TensorFlow so decoding worker processes start quickly.
"""

import collections
import math
import os

import numpy as np
import soundfile as sf

DecodedAudio = collections.namedtuple("DecodedAudio", ["samples", "source_rate", "channels"])

# int16 PCM <-> float in [-1, 1): the one scale of the shards, the in-graph decoder and every reader of audio.
PCM_FULL_SCALE = 32768.0


class AudioError(Exception):
    """An audio file that cannot become an example (missing, unreadable or empty); the message names the file."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


# libsndfile subtypes it converts to int16 exactly (integer PCM, rescaled to 16 bits).
INTEGER_PCM_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})


def read_audio(path, sample_rate):
    """Reads `path` as mono int16 at `sample_rate`.

    Mono 16-bit files at the right rate are returned sample for sample. Multichannel files are averaged to mono and
    off-rate files go through a polyphase resampler (`scipy.signal.resample_poly`, Kaiser-windowed FIR), both
    in float64 and rounded back to int16 once.

    Returns:
        `DecodedAudio(samples, source_rate, channels)`.

    Raises:
        AudioError: the file is missing, unreadable or holds no samples.
    """
    if not os.path.exists(path):
        raise AudioError(path, "missing audio file")
    try:
        info = sf.info(str(path))
        # Off-rate, multichannel, floating-point or compressed audio is processed in float so that int16 rounding
        # happens once; libsndfile would truncate float samples to int16 without scaling them.
        direct = info.channels == 1 and info.samplerate == sample_rate and info.subtype in INTEGER_PCM_SUBTYPES
        dtype = "int16" if direct else "float64"
        data, source_rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"unreadable audio ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "empty audio (0 samples)")
    if dtype == "int16":
        return DecodedAudio(np.ascontiguousarray(data[:, 0]), source_rate, 1)
    mono = data.mean(axis=1)
    if source_rate != sample_rate:
        mono = resample(mono, source_rate, sample_rate)
    pcm = np.clip(np.round(mono * PCM_FULL_SCALE), -32768, 32767).astype(np.int16)
    return DecodedAudio(pcm, source_rate, info.channels)


def pcm_to_float(samples):
    """int16 PCM as float32 in [-1, 1), exactly as `tfrecord_builder.schema.decode_audio` decodes the shards."""
    return np.asarray(samples).astype(np.float32) / np.float32(PCM_FULL_SCALE)


def resample(samples, source_rate, target_rate):
    """Polyphase resampling by the reduced ratio `target_rate / source_rate`."""
    from scipy import signal  # imported here: it takes seconds, and most corpora never need it

    divisor = math.gcd(int(source_rate), int(target_rate))
    return signal.resample_poly(samples, target_rate // divisor, source_rate // divisor)


def decode_job(path, sample_rate):
    """`read_audio` for a worker process: the `DecodedAudio`, or the reason string when the file is bad.

    A reason string rather than a raised `AudioError` crosses the process boundary without pickling trouble.
    """
    try:
        return read_audio(path, sample_rate)
    except AudioError as exc:
        return exc.reason
