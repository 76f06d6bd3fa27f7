"""One Keras backend in a fresh process, for tests/models/test_backends.py (run as a script, never collected).

    KERAS_BACKEND=jax python tests/models/backend_worker.py --out DIR [--read OTHER_DIR] [--no-write] [--aasist DIR]
        [--cases lcnn,aasist]

The test sets KERAS_BACKEND before this process imports keras. Each case is a registered model at its tiny size
(plus two with a margin head); a failing case is recorded with its error and the others still run.

- write (default): build each case, train it a few steps on a separable batch (losses recorded), save
  `.weights.h5` and `.keras`, record its outputs, load its own `.keras` back and record those outputs; evaluate
  the margin losses and their gradients on fixed inputs.
- `--read OTHER_DIR`: for each case the other backend wrote, build a fresh model and load the other's
  `.weights.h5`, and separately load the other's `.keras`, recording both outputs.
- `--aasist DIR`: convert the published AASIST / AASIST-L weights in DIR and record their outputs on the
  reference input.

Everything measured goes to DIR/report.json (losses, errors) and DIR/arrays.npz; the test compares.
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import time
import traceback

import keras
import numpy as np

import models
from models.convert import convert
from models.heads import output_layers
from models.losses import get_loss, head_arguments

AASIST_DIR = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "aasist"
BATCH = 8
STEPS = 20
INPUT_SHAPES = {"features": (32, 16), "vector": (24,), "waveform": (8000,)}
# Cases with a margin head on top of the registered tiny models: (case name, model, head / loss name).
MARGIN_CASES = (("lcnn+ocsoftmax", "lcnn", "ocsoftmax"), ("resnet+amsoftmax", "resnet", "amsoftmax"))
MARGIN_EMBEDDING_UNITS = 8


def tiny_kwargs(name):
    """The model's hidden "tiny" preset when it has one, else its defaults (e.g. the GMM, small already)."""
    return {"preset": "tiny"} if models.get_entry(name).accepts_preset("tiny") else {}


def cases():
    """{case name: (model name, build kwargs, loss name)} for every registered model and the margin cases."""
    found = {name: (name, tiny_kwargs(name), "bce") for name in models.available()}
    for case, name, head in MARGIN_CASES:
        arguments = head_arguments(head, {"embedding_units": MARGIN_EMBEDDING_UNITS})
        found[case] = (name, {"preset": "tiny", **arguments}, head)
    return found


def case_input(name):
    """The batch every process uses for `name`: half bona fide (0), half spoof (1) with an offset and a sinusoid."""
    kind = models.get_entry(name).input_kind
    shape = INPUT_SHAPES[kind]
    rng = np.random.default_rng(0)
    labels = np.tile([0.0, 1.0], BATCH // 2).astype("float32")
    pattern = 1.0 + np.sin(2 * np.pi * np.arange(shape[0]) / 8.0)
    pattern = pattern.reshape((1, shape[0]) + (1,) * (len(shape) - 1))
    # Waveforms stay within [-1, 1]; their 2 kHz tone stands well above the noise so that a few steps suffice.
    noise, signal = (0.1, 0.3) if kind == "waveform" else (0.5, 0.5)
    spoof = labels.reshape((BATCH,) + (1,) * len(shape))
    x = noise * rng.standard_normal((BATCH,) + shape) + signal * spoof * pattern
    return x.astype("float32"), labels[:, None]


def case_optimizer(name):
    # SGD with momentum at 0.05 trains the convolutional models in a few steps; the Transformer front ends of the
    # SSL models diverge at that step size (seen under JAX), so they take Adam at a Transformer's usual rate.
    if name.startswith("ssl_"):
        return keras.optimizers.Adam(1e-3)
    return keras.optimizers.SGD(0.05, momentum=0.9)


def write_case(case, spec, out, arrays):
    name, kwargs, loss_name = spec
    keras.utils.set_random_seed(1)
    model = models.build(name, INPUT_SHAPES[models.get_entry(name).input_kind], **kwargs)
    x, y = case_input(name)
    # TensorFlow traces a plain graph: XLA-compiling the train steps of the graph models costs minutes on two
    # cores (test_zoo.py compiles the forward pass with XLA). JAX always compiles with XLA.
    jit_compile = False if keras.backend.backend() == "tensorflow" else "auto"
    model.compile(optimizer=case_optimizer(name), loss=get_loss(loss_name), jit_compile=jit_compile)
    # A model fitted outside gradient descent (the GMM: EM in pipelines.train.gmm) has nothing to train here.
    steps = STEPS if model.trainable_weights else 0
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    model.save_weights(out / f"{case}.weights.h5")
    model.save(out / f"{case}.keras")
    arrays[f"{case}/outputs"] = forward(model, x)
    reloaded = keras.saving.load_model(out / f"{case}.keras")
    arrays[f"{case}/own_keras"] = forward(reloaded, x)
    return {"losses": losses, "loss_class": type(reloaded.loss).__name__}


def forward(model, x):
    """Inference outputs of an eager call. JAX reuses its compiled primitives across the models of a case, where
    each model's `predict` would compile its whole graph again (seconds per model on two cores); the jitted path
    is exercised by the training steps (and by `aasist_reference`)."""
    return np.asarray(model(x, training=False))


def read_case(case, spec, other, arrays):
    name, kwargs, _ = spec
    x, _ = case_input(name)
    model = models.build(name, INPUT_SHAPES[models.get_entry(name).input_kind], **kwargs)
    model.load_weights(other / f"{case}.weights.h5")
    arrays[f"{case}/from_weights"] = forward(model, x)
    loaded = keras.saving.load_model(other / f"{case}.keras")
    arrays[f"{case}/from_keras"] = forward(loaded, x)
    return {"loss_class": type(loaded.loss).__name__}


def margin_inputs():
    """Embeddings (6, 5), soft and hard labels, and initial head centres shared by the two processes."""
    rng = np.random.default_rng(7)
    return {
        "embeddings": rng.standard_normal((6, 5)).astype("float32"),
        "labels": np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.75], "float32")[:, None],
        "ocsoftmax_center": rng.standard_normal((5, 1)).astype("float32"),
        "amsoftmax_centers": rng.standard_normal((5, 2)).astype("float32"),
    }


def margin_losses(arrays):
    """Loss value and gradients (embeddings, centres) of head + loss, with this backend's autodiff."""
    values = margin_inputs()
    for head in ("ocsoftmax", "amsoftmax"):
        inputs = keras.Input((5,))
        model = keras.Model(inputs, output_layers(inputs, head, {"embedding_units": None}))
        score = model.get_layer("predictions")
        score.set_weights([values[f"{head}_center" if head == "ocsoftmax" else f"{head}_centers"]])
        loss, grads = loss_and_gradients(model, get_loss(head), values["embeddings"], values["labels"])
        arrays[f"margin/{head}/loss"] = np.asarray(loss)
        arrays[f"margin/{head}/grad_embeddings"] = np.asarray(grads[0])
        arrays[f"margin/{head}/grad_center"] = np.asarray(grads[1])


def loss_and_gradients(model, loss_fn, x, y):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # the backend of this process; imported here because the TF process has no use for it

        def objective(inputs, center):
            outputs, _ = model.stateless_call([center], [], inputs)
            return loss_fn(y, outputs)

        return jax.value_and_grad(objective, argnums=(0, 1))(x, model.trainable_variables[0].value)
    import tensorflow as tf  # the backend of this process

    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = loss_fn(y, model(inputs))
    return loss, tape.gradient(loss, [inputs, model.trainable_variables[0]])


def aasist_reference_skip_reason():
    """Why the published AASIST weights cannot be checked here, or None when they can."""
    if importlib.util.find_spec("torch") is None:
        return "torch (the optional `torch` extra) is not installed: cannot read the published .pth weights"
    if not (AASIST_DIR / "AASIST.pth").is_file():
        return f"the published AASIST weights are not present at {AASIST_DIR}"
    return None


def aasist_reference(directory, arrays):
    directory = pathlib.Path(directory)
    waveforms = np.load(directory / "reference_input.npy")
    # AASIST only: AASIST-L runs the same operations (tests/models/test_aasist.py checks both under TensorFlow).
    model = convert("aasist", str(directory / "AASIST.pth"), input_samples=waveforms.shape[1])
    both = keras.Model(model.input, [model.get_layer("out_layer").output, model.output])
    two_class, spoof_logit = both.predict_on_batch(waveforms)
    arrays["aasist/aasist/two_class"] = np.asarray(two_class)
    arrays["aasist/aasist/spoof_logit"] = np.asarray(spoof_logit)


def _guarded(report, key, fn, *args):
    start = time.perf_counter()
    try:
        report[key] = {"error": None, **(fn(*args) or {})}
    except Exception as error:  # one broken case must not hide the others; the test names it
        report[key] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    report[key]["seconds"] = round(time.perf_counter() - start, 2)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--read", type=pathlib.Path)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--aasist")
    parser.add_argument("--cases", help="comma-separated case names (default: all); for debugging one model")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    keras.mixed_precision.set_global_policy("float32")
    report = {"backend": keras.backend.backend(), "write": {}, "read": {}}
    arrays = {}
    chosen = cases()
    if args.cases:
        chosen = {case: chosen[case] for case in args.cases.split(",")}
    for case, spec in chosen.items():
        if args.read is not None:
            _guarded(report["read"], case, read_case, case, spec, args.read, arrays)
        if not args.no_write:
            _guarded(report["write"], case, write_case, case, spec, args.out, arrays)
        # Frees the traced functions and resets the layer-name counters, so that memory stays that of one case
        # and both processes name the layers of a case alike.
        keras.backend.clear_session()
    if not args.no_write:
        _guarded(report, "margin", margin_losses, arrays)
    if args.aasist:
        _guarded(report, "aasist", aasist_reference, args.aasist, arrays)
    np.savez(args.out / "arrays.npz", **arrays)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
