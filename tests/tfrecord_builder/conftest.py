"""Fixtures of the builder tests beyond the shared corpora of `tests/conftest.py`."""

import json

import pytest


@pytest.fixture
def keras_generator(tmp_path):
    """A factory of randomly initialised Keras mel -> waveform generators (16 mels, hop 128, 16 kHz) with their
    mel-parameter sidecars: `keras_generator(name="g", **sidecar_overrides) -> path of g.keras`."""

    def make(name="tiny_hifigan", **sidecar_overrides):
        import keras  # deferred: only the Keras vocoder tests need it

        mels = keras.Input((None, 16))  # (batch, frames, mels)
        x = keras.layers.Conv1D(8, 3, padding="same", activation="tanh")(mels)
        x = keras.layers.UpSampling1D(128)(x)  # (batch, frames * hop, 8)
        waveform = keras.layers.Conv1D(1, 9, padding="same", activation="tanh")(x)  # (batch, samples, 1)
        path = tmp_path / f"{name}.keras"
        keras.Model(mels, waveform).save(path)
        sidecar = {"sample_rate": 16000, "n_fft": 512, "hop_length": 128, "n_mels": 16, "fmin": 0, "fmax": 8000,
                   "log_base": "e", **sidecar_overrides}
        (tmp_path / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
        return path

    return make
