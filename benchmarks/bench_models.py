"""Forward throughput (clips/s) of AASIST, AASIST-L and RawNet2 on 64,600-sample clips, per device and batch size.

    python benchmarks/bench_models.py [--models aasist aasist_l rawnet2] [--batch-sizes 1 32] [--repeats 3]
                                      [--samples 64600] [--jit]

Each (device, model, batch) is traced and run once as warm-up, then timed over `--repeats` calls of a compiled
`tf.function` (inference mode); figures exclude the warm-up. Runs on the CPU, and on the first GPU when one is
visible. Prints a table; nothing is asserted.
"""

import argparse
import time

import numpy as np
import tensorflow as tf

import models
from models.heads import trainable_parameter_count


def _devices():
    devices = ["/CPU:0"]
    if tf.config.list_physical_devices("GPU"):
        devices.append("/GPU:0")
    return devices


def measure(model, batch, repeats, jit):
    """Clips per second of `model` on random waveforms of `batch` clips (warm-up excluded)."""
    forward = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    waveforms = tf.constant(
        0.1 * np.random.default_rng(0).standard_normal((batch, model.input_shape[1])), dtype=tf.float32
    )
    forward(waveforms).numpy()  # trace, compile and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        forward(waveforms).numpy()  # .numpy() waits for the device
    return batch * repeats / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["aasist", "aasist_l", "rawnet2"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per (device, model, batch)")
    parser.add_argument("--samples", type=int, default=64600, help="clip length in samples")
    parser.add_argument("--jit", action="store_true", help="compile the forward pass with XLA")
    args = parser.parse_args(argv)

    rows = []
    for device in _devices():
        with tf.device(device):
            for name in args.models:
                model = models.build(name, (args.samples,))
                for batch in args.batch_sizes:
                    rate = measure(model, batch, args.repeats, args.jit)
                    rows.append((device, name, trainable_parameter_count(model), batch, rate))
                    print(f"  {device} {name} batch {batch}: {rate:.2f} clips/s", flush=True)

    print(f"\nforward throughput, {args.samples} samples per clip, jit_compile={args.jit}, {args.repeats} timed calls")
    print(f"{'device':8} {'model':10} {'parameters':>12} {'batch':>6} {'clips/s':>10}")
    for device, name, params, batch, rate in rows:
        print(f"{device:8} {name:10} {params:>12,} {batch:>6} {rate:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
