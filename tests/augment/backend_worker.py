"""Runs every augment layer under the Keras backend named by KERAS_BACKEND (set before Keras is imported); used by
test_backends.py, one process per backend.

    KERAS_BACKEND=jax python tests/augment/backend_worker.py OUT_DIR NOISE_FOLDER RIR_FOLDER {all,parity}

Writes OUT_DIR/<backend>.npz: each layer's output for a fixed injected transformation (the same NumPy arrays in
every process), and OUT_DIR/<backend>.json; with "all", the JSON also says per layer whether its random path ran
inside `tf.data.Dataset.map` on batches (right shape, finite, changed the input), and how models holding the layers
ran: the waveform layers chained in a compiled forward pass with training=True, SpecAugment inside a model trained
with fit.
"""

import json
import os
import sys

import keras  # picks its backend from KERAS_BACKEND, which the caller sets
import numpy as np
import tensorflow as tf

import augment

BATCH, SAMPLES, FRAMES, BINS = 4, 1024, 40, 16
APPLY = np.array([True, True, False, True])


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))


def _waveform(name):
    return (0.3 * _rng(name).standard_normal((BATCH, SAMPLES))).clip(-1, 1).astype(np.float32)


def _features(name):
    return _rng(name).standard_normal((BATCH, FRAMES, BINS)).astype(np.float32)


def _uniform(name, shape, low, high):
    return _rng(name + str(shape)).uniform(low, high, shape).astype(np.float32)


def layer_specs(noise_folder, rir_folder):
    """name: (layer, input, injected transformation); the transformations are NumPy arrays, the same everywhere."""
    rawboost = augment.RawBoost(algo="lnl+isd+ssi", lnl_orders=2, n_bands=2, fir_taps=(10, 30), seed=0)
    taps = rawboost._response_length
    filters = _uniform("lnl", (BATCH, 2, taps), -0.1, 0.1)
    filters[..., 40:] = 0.0
    eq = augment.RandomEQ(sample_rate=16000, peaks=2, taps=129, seed=0)
    reverb = augment.AddReverb(rir_folder=rir_folder, seed=0)
    background = augment.AddBackgroundNoise(noise_folder=noise_folder, seed=0)
    decay = np.exp(-np.arange(reverb.impulse_responses.shape[1]) / 100.0)
    return {
        "gain": (augment.RandomGain(seed=0), _waveform("gain"),
                 {"gain_db": _uniform("gain", (BATCH,), -6, 6)}),
        "noise": (augment.AddNoise(seed=0), _waveform("noise"),
                  {"snr_db": _uniform("snr", (BATCH,), 5, 20), "noise": _uniform("n", (BATCH, SAMPLES), -1, 1)}),
        "shift": (augment.TimeShift(max_shift=100, mode="zero", seed=0), _waveform("shift"),
                  {"shift": np.array([37, -5, 0, 100], np.int32)}),
        "bandlimit": (augment.BandLimit(seed=0), _waveform("bandlimit"),
                      {"low_hz": _uniform("lo", (BATCH,), 0, 300), "high_hz": _uniform("hi", (BATCH,), 3400, 7000)}),
        "rawboost": (rawboost, _waveform("rawboost"),
                     {"lnl_filters": filters, "isd_noise": _uniform("isd", (BATCH, SAMPLES), -0.2, 0.2),
                      "ssi_noise": _uniform("ssi", (BATCH, SAMPLES), -1, 1),
                      "ssi_snr_db": _uniform("ssisnr", (BATCH,), 10, 40)}),
        "companding": (augment.Companding(law="random", seed=0), _waveform("companding"),
                       {"a_law": np.array([True, False, True, False])}),
        "telephone": (augment.TelephoneChannel(seed=0), _waveform("telephone"), {}),
        "quantize": (augment.Quantize(bits=(4, 12), dither=True, seed=0), _waveform("quantize"),
                     {"bits": np.array([4, 7, 9, 12], np.int32), "dither": _uniform("d", (BATCH, SAMPLES), -1, 1)}),
        "eq": (eq, _waveform("eq"), {"fir": _uniform("fir", (BATCH, 129), -0.2, 0.2)}),
        "reverb": (reverb, _waveform("reverb"),
                   {"index": np.zeros(BATCH, np.int32),
                    "rir": (_uniform("rir", (BATCH, decay.size), -1, 1) * decay).astype(np.float32)}),
        "background": (background, _waveform("background"),
                       {"index": np.zeros(BATCH, np.int32), "snr_db": _uniform("bsnr", (BATCH,), 0, 20),
                        "noise": _uniform("bn", (BATCH, SAMPLES), -0.5, 0.5)}),
        "specaugment": (augment.SpecAugment(fill="mean", seed=0), _features("specaugment"),
                        {"time_starts": np.array([[3, 20], [0, 0], [5, 5], [30, 1]], np.int32),
                         "time_widths": np.array([[4, 2], [7, 0], [1, 1], [10, 3]], np.int32),
                         "freq_starts": np.array([[0, 9], [2, 2], [3, 3], [15, 0]], np.int32),
                         "freq_widths": np.array([[2, 3], [1, 0], [4, 4], [1, 2]], np.int32)}),
        "mixup": (augment.MixUp(seed=0), (_features("mixup"), np.array([0, 1, 1, 0], np.float32)),
                  {"mix_weight": np.array([0.7, 1.0, 0.2, 0.5], np.float32),
                   "permutation": np.array([1, 0, 3, 2], np.int32)}),
        "cutmix": (augment.CutMix(seed=0), (_features("cutmix"), np.array([0, 1, 1, 0], np.float32)),
                   {"permutation": np.array([2, 3, 0, 1], np.int32), "cut_start": np.array([2, 0, 0, 30], np.int32),
                    "cut_length": np.array([5, 40, 0, 10], np.int32), "frames": np.int32(FRAMES)}),
    }


def compiled(function):
    """`function` as the backend runs it in a model: jax.jit on JAX (whose op-by-op eager mode would also take a
    minute here), as it is on TensorFlow (eager: the same TensorFlow ops a tf.function would run)."""
    if keras.backend.backend() == "jax":
        import jax  # only installed where the JAX backend is used

        return jax.jit(function)
    return function


def injected_outputs(specs):
    outputs = {}
    for name, (layer, data, transformation) in specs.items():
        transformation = {"apply": APPLY, **transformation}
        if isinstance(data, tuple):
            apply = compiled(lambda x, y, t, layer=layer: (layer.transform_inputs(x, t), layer.transform_targets(y, t)))
            outputs[name], outputs[f"{name}_targets"] = (np.asarray(o) for o in apply(*data, transformation))
        else:
            outputs[name] = np.asarray(compiled(layer.transform_inputs)(data, transformation))
    eq = specs["eq"][0]
    parameters = {"peak_hz": np.array([[300.0, 2000.0]] * BATCH, np.float32),
                  "peak_gain_db": np.array([[5.0, -4.0]] * BATCH, np.float32),
                  "peak_q": np.array([[0.8, 1.7]] * BATCH, np.float32),
                  "low_shelf_hz": np.full(BATCH, 150.0, np.float32),
                  "low_shelf_gain_db": np.full(BATCH, 3.0, np.float32),
                  "high_shelf_hz": np.full(BATCH, 4000.0, np.float32),
                  "high_shelf_gain_db": np.full(BATCH, -6.0, np.float32)}
    outputs["eq_design"] = np.asarray(compiled(eq.design_fir)(parameters))
    return outputs


def random_path_in_tf_data(specs):
    """Each layer's own draws, mapped over a batched tf.data pipeline (TensorFlow ops whatever the backend)."""
    report = {}
    for name, (layer, data, _) in specs.items():
        pairs = isinstance(data, tuple)
        examples = tuple(np.concatenate([d, d]) for d in data) if pairs else np.concatenate([data, data])
        dataset = tf.data.Dataset.from_tensor_slices(examples).batch(BATCH)
        dataset = dataset.map(lambda x, y: layer((x, y), training=True)) if pairs else dataset.map(layer)
        batches = [b[0] if pairs else b for b in dataset]
        original = data[0] if pairs else data
        report[name] = {"batches": len(batches),
                        "shape": all(tuple(b.shape) == original.shape for b in batches),
                        "finite": all(bool(np.isfinite(b.numpy()).all()) for b in batches),
                        "changed": all(not np.allclose(b.numpy(), original) for b in batches),
                        "batches_differ": not np.array_equal(batches[0].numpy(), batches[1].numpy())}
    return report


def _states(layers):
    return [keras.ops.convert_to_numpy(layer.generator.state) for layer in layers]


def train_with(layer, inputs):
    """One epoch (two steps) of model.fit of `layer` before a Dense head: finite loss, and its seed moved."""
    x = keras.Input(inputs.shape[1:])
    model = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(layer(x))))
    model.compile(optimizer="sgd", loss="mse")
    before = _states([layer])
    history = model.fit(inputs, np.zeros((len(inputs), 1), np.float32), batch_size=BATCH, epochs=1, verbose=0)
    return {"loss_finite": bool(np.isfinite(history.history["loss"][-1])),
            "seeds_moved": not np.array_equal(before[0], _states([layer])[0])}


def compiled_forward(layers, inputs):
    """A model chaining `layers`, called with training=True the way a compiled train step calls it: on JAX a
    jax.jit of `stateless_call` (the seed states go in and come out as values), on TensorFlow a tf.function."""
    x = keras.Input(inputs.shape[1:])
    y = x
    for layer in layers:
        y = layer(y)
    model = keras.Model(x, y)
    before = _states(layers)
    if keras.backend.backend() == "jax":
        step = compiled(lambda trainable, non_trainable, batch: model.stateless_call(trainable, non_trainable, batch,
                                                                                     training=True))
        outputs, non_trainable = step([v.value for v in model.trainable_variables],
                                      [v.value for v in model.non_trainable_variables], inputs)
        for variable, value in zip(model.non_trainable_variables, non_trainable):
            variable.assign(value)
    else:
        outputs = tf.function(lambda batch: model(batch, training=True))(inputs)
    outputs = np.asarray(outputs)
    return {"finite": bool(np.isfinite(outputs).all()), "changed": not np.allclose(outputs, inputs),
            "seeds_moved": all(not np.array_equal(b, a) for b, a in zip(before, _states(layers)))}


def inside_models(specs):
    waveform_layers = [specs[name][0] for name in ("gain", "noise", "shift", "bandlimit", "rawboost", "companding",
                                                   "telephone", "quantize", "eq", "reverb", "background")]
    return {"waveform_chain": compiled_forward(waveform_layers, specs["gain"][1]),
            "specaugment_fit": train_with(specs["specaugment"][0], np.concatenate([specs["specaugment"][1]] * 2))}


def main(out_dir, noise_folder, rir_folder, checks):
    backend = keras.backend.backend()
    specs = layer_specs(noise_folder, rir_folder)
    np.savez(os.path.join(out_dir, f"{backend}.npz"), **injected_outputs(specs))
    report = {"backend": backend}
    if checks == "all":  # the in-process tests already run the TensorFlow graph paths under TensorFlow
        report.update(dataset=random_path_in_tf_data(specs), model=inside_models(specs))
    with open(os.path.join(out_dir, f"{backend}.json"), "w", encoding="utf-8") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main(*sys.argv[1:5])
