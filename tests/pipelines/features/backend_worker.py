"""Run by test_backends.py in a fresh process per Keras backend (KERAS_BACKEND is set before Keras is imported):
every feature layer on the same input in each execution mode of that backend; the outputs go to an .npz file.

    KERAS_BACKEND=jax python backend_worker.py OUT.npz

Keys are "<layer>/<mode>": "compiled" (jax.jit, or tf.function(jit_compile=True) i.e. XLA), "eager" (TensorFlow
only: eager JAX dispatches op by op and compiles each op for minutes' worth of a test budget), "dataset" (the layer
as a tf.data map, which is a TensorFlow graph under either backend).
"""

import sys

import keras
import numpy as np
import tensorflow as tf

from pipelines import features

SR = 22050
STFT = dict(sample_rate=SR, n_fft=256, win_length=200, hop_length=80)
LAYERS = {
    "logmel_top_db": lambda **kw: features.LogMelSpectrogram(n_mels=40, top_db=60.0, **STFT, **kw),
    "mfcc_deltas": lambda **kw: features.MFCC(n_mels=40, n_coefficients=13, deltas=True, **STFT, **kw),
    "lfcc_deltas": lambda **kw: features.LFCC(n_filters=20, n_coefficients=20, deltas=True, **STFT, **kw),
    "spectrogram_hamming_magnitude": lambda **kw: features.LogSpectrogram(window="hamming", center=False, power=1.0,
                                                                           **STFT, **kw),
    "chroma": lambda **kw: features.Chroma(tuning=0.0, **STFT, **kw),
    # Also the per-example tuning estimate (Chroma(tuning=None)), which its chroma_stft column uses.
    "deep_voice": lambda **kw: features.DeepVoiceFeatures(sample_rate=SR, hop_samples=SR // 2, **kw),
    "waveform": lambda **kw: features.Waveform(**kw),
}


def test_input():
    """Two 1.5 s signals: a tone sweep over noise and a harmonic tone that stops half-way (silence)."""
    t = np.arange(3 * SR // 2) / SR
    rng = np.random.default_rng(0)
    sweep = 0.3 * np.sin(2 * np.pi * (200.0 * t + 900.0 * t**2)) + 0.05 * rng.standard_normal(t.size)
    tone = sum(0.2 / k * np.sin(2 * np.pi * 233.0 * k * t) for k in range(1, 5)) * (t < 0.75)
    return np.stack([sweep, tone]).astype(np.float32)


def compiled(layer, x):
    if keras.backend.backend() == "jax":
        import jax  # only this backend's process has JAX to use

        return np.asarray(jax.jit(lambda a: layer(a))(x)).astype(np.float32)
    return tf.function(layer, jit_compile=True)(tf.constant(x)).numpy().astype(np.float32)


def run_all(x):
    results = {}
    for name, make in LAYERS.items():
        layer = make()
        results[f"{name}/compiled"] = compiled(layer, x)
        results[f"{name}/dataset"] = next(iter(tf.data.Dataset.from_tensor_slices(x).batch(len(x)).map(layer))).numpy()
        if keras.backend.backend() == "tensorflow":
            results[f"{name}/eager"] = layer(x).numpy()
    mixed = LAYERS["logmel_top_db"](dtype="mixed_bfloat16")
    results["logmel_top_db/mixed_bfloat16"] = compiled(mixed, x)
    results["logmel_top_db/mixed_bfloat16_dtype"] = np.array(keras.backend.standardize_dtype(mixed(x[:1]).dtype))
    return results


if __name__ == "__main__":
    np.savez(sys.argv[1], backend=np.array(keras.backend.backend()), **run_all(test_input()))
