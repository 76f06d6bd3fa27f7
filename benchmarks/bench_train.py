"""Training throughput (examples/s) of the LCNN (log-mel) and AASIST under TensorFlow and under JAX, side by side.

    python benchmarks/bench_train.py [--models lcnn aasist] [--batch 16] [--samples 64600] [--steps 10]
                                     [--warmup 3] [--rounds 2] [--backends tensorflow jax] [--tf-jit]

Each backend runs in its own process (Keras fixes its backend when it is imported), on the runtime `fakespeech
train` would choose there (`pipelines.train.runtime`: every TPU chip or GPU, else one CPU), with the same model,
batch, clip length and optimizer as a `fakespeech train` run. For every (backend, model) it times `--steps` training
steps after `--warmup` untimed ones (tracing and compilation), in `--rounds` alternating rounds (the best round
counts, so that neither input comes off worse for being measured first) of:

- in memory: one batch already decoded, repeated (`tf.data.Dataset.from_tensors(batch).repeat()`): the model's own
  speed;
- tf.data: the real input pipeline from TFRecord shards (decode, random crop, class weights, batch), the one
  training uses.

`tf.data / in memory` well below 1 means training is input-bound on this machine. Prints the two tables; nothing is
asserted. The shards are generated noise (`write_shard_set`) in a temporary folder.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from pipelines.config import RunConfig
from pipelines.train import runtime as runtimes
from pipelines.train.end_to_end import build_end_to_end
from pipelines.train.training import compile_model, make_train_dataset, open_training_shards
from tfrecord_builder.shards import write_shard_set

# Each worker process starts with KERAS_BACKEND set by the parent, so the imports above load its backend.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_RATE = 16000
MODEL_SETTINGS = {  # what `fakespeech train --model NAME` trains: LCNN on log-mel, AASIST on the raw waveform
    "lcnn": {"features": {"kind": "logmel"}, "model": {"name": "lcnn"}},
    "aasist": {"features": {"kind": "waveform"}, "model": {"name": "aasist"}},
}


def write_shards(directory, samples, examples):
    rng = np.random.default_rng(0)
    utterances = [{"samples": rng.integers(-8000, 8000, size=int(samples * 1.2)).astype(np.int16),
                   "id": f"bench_{i:05d}", "system_id": "-" if i % 4 == 0 else "A01", "target": int(i % 4 != 0)}
                  for i in range(examples)]
    write_shard_set(directory, {"train": utterances}, {"train": 4}, sample_rate=SAMPLE_RATE)


def _timed_fit(model, dataset, warmup, steps):
    """(seconds of the warm-up steps, seconds per timed step) of one fit, so that the input pipeline runs on."""

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = [time.perf_counter()]

        def on_train_batch_begin(self, batch, logs=None):
            if batch == warmup:
                self.times.append(time.perf_counter())

        def on_train_end(self, logs=None):  # after the last step's weights are back (JAX syncs them here)
            self.times.append(time.perf_counter())

    clock = StepClock()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock])
    begin, timed, end = clock.times
    return timed - begin, (end - timed) / steps


def worker(args):
    """One backend: prints one JSON line per model."""
    runtime = runtimes.choose_runtime().activate()
    for name in args.models:
        run_config = RunConfig.from_dict({
            **MODEL_SETTINGS[name],
            "data": {"shards": args.shards, "clip_samples": args.samples, "batch_size": args.batch,
                     "shuffle_buffer": 256},
            "features": {**MODEL_SETTINGS[name]["features"], "normalization": "none"},
            "train": {"jit_compile": args.tf_jit, "learning_rate": 1e-4},
        })
        global_batch = runtime.global_batch(args.batch)
        runtimes.apply_precision(runtime.precision())
        keras.utils.set_random_seed(0)
        with runtime.scope():
            model = build_end_to_end(run_config, with_augmentation=False)
            compile_model(model, run_config, args.steps, runtime)
        real = make_train_dataset(run_config, open_training_shards(run_config), global_batch)
        batch = next(iter(real))
        in_memory = tf.data.Dataset.from_tensors(batch).repeat()
        warm_memory = warm_real = 0.0
        step_memory = step_real = float("inf")
        for _ in range(args.rounds):
            warm, step = _timed_fit(model, in_memory, args.warmup, args.steps)
            warm_memory, step_memory = warm_memory + warm, min(step_memory, step)
            warm, step = _timed_fit(model, real, args.warmup, args.steps)
            warm_real, step_real = warm_real + warm, min(step_real, step)
        print(json.dumps({
            "backend": runtime.backend, "runtime": runtime.describe(), "model": name,
            "parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "global_batch": global_batch, "warmup_s": warm_memory + warm_real,
            "in_memory_steps_s": 1 / step_memory, "tfdata_steps_s": 1 / step_real,
            "in_memory_examples_s": global_batch / step_memory, "tfdata_examples_s": global_batch / step_real,
        }), flush=True)
        del model
        keras.backend.clear_session()
    return 0


def run_backend(backend, args, shards):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--shards", shards, "--models", *args.models,
               "--batch", str(args.batch), "--samples", str(args.samples), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--rounds", str(args.rounds)] + (["--tf-jit"] if args.tf_jit else [])
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"the {backend} run failed:\n{result.stderr[-3000:]}")
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        print(f"  {backend} {row['model']}: {row['in_memory_examples_s']:.2f} examples/s in memory, "
              f"{row['tfdata_examples_s']:.2f} with tf.data ({row['runtime']})", flush=True)
    return {row["model"]: row for row in rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_SETTINGS), choices=list(MODEL_SETTINGS))
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax"])
    parser.add_argument("--batch", type=int, default=16, help="per-device batch")
    parser.add_argument("--samples", type=int, default=64600, help="clip length in samples (64600: about 4 s)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best one counts")
    parser.add_argument("--tf-jit", action="store_true", help="TensorFlow with XLA (train.jit_compile); JAX always")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory() as shards:
        write_shards(shards, args.samples, examples=max(64, 4 * args.batch))
        results = {backend: run_backend(backend, args, shards) for backend in args.backends}

    print(f"\ntraining throughput, global batch as shown, {args.samples}-sample clips, best of {args.rounds} rounds of "
          f"{args.steps} timed steps after {args.warmup} warm-up, TensorFlow jit_compile={args.tf_jit}")
    for backend in args.backends:
        print(f"  {backend}: {next(iter(results[backend].values()))['runtime']}")
    header = f"{'model':8} {'parameters':>11} {'batch':>6} " + "".join(f"{b + ' ex/s':>16}" for b in args.backends)
    both = len(args.backends) == 2
    print("\n(in memory)\n" + header + (f"{'ratio':>10}" if both else ""))
    for name in args.models:
        first = results[args.backends[0]][name]
        rates = [results[b][name]["in_memory_examples_s"] for b in args.backends]
        ratio = f"{rates[1] / rates[0]:>9.2f}x" if both else ""
        print(f"{name:8} {first['parameters']:>11,} {first['global_batch']:>6} "
              + "".join(f"{r:>16.2f}" for r in rates) + ratio)
    if both:
        print(f"ratio = {args.backends[1]} / {args.backends[0]}")
    print("\ninput-bound check: steps/s with batches in memory vs the real tf.data input")
    print(f"{'backend':11} {'model':8} {'in memory':>10} {'tf.data':>10} {'tf.data/in memory':>18} {'warm-up s':>10}"
          "  (warm-up: all rounds' untimed steps, compilation included)")
    for backend in args.backends:
        for name in args.models:
            row = results[backend][name]
            print(f"{backend:11} {name:8} {row['in_memory_steps_s']:>10.3f} {row['tfdata_steps_s']:>10.3f} "
                  f"{row['tfdata_steps_s'] / row['in_memory_steps_s']:>18.2f} {row['warmup_s']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
