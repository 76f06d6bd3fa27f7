"""Vocoders that resynthesise bona fide speech into spoofed training examples (`fakespeech build --vocode`).

Each vocoder module has `params(option, sample_rate)` (what the manifest records), `make(option, sample_rate)`
returning `vocode(x, rng) -> y` on float64 waveforms in [-1, 1], and optionally `check(option, sample_rate)`
(raising when its dependency or file is missing) and `versions()`. `vocode` here wraps every one the same way:
the copy has exactly the source's length and RMS level (so neither length nor loudness gives a copy away), and
is rounded to int16 once. Names, options and ids are owned by `tfrecord_builder.variant_specs`.

| `--vocode` | what it does | needs |
|---|---|---|
| `world`, `world:harvest` | WORLD analysis/synthesis (F0 by DIO+StoneMask or Harvest) | pyworld |
| `griffinlim`, `griffinlim:linear` | fast Griffin-Lim from an 80-band mel or the linear magnitude | - |
| `lpc` | LPC envelope + pulse/noise excitation (the residual is discarded) | - |
| `phase_vocoder` | phase-vocoder time stretch by 0.8 and back (phase coherence lost) | - |
| `keras:/path/g.keras` | a user's Keras mel -> waveform generator, mel parameters in `/path/g.json` | keras |
"""

import importlib
from importlib import metadata

import numpy as np
import scipy

MODULES = {
    "world": "tfrecord_builder.vocoders.world",
    "griffinlim": "tfrecord_builder.vocoders.griffin_lim",
    "lpc": "tfrecord_builder.vocoders.lpc",
    "phase_vocoder": "tfrecord_builder.vocoders.phase_vocoder",
    "keras": "tfrecord_builder.vocoders.keras_vocoder",
}
_LOADED = {}  # (spec text, sample rate) -> vocode function, once per process


class VocoderError(Exception):
    """A vocoder that failed on one utterance (the build reports it like an unreadable file)."""


def _module(spec):
    return importlib.import_module(MODULES[spec.name])


def check(spec, sample_rate):
    """Raises `ValueError("--vocode VALUE: reason")` when the vocoder cannot run here (dependency, file)."""
    module = _module(spec)
    try:
        if hasattr(module, "check"):
            module.check(spec.option, sample_rate)
    except (ImportError, ValueError, OSError) as exc:
        raise ValueError(f"--vocode {spec.text!r}: {exc}") from None


def describe(spec, sample_rate):
    """The manifest record of a vocoder: its system id, id suffix, parameters and the versions that ran it."""
    module = _module(spec)
    versions = {"fakespeech": _package_version(), "numpy": np.__version__, "scipy": scipy.__version__}
    if hasattr(module, "versions"):
        versions.update(module.versions())
    return {"system_id": spec.system_id, "id_suffix": spec.id_suffix,
            "params": module.params(spec.option, sample_rate), "versions": versions}


def _package_version():
    try:
        return metadata.version("fakespeech")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def vocode(spec, samples, sample_rate, rng):
    """The int16 vocoded copy of int16 `samples`: same length, same RMS level, never clipped."""
    key = (spec.text, sample_rate)
    if key not in _LOADED:
        _LOADED[key] = _module(spec).make(spec.option, sample_rate)
    x = samples.astype(np.float64) / 32768.0
    try:
        y = np.asarray(_LOADED[key](x, rng), dtype=np.float64).reshape(-1)
    except Exception as exc:  # any failure inside a vocoder is this utterance's problem, reported with its file
        raise VocoderError(f"vocoder {spec.text} failed ({type(exc).__name__}: {exc})") from None
    if not np.all(np.isfinite(y)):
        raise VocoderError(f"vocoder {spec.text} produced non-finite samples")
    y = y[:x.shape[0]] if y.shape[0] >= x.shape[0] else np.pad(y, (0, x.shape[0] - y.shape[0]))
    return to_int16(match_level(y, x))


def match_level(y, reference):
    """`y` scaled to the RMS of `reference`, then down to a peak below full scale if that would clip."""
    rms_y, rms_ref = np.sqrt(np.mean(y ** 2)), np.sqrt(np.mean(reference ** 2))
    if rms_y > 0:
        y = y * (rms_ref / rms_y)
    peak = np.max(np.abs(y)) if y.size else 0.0
    limit = 32767.0 / 32768.0
    return y * (limit / peak) if peak > limit else y


def to_int16(y):
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
