"""`fakespeech evaluate`: score a split with a trained run and write the ASVspoof report."""

import argparse

from pipelines.commands.common import command
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.evaluate.report import summary_text
from pipelines.run_dir import RunDir


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech evaluate",
        description="Score a split with a trained run: ASVspoof score file, pooled EER, min t-DCF (with "
        "--asv-scores), per-attack table, calibration fitted on dev, plots, report.json and report.md.",
    )
    parser.add_argument("--run", required=True, help="run directory written by 'fakespeech train'")
    parser.add_argument("--shards", help="shards directory (default: the one the run trained on); "
                        "another corpus's shards give a cross-corpus evaluation")
    parser.add_argument("--split", default="eval", help="split to score (default eval)")
    parser.add_argument("--asv-scores", help="official ASV score file (CM_KEY ASV_KEY SCORE) for min t-DCF")
    parser.add_argument("--windows", choices=("first", "all"),
                        help="first window only, or average the scores of every window per utterance")
    parser.add_argument("--out", help="output directory (default <run>/eval-<split>)")
    return parser


def print_summary(report, out_dir):
    print(summary_text(report))
    print(f"report: {out_dir}/report.md")


@command("fakespeech evaluate")
def main(argv=None):
    args = build_parser().parse_args(argv)
    out_dir = args.out or RunDir(args.run).eval_dir(args.split)
    report = evaluate_run(args.run, args.shards, args.split, args.asv_scores, args.windows, out_dir)
    print_summary(report, out_dir)
    return 0
