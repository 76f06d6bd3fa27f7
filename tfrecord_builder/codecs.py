"""Lossy codec round trips through soundfile (libsndfile): MP3, Ogg Vorbis and Ogg Opus (`fakespeech build --codecs`).

An utterance is encoded in memory at the build's sample rate and decoded back to int16. libsndfile maps one
"compression level" in [0, 1] onto each codec's own setting, so the level is chosen to give exactly the setting
asked for (libsndfile 1.2, src/mpeg_l3_encode.c, ogg_vorbis.c, ogg_opus.c):

- MP3, constant bitrate: `kbps = int(top - level * (top - bottom))`, with (bottom, top) = (32, 320) for MPEG-1
  (32-48 kHz), (8, 160) for MPEG-2 (16-24 kHz), (8, 64) for MPEG-2.5;
- Vorbis: `quality = 1 - level` (oggenc's -q N is quality N/10);
- Opus: `bps = int((1 - level) * 250000 + 6000)` per channel.

Codecs delay the signal (MP3 by its encoder delay and, where no LAME info frame fits in a low-bitrate frame, its
decoder delay too). The delay is measured once per codec setting and rate by round-tripping a fixed noise probe
and finding its lag; every copy is shifted back by it and cut or zero-padded to its source's length, so a copy is
sample-aligned with its source.
"""

import io
from importlib import metadata

import numpy as np
import soundfile as sf

from tfrecord_builder.variant_specs import mp3_version

FORMATS = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS")}
MP3_RANGE = {"mpeg1": (32.0, 320.0), "mpeg2": (8.0, 160.0), "mpeg2.5": (8.0, 64.0)}
MAX_DELAY = 8192  # samples searched for a codec's delay
_DELAYS = {}  # (spec text, sample rate) -> delay in samples, once per process


class CodecError(Exception):
    """A round trip that failed on one utterance (the build reports it like an unreadable file)."""


def compression_level(spec, sample_rate):
    """The libsndfile compression level that gives `spec`'s bitrate or quality (see the module docstring)."""
    if spec.codec == "mp3":
        bottom, top = MP3_RANGE[mp3_version(sample_rate)]
        return min(1.0, max(0.0, (top - spec.value - 0.5) / (top - bottom)))  # +0.5: int() truncates to the value
    if spec.codec == "ogg":
        return 1.0 - spec.value / 10.0
    return min(1.0, max(0.0, 1.0 - (spec.value * 1000.0 + 0.5 - 6000.0) / 250000.0))


def encode_decode(spec, samples, sample_rate):
    """`samples` (int16) encoded and decoded in memory; the decoded int16 signal, not yet aligned."""
    fmt, subtype = FORMATS[spec.codec]
    buffer = io.BytesIO()
    buffer.name = f"roundtrip.{spec.codec}"
    mode = "CONSTANT" if spec.codec == "mp3" else None
    sf.write(buffer, samples, sample_rate, format=fmt, subtype=subtype,
             compression_level=compression_level(spec, sample_rate), bitrate_mode=mode)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="int16")
    return decoded if decoded.ndim == 1 else decoded[:, 0]


def check(spec, sample_rate):
    """Raises `ValueError("--codecs VALUE: reason")` when soundfile cannot write the codec here; measures its delay."""
    fmt, subtype = FORMATS[spec.codec]
    if subtype not in sf.available_subtypes(fmt):
        raise ValueError(f"--codecs {spec.text!r}: this soundfile/libsndfile ({sf.__libsndfile_version__}) cannot "
                         f"write {fmt}/{subtype}; it writes {', '.join(sf.available_subtypes(fmt)) or 'none'}")
    try:
        delay(spec, sample_rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"--codecs {spec.text!r}: soundfile cannot write {fmt}/{subtype} at {sample_rate} Hz "
                         f"({exc})") from None


def delay(spec, sample_rate):
    """The codec's delay at `sample_rate`, in samples: the lag of a round-tripped noise probe."""
    key = (spec.text, sample_rate)
    if key not in _DELAYS:
        rng = np.random.default_rng(20230601)  # a fixed probe, so every process measures the same delay
        probe = np.round(rng.uniform(-0.3, 0.3, sample_rate // 2) * 32767.0).astype(np.int16)
        probe = np.concatenate([probe, np.zeros(MAX_DELAY, np.int16)])
        decoded = encode_decode(spec, probe, sample_rate).astype(np.float64)
        decoded = np.pad(decoded, (0, max(0, probe.shape[0] + MAX_DELAY - decoded.shape[0])))
        reference = probe[: sample_rate // 2].astype(np.float64)
        size = decoded.shape[0] + reference.shape[0]
        # scores[k] = sum_i decoded[k + i] * reference[i], by FFT
        scores = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size)
        _DELAYS[key] = int(np.argmax(scores[: MAX_DELAY + 1]))
    return _DELAYS[key]


def round_trip(spec, samples, sample_rate):
    """The codec copy of int16 `samples`: encoded, decoded, shifted back by the codec delay, same length."""
    try:
        decoded = encode_decode(spec, samples, sample_rate)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise CodecError(f"codec {spec.text} failed ({exc})") from None
    decoded = decoded[delay(spec, sample_rate):]
    n = samples.shape[0]
    return decoded[:n] if decoded.shape[0] >= n else np.pad(decoded, (0, n - decoded.shape[0]))


def describe(spec, sample_rate):
    """The manifest record of a codec setting."""
    fmt, subtype = FORMATS[spec.codec]
    record = {"id_suffix": spec.id_suffix, "format": fmt, "subtype": subtype,
              "compression_level": compression_level(spec, sample_rate), "delay_samples": delay(spec, sample_rate),
              "versions": {"libsndfile": sf.__libsndfile_version__, "soundfile": metadata.version("soundfile")}}
    if spec.codec == "ogg":
        record["vorbis_quality"] = spec.value
    else:
        record["bitrate_kbps"] = spec.value
    if spec.codec == "mp3":
        record["bitrate_mode"] = "CONSTANT"
    return record
