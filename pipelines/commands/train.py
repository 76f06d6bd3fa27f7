"""`fakespeech train`: train a registered model on shards, in a run directory that can be resumed."""

import argparse
import datetime
import os
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech train",
        description="Train a model on TFRecord shards. Settings come from the config dataclasses "
        "(pipelines/config.py): a --preset, a --config file (JSON or YAML), these flags, then --set overrides.",
    )
    parser.add_argument("--shards", help="shards directory written by 'fakespeech build' (local or gs://)")
    parser.add_argument("--model", help="registered model name (see 'fakespeech models')")
    parser.add_argument("--preset", help="a training preset, e.g. aasist, aasist_l, rawnet2, demo")
    parser.add_argument("--config", help="JSON or YAML file with sections data/features/augment/model/train")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set train.epochs=5 --set features.kind=lfcc")
    parser.add_argument("--run-dir", help="where to write the run (default runs/<model>-<timestamp>); "
                        "give the same --run-dir and config again to resume a killed run")
    parser.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    parser.add_argument("--batch-size", type=int, help="per-replica batch size (data.batch_size)")
    parser.add_argument("--strategy", help="auto|tpu|multiworker|mirrored|gpu|cpu (train.strategy)")
    parser.add_argument("--tpu", help="TPU address or name (train.tpu)")
    parser.add_argument("--seed", type=int, help="seed for data order, augmentation and initialisation")
    parser.add_argument("--features-csv", metavar="FILE", help="train the dnn model on a DEEP-VOICE feature table "
                        "(DATASET-balanced.csv) instead of shards; uses --run-dir, --epochs, --seed, --batch-size")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
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
    if args.strategy:
        flags["train"]["strategy"] = args.strategy
    if args.tpu:
        flags["train"]["tpu"] = args.tpu
    if args.seed is not None:
        for section in ("data", "train", "augment"):
            flags[section]["seed"] = args.seed
    return {k: v for k, v in flags.items() if v}


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.features_csv:
        from pipelines.features_csv import features_csv_main

        return features_csv_main(args)
    from pipelines.run_config import resolve_run_config
    from pipelines.training import train

    try:
        run_config = resolve_run_config(args.preset, args.config, flags_from_args(args), args.overrides)
    except (ValueError, FileNotFoundError) as err:
        print(f"fakespeech train: error: {err}", file=sys.stderr)
        return 2
    if not run_config.data.shards:
        print("fakespeech train: error: --shards DIR is required (or data.shards in --config)", file=sys.stderr)
        return 2
    run_dir = args.run_dir or os.path.join(
        "runs", f"{run_config.model.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    )
    try:
        summary = train(run_config, run_dir, verbose=0 if args.quiet else 1)
    except (ValueError, FileNotFoundError) as err:
        print(f"fakespeech train: error: {err}", file=sys.stderr)
        return 2
    best = summary["best"]
    best_text = (f"best dev EER {100 * best['value']:.2f}% at epoch {best['epoch'] + 1}" if best
                 else "no selection: no dev split, or no epoch run")
    print(f"run directory: {run_dir}\nmodel: {summary['model']} ({best_text})")
    return 0
