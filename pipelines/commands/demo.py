"""`fakespeech demo`: the whole flow on a generated corpus (or real ASVspoof2019 with --data) in minutes on a CPU."""

import argparse
import os
import time

from pipelines.commands.common import command
from pipelines.commands.evaluate import print_summary
from pipelines.config import resolve_run_config
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.run_dir import RunDir
from pipelines.train.training import train
from pipelines.commands.build import main as build_main
from tfrecord_builder.corpus_root import asv_scores_path, find_corpus_root, track_dir
from tfrecord_builder.synthetic import generate_asvspoof2019

# Sized so that the whole demo (corpus, shards, training, evaluation) stays under 10 minutes on 2 CPU cores,
# with enough of every attack for a per-attack table that means something.
DEMO_COUNTS = {"train": (120, 360), "dev": (60, 180), "eval": (60, 390)}


def demo_run_config(shards_dir, epochs, seed):
    """The `demo` preset (a small log-mel LCNN that trains on a CPU in minutes) on `shards_dir`."""
    flags = {"data": {"shards": shards_dir, "seed": seed}, "augment": {"seed": seed},
             "train": {"epochs": epochs, "seed": seed}}
    return resolve_run_config(preset="demo", flags=flags)


def eval_asv_scores(data_root, track):
    """The corpus's ASV score file for eval (shipped with ASVspoof2019; simulated in generated corpora), or None."""
    path = asv_scores_path(track_dir(find_corpus_root(data_root, track), track), track, "eval")
    if not path.is_file():
        print(f"no ASV scores at {path}: min t-DCF is not computed")
        return None
    return str(path)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech demo",
        description="Generate a corpus in the ASVspoof2019 layout (unless --data is given), build shards, train "
        "a small model on the CPU, evaluate on the eval split with its unseen attacks, print the report.",
    )
    parser.add_argument("--data", help="an ASVspoof2019 root (official or Kaggle layout) instead of the generated corpus")
    parser.add_argument("--track", default="LA", choices=("LA", "PA"))
    parser.add_argument("--out", default="fakespeech_demo", help="working directory (default ./fakespeech_demo)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes for the shard build")
    return parser


def _step(message):
    print(f"\n== {message}", flush=True)


@command("fakespeech demo")
def main(argv=None):
    args = build_parser().parse_args(argv)
    started = time.time()
    data_root = args.data
    if not data_root:
        data_root = os.path.join(args.out, "corpus")
        _step(f"generating a corpus in the ASVspoof2019 {args.track} layout: {data_root}")
        generate_asvspoof2019(data_root, track=args.track, counts=DEMO_COUNTS, min_seconds=1.5,
                              max_seconds=3.0, seed=args.seed)
    shards_dir = os.path.join(args.out, "shards")
    _step(f"building shards: {shards_dir}")
    status = build_main(["--data", data_root, "--out", shards_dir, "--track", args.track,
                         "--workers", str(args.workers), "--seed", str(args.seed)])
    if status:
        return status
    run = RunDir(os.path.join(args.out, "run"))
    _step(f"training: {run.path}")
    train(demo_run_config(shards_dir, args.epochs, args.seed), run.path)
    _step("evaluating on the eval split (attacks unseen in training)")
    report_dir = run.eval_dir("eval")
    asv_scores = eval_asv_scores(data_root, args.track)
    report = evaluate_run(run.path, shards_dir, "eval", asv_scores_path=asv_scores, out_dir=report_dir)
    print_summary(report, report_dir)
    print(f"model: {run.model_path}\nplots: {report_dir}/*.png\ndone in {time.time() - started:.0f} s")
    return 0
