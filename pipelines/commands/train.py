"""`fakespeech train`: train a registered model on shards, in a run directory that can be resumed.

`--backend jax|tensorflow` (or `train.backend` from a preset, `--config` or `--set`): Keras fixes its backend when
it is first imported, before any flag is read, so when the requested backend is not the one this process's Keras
runs on, the command runs itself again in a child Python with `KERAS_BACKEND` set (same arguments, same output,
same exit code). Setting `KERAS_BACKEND` yourself avoids that second start.
"""

import argparse
import datetime
import os
import subprocess
import sys

from pipelines.commands.common import EXIT_INTERRUPTED, command
from pipelines.config import ConfigError, resolve_run_config
from pipelines.config.presets import DEFAULT_PRESET, available_presets
from pipelines.config.stages import BACKENDS, STRATEGIES
from pipelines.train.tabular import train_features_csv
from pipelines.train.runtime import active_backend
from pipelines.train.training import train

# Marks the child started for another backend, so that it never starts one itself.
_BACKEND_CHILD = "FAKESPEECH_BACKEND_CHILD"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech train",
        description="Train a model on TFRecord shards. Settings come from the config dataclasses "
        "(pipelines/config/stages.py): a --preset, a --config file (JSON or YAML), these flags, then --set "
        "overrides; all are checked before anything is written.",
    )
    parser.add_argument("--shards", help="shards directory written by 'fakespeech build' (local or gs://)")
    parser.add_argument("--model", help="registered model name (see 'fakespeech models'); starts from the plain "
                        "defaults instead of the default recipe")
    parser.add_argument("--preset", help=f"a training preset: {', '.join(available_presets())}; with neither "
                        "--preset nor --model: the default recipe (preset 'default')")
    parser.add_argument("--config", help="JSON or YAML file with sections data/features/augment/model/train")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set train.epochs=5 --set features.kind=lfcc")
    parser.add_argument("--run-dir", help="where to write the run (default runs/<model>-<timestamp>); "
                        "give the same --run-dir and config again to resume a killed run")
    parser.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    parser.add_argument("--batch-size", type=int, help="per-device batch size (data.batch_size); the global "
                        "batch is this times the devices")
    parser.add_argument("--backend", help=f"Keras backend: {'|'.join(BACKENDS)} (train.backend; default: "
                        "KERAS_BACKEND). jax trains on TPU VMs (Kaggle, Colab), GPUs and CPUs")
    parser.add_argument("--strategy", help=f"{'|'.join(STRATEGIES)} (train.strategy): how the run spreads over "
                        "devices; cpu trains on the CPU even when an accelerator is announced")
    parser.add_argument("--tpu", help="TensorFlow TPU: local (a TPU VM), grpc://HOST:PORT or a TPU node name "
                        "(train.tpu)")
    parser.add_argument("--seed", type=int, help="seed for data order, augmentation and initialisation")
    parser.add_argument("--features-csv", metavar="FILE", help="train the dnn model on a DEEP-VOICE feature table "
                        "(DATASET-balanced.csv) instead of shards: a run whose model takes 22050 Hz audio in "
                        "one-second windows (features.kind=deep_voice); --set and --config apply, and "
                        "--set tabular.split_ratios=0.7,0.15,0.15 chooses the row split (seed: --seed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar: the runtime line, then one line "
                        "per epoch")
    return parser


def flags_from_args(args):
    """The explicit flags as a nested config dict (only those given)."""
    flags = {"data": {}, "model": {}, "train": {}, "augment": {}}
    if args.shards:
        flags["data"]["shards"] = args.shards
    if args.model:
        flags["model"]["name"] = args.model
    if args.epochs is not None:
        flags["train"]["epochs"] = args.epochs
    if args.batch_size is not None:
        flags["data"]["batch_size"] = args.batch_size
    if args.backend:
        flags["train"]["backend"] = args.backend
    if args.strategy:
        flags["train"]["strategy"] = args.strategy
    if args.tpu:
        flags["train"]["tpu"] = args.tpu
    if args.seed is not None:
        for section in ("data", "train", "augment"):
            flags[section]["seed"] = args.seed
    return {k: v for k, v in flags.items() if v}


def default_run_dir(model_name):
    return os.path.join("runs", f"{model_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def train_from_csv(args):
    """`--features-csv FILE`: a run of the dnn on a DEEP-VOICE feature table instead of shards."""
    if args.shards or args.preset:
        raise ConfigError("--features-csv trains on a feature table: --shards and --preset do not apply")
    flags = flags_from_args(args)
    if args.seed is not None:
        flags["tabular"] = {"split_seed": args.seed}
    run_dir = args.run_dir or default_run_dir("dnn-features")
    summary = train_features_csv(args.features_csv, run_dir, args.config, flags, args.overrides,
                                 verbose=0 if args.quiet else 1)
    best, test = summary["best"], summary["table_test"]
    texts = [f"best dev-row EER {100 * best['value']:.2f}% at epoch {best['epoch'] + 1}" if best
             else "no selection: no dev rows, or no epoch run"]
    if test is not None:
        texts.append(f"test-row EER {100 * test['eer']:.2f}%")
    print(f"run directory: {run_dir}\nmodel: {summary['model']} ({'; '.join(texts)})")
    return 0


def needs_other_backend(requested):
    """True when `requested` names a backend this process's Keras does not run (and this is no such child)."""
    if requested in (None, "auto") or requested == active_backend() or os.environ.get(_BACKEND_CHILD):
        return False
    if requested not in BACKENDS:
        raise ConfigError(f"--backend {requested!r}: choose from {', '.join(BACKENDS)}")
    return True


def run_under_backend(backend, argv):
    """Runs `fakespeech train argv` in a child Python whose Keras starts on `backend`; returns its exit code."""
    env = {**os.environ, "KERAS_BACKEND": backend, _BACKEND_CHILD: "1"}
    child = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "train", *argv], env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C: it leaves a resumable run and exits by itself
        child.wait()
        return EXIT_INTERRUPTED


@command("fakespeech train")
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.features_csv:
        return run_under_backend(args.backend, argv) if needs_other_backend(args.backend) else train_from_csv(args)
    run_config = resolve_run_config(args.preset, args.config, flags_from_args(args), args.overrides,
                                    default_preset=DEFAULT_PRESET)  # no --preset, no --model: the default recipe
    if not run_config.data.shards:
        raise ConfigError("--shards DIR is required (or data.shards in --config)")
    run_dir = args.run_dir or default_run_dir(run_config.model.name)
    if needs_other_backend(run_config.train.backend):
        # The run directory is fixed here so that the child's timestamped default cannot differ from it.
        return run_under_backend(run_config.train.backend, argv if args.run_dir else [*argv, "--run-dir", run_dir])
    summary = train(run_config, run_dir, verbose=2 if args.quiet else 1)  # Keras' 2: a line per epoch
    best = summary["best"]
    best_text = (f"best dev EER {100 * best['value']:.2f}% at epoch {best['epoch'] + 1}" if best
                 else "no selection: no dev split, or no epoch run")
    print(f"run directory: {run_dir}\nmodel: {summary['model']} ({best_text})")
    return 0
