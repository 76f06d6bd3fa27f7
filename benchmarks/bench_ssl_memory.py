"""Training-step memory of SSL-AASIST (XLS-R 300M by default) with freezing and gradient checkpointing, per XLA.

    python benchmarks/bench_ssl_memory.py [--preset xls_r_300m] [--batch 8] [--samples 64600] [--layers N]
                                          [--modes all all+remat top:4 none]

Runs on the JAX backend (set here unless KERAS_BACKEND says otherwise) and compiles, without running, one
training step (loss, gradients of the trainable weights, Adam update) per mode; prints XLA's memory analysis of
the compiled step: arguments (weights, optimizer state, batch), temporaries (activations kept for the backward
pass and workspace) and their sum, the peak a device must hold. The figures are those of the compiler for the
device it runs on (the CPU here; a GPU or TPU schedules and fuses differently), not measured allocations.
`--layers` shrinks the Transformer depth to compile faster; temporaries then grow about linearly with depth.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import models  # noqa: E402
from models.ssl import preset_config  # noqa: E402


def train_step_memory(model, batch, samples):
    """XLA's memory analysis (bytes) of one compiled training step of `model`; nothing is executed."""
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def step(trainable, non_trainable, optimizer_vars, x, y):
        def loss(trainable):
            logits, updated = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits), updated

        (value, updated), grads = jax.value_and_grad(loss, has_aux=True)(trainable)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return value, trainable, updated, optimizer_vars

    spec = lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype)
    arguments = (
        [spec(v) for v in model.trainable_variables],
        [spec(v) for v in model.non_trainable_variables],
        [spec(v) for v in optimizer.variables],
        jax.ShapeDtypeStruct((batch, samples), np.float32),
        jax.ShapeDtypeStruct((batch, 1), np.float32),
    )
    compiled = jax.jit(step, donate_argnums=(0, 2)).lower(*arguments).compile()
    analysis = compiled.memory_analysis()
    return {"arguments": analysis.argument_size_in_bytes, "temporaries": analysis.temp_size_in_bytes,
            "outputs": analysis.output_size_in_bytes, "aliased": analysis.alias_size_in_bytes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="xls_r_300m", help="SSL backbone preset")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--samples", type=int, default=64600)
    parser.add_argument("--layers", type=int, default=None, help="override the Transformer depth (faster compile)")
    parser.add_argument("--modes", nargs="+", default=["all", "all+remat", "top:4", "none"],
                        help="ssl_trainable value, '+remat' for gradient checkpointing")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        parser.error("this benchmark compiles with JAX: run it with KERAS_BACKEND=jax")

    overrides = {} if args.layers is None else {"num_hidden_layers": args.layers}
    depth = args.layers or preset_config(args.preset).num_hidden_layers
    rows = []
    for mode in args.modes:
        trainable, _, remat = mode.partition("+remat")
        start = time.perf_counter()
        model = models.build("ssl_aasist", (args.samples,), ssl_preset=args.preset, ssl_overrides=overrides,
                             ssl_trainable=trainable, gradient_checkpointing=mode.endswith("+remat"))
        memory = train_step_memory(model, args.batch, args.samples)
        trained = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        rows.append((mode, trained, memory, time.perf_counter() - start))
        print(f"  {mode}: {memory}", flush=True)
        del model

    gib = 2.0 ** 30
    print(f"\nssl_aasist on {args.preset} ({depth} layers), batch {args.batch} x {args.samples} samples, "
          f"XLA memory analysis on {jax.devices()[0].platform} (compiled, not run)")
    print(f"{'mode':12} {'trained':>12} {'arguments':>10} {'temporaries':>12} {'peak GiB':>9} {'compile s':>10}")
    for mode, trained, memory, seconds in rows:
        peak = (memory["arguments"] + memory["temporaries"] + memory["outputs"] - memory["aliased"]) / gib
        print(f"{mode:12} {trained:>12,} {memory['arguments'] / gib:>10.2f} {memory['temporaries'] / gib:>12.2f} "
              f"{peak:>9.2f} {seconds:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
