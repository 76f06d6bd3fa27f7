"""`fakespeech evaluate`: score a split with a trained run and write the ASVspoof report."""

import argparse
import sys


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
    from pipelines.report import summary_text

    print(summary_text(report))
    print(f"report: {out_dir}/report.md")


def main(argv=None):
    args = build_parser().parse_args(argv)
    import os

    from pipelines.evaluation import evaluate_run

    out_dir = args.out or os.path.join(args.run, f"eval-{args.split}")
    try:
        report = evaluate_run(args.run, args.shards, args.split, args.asv_scores, args.windows, out_dir)
    except (ValueError, FileNotFoundError) as err:
        print(f"fakespeech evaluate: error: {err}", file=sys.stderr)
        return 2
    print_summary(report, out_dir)
    return 0
