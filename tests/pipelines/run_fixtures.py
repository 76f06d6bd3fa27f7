"""Tiny run directories (config.json + untrained model.keras, optionally calibration.json) and audio files.

Imported by the predict and export tests; no training: an untrained model is enough to check that inference,
pooling and export reproduce the Keras model's own outputs.
"""

import json
import os

import keras
import numpy as np
import soundfile as sf

from pipelines.config import RunConfig
from pipelines.train.end_to_end import build_end_to_end

SAMPLE_RATE = 16000
CLIP_SAMPLES = 1600  # 0.1 s windows keep every model call tiny
CALIBRATION = {"slope": 1.7, "offset": -0.3, "prior_spoof": 0.5}

# One small model with parameters that keep it to a few thousand weights: a model that fails to build fails the
# predict and export suites loudly instead of letting them pass on another one.
TINY_MODEL = ("conv1d", {"filters": [8, 8], "dropout": 0.0})


def tiny_run_config(model_name, params):
    return RunConfig.from_dict(
        {
            "data": {"sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES},
            "features": {"kind": "logmel", "sample_rate": SAMPLE_RATE, "n_fft": 256, "win_length": 256,
                         "hop_length": 128, "n_mels": 16},
            "model": {"name": model_name, "params": params},
        }
    )


def build_tiny_model():
    """(run_config, keras model) of `TINY_MODEL`, untrained but seeded."""
    run_config = tiny_run_config(*TINY_MODEL)
    keras.utils.set_random_seed(0)
    return run_config, build_end_to_end(run_config, with_augmentation=False)


def write_run(directory, run_config, model, calibration_threshold=None):
    """Writes config.json, model.keras and, when `calibration_threshold` is given, calibration.json."""
    os.makedirs(directory, exist_ok=True)
    run_config.save_json(os.path.join(directory, "config.json"))
    model.save(os.path.join(directory, "model.keras"))
    if calibration_threshold is not None:
        # The layout of `pipelines.evaluate.calibration.CalibrationState` (what `fakespeech evaluate` writes).
        state = {"dev_split": "dev", "eer_threshold": float(calibration_threshold),
                 "calibrator": {"kind": "linear_llr", **CALIBRATION}}
        with open(os.path.join(directory, "calibration.json"), "w", encoding="utf-8") as file:
            json.dump(state, file)
    return directory


def tone_mix(duration, sample_rate, seed=0, channels=1):
    """A sum of sinusoids below 7 kHz (so resampling to 16 kHz keeps it), evaluated at `sample_rate`.

    Stereo files carry the signal plus and minus a second mix, so their channel mean is exactly the mono signal.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * sample_rate))) / sample_rate
    freqs, phases, amps = rng.uniform(100, 7000, 12), rng.uniform(0, 2 * np.pi, 12), rng.uniform(0.02, 0.06, 12)
    mono = np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]), axis=0)
    if channels == 1:
        return mono
    side = 0.1 * np.sin(2 * np.pi * 300 * t)
    return np.stack([mono + side, mono - side], axis=1)


def write_audio(path, samples, sample_rate, **kwargs):
    sf.write(path, samples, sample_rate, **kwargs)
    return path


def mp3_supported():
    return "MP3" in sf.available_formats()
