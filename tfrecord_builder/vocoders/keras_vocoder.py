"""A user's own neural vocoder: a Keras mel -> waveform generator, e.g. a HiFi-GAN converted to Keras.

`--vocode keras:/path/generator.keras` loads the model with `keras.saving.load_model(path, compile=False)` and
reads its mel front end from the sidecar `/path/generator.json`, so the mels fed to it are the mels it was
trained on:

    {"sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "n_mels": 80, "fmin": 0, "fmax": 8000,
     "log_base": "e"}

Required keys: `sample_rate`, `n_fft`, `hop_length`, `n_mels`, `fmin`, `fmax` (null: half the rate), `log_base`
(`"e"`, `"10"` or null for a linear mel). Optional: `win_length` (default `n_fft`), `power` (1 magnitude, the
default, or 2), `log_floor` (default 1e-5: mels are clamped there before the log, as HiFi-GAN does), `mel_norm`
(`"slaney"`, the default, or null), `center` (default true: librosa framing; false: HiFi-GAN's `(n_fft - hop) / 2`
reflect padding), `input_layout` (`"frames_mels"`, the default, for a `(batch, frames, n_mels)` input, or
`"mels_frames"` for `(batch, n_mels, frames)` as in PyTorch). The output may be `(batch, samples)` or
`(batch, samples, 1)`. Audio at another rate than the model's is resampled to it and back. Keras (and its
backend) is imported only in the processes that run this vocoder; each loads the model once.
"""

import json
import pathlib
from importlib import metadata

import numpy as np

from tfrecord_builder import atomic
from tfrecord_builder.audio_io import resample
from tfrecord_builder.vocoders import stft

REQUIRED = ("sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax", "log_base")
DEFAULTS = {"win_length": None, "power": 1, "log_floor": 1e-5, "mel_norm": "slaney", "center": True,
            "input_layout": "frames_mels"}
LOG_BASES = {"e": np.log, "10": np.log10, None: None}
LAYOUTS = ("frames_mels", "mels_frames")
MODEL_SUFFIXES = (".keras", ".h5")


def sidecar_path(model_path):
    return pathlib.Path(model_path).with_suffix(".json")


def read_sidecar(model_path):
    """The validated mel parameters of a generator; a `ValueError` names the sidecar and the key at fault."""
    path = sidecar_path(model_path)
    if not path.is_file():
        raise ValueError(f"no mel parameters for {model_path}: write them to {path} (keys: {', '.join(REQUIRED)})")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of mel parameters")
    unknown = sorted(set(values) - set(REQUIRED) - set(DEFAULTS))
    missing = [key for key in REQUIRED if key not in values]
    if unknown or missing:
        raise ValueError(f"{path}: " + "; ".join(
            part for part in (f"unknown key(s) {unknown}" if unknown else "",
                              f"missing key(s) {missing}" if missing else "") if part)
                         + f" (valid: {', '.join(REQUIRED + tuple(DEFAULTS))})")
    values = {**DEFAULTS, **values}
    values["log_base"] = None if values["log_base"] is None else str(values["log_base"])
    _check_values(path, values)
    return values


def _check_values(path, values):
    for key in ("sample_rate", "n_fft", "hop_length", "n_mels"):
        if isinstance(values[key], bool) or not isinstance(values[key], int) or values[key] < 1:
            raise ValueError(f"{path}: {key} must be a positive integer, got {values[key]!r}")
    if values["win_length"] is not None and not 1 <= values["win_length"] <= values["n_fft"]:
        raise ValueError(f"{path}: win_length must be between 1 and n_fft, got {values['win_length']!r}")
    fmax = values["sample_rate"] / 2 if values["fmax"] is None else values["fmax"]
    if not 0 <= values["fmin"] < fmax <= values["sample_rate"] / 2:
        raise ValueError(f"{path}: need 0 <= fmin < fmax <= sample_rate / 2, got {values['fmin']!r} and "
                         f"{values['fmax']!r}")
    checks = {"log_base": (values["log_base"] in LOG_BASES, "'e', '10' or null"),
              "power": (values["power"] in (1, 2), "1 or 2"),
              "mel_norm": (values["mel_norm"] in ("slaney", None), "'slaney' or null"),
              "center": (isinstance(values["center"], bool), "true or false"),
              "input_layout": (values["input_layout"] in LAYOUTS, " or ".join(LAYOUTS)),
              "log_floor": (isinstance(values["log_floor"], (int, float)) and values["log_floor"] > 0, "> 0")}
    for key, (ok, expected) in checks.items():
        if not ok:
            raise ValueError(f"{path}: {key} must be {expected}, got {values[key]!r}")


def _model_path(option):
    path = pathlib.Path(option).expanduser()
    if path.suffix not in MODEL_SUFFIXES:
        raise ValueError(f"expected a Keras model file ({' or '.join(MODEL_SUFFIXES)}), got {option!r}")
    if not path.is_file():
        raise ValueError(f"no such model file: {path}")
    return path


def check(option, sample_rate):
    """Reads the sidecar, loads the model and runs it on a few frames, so a bad generator fails before any work."""
    path = _model_path(option)
    read_sidecar(path)
    generator = _Generator(path)
    test = generator(np.zeros(generator.mel["sample_rate"] // 4), np.random.default_rng(0))
    if test.ndim != 1:
        raise ValueError(f"{path}: the model must output one waveform per mel input, got shape {test.shape}")


def versions():
    import keras  # deferred on purpose: only builds that use a Keras vocoder import it (in the workers too)

    return {"keras": metadata.version("keras"), "keras_backend": keras.config.backend()}


def params(option, sample_rate):
    path = _model_path(option)
    return {"model": str(path.resolve()), "model_sha256": atomic.file_sha256(path), "mel": read_sidecar(path)}


def make(option, sample_rate):
    generator = _Generator(_model_path(option))
    model_rate = generator.mel["sample_rate"]
    if model_rate == sample_rate:
        return generator

    def vocode(x, rng):
        y = generator(resample(x, sample_rate, model_rate), rng)
        return resample(y, model_rate, sample_rate)

    return vocode


class _Generator:
    """Computes the sidecar's mel of a waveform and runs the model on it: waveform in, waveform out."""

    def __init__(self, path):
        import keras  # deferred on purpose (see `versions`)

        self.mel = read_sidecar(path)
        self.model = keras.saving.load_model(str(path), compile=False)
        m = self.mel
        fmax = m["sample_rate"] / 2 if m["fmax"] is None else m["fmax"]
        self.filterbank = stft.mel_filterbank(m["sample_rate"], m["n_fft"], m["n_mels"], m["fmin"], fmax,
                                              norm=m["mel_norm"])

    def __call__(self, x, rng):
        m = self.mel
        spec = stft.stft(x, m["n_fft"], m["hop_length"], win_length=m["win_length"], center=m["center"])
        mel = (np.abs(spec) ** m["power"]) @ self.filterbank.T  # (frames, n_mels)
        log = LOG_BASES[m["log_base"]]
        if log is not None:
            mel = log(np.maximum(mel, m["log_floor"]))
        if m["input_layout"] == "mels_frames":
            mel = mel.T
        y = np.asarray(self.model(mel[None].astype(np.float32), training=False), dtype=np.float64)
        return np.squeeze(y[0])
