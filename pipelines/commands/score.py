"""`fakespeech score`: the ASVspoof report (metrics, per-attack table, plots) for a score file from any system."""

import argparse
import os
import sys

from pipelines import metrics
from pipelines.report import fit_on_dev, summary_text, write_report
from pipelines.score_files import attach_protocol, read_asv_scores, read_cm_protocol, read_score_file


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech score",
        description="Compute EER, min t-DCF, per-attack EERs and plots for an ASVspoof score file "
        "(higher score = more bona fide).",
    )
    parser.add_argument("--scores", required=True, help="score file: 'UTT ATTACK KEY SCORE' or 'UTT SCORE' lines")
    parser.add_argument("--protocol", help="CM protocol giving attacks and keys (needed for a 'UTT SCORE' file)")
    parser.add_argument("--asv-scores", help="organisers' ASV scores 'CM_KEY ASV_KEY SCORE' (enables min t-DCF)")
    parser.add_argument(
        "--dev-scores",
        help="dev score file: its EER threshold gives accuracy/precision/recall/F1, and a calibration fitted on it "
        "gives Cllr and actDCF",
    )
    parser.add_argument("--dev-protocol", help="CM protocol for a 'UTT SCORE' dev score file")
    parser.add_argument("--out", required=True, help="directory for report.json, report.md and the plots")
    parser.add_argument("--title", default=None, help="report heading (default: the score file name)")
    return parser


def load_scores(scores_path, protocol_path=None, flag="--protocol"):
    """A score file as a table with attacks and keys; keys from the protocol when the file lacks them."""
    scores = read_score_file(scores_path)
    if protocol_path:
        return attach_protocol(scores, read_cm_protocol(protocol_path), scores_path, protocol_path)
    if scores["key"].isna().any():
        raise ValueError(f"{scores_path}: has only 'UTT SCORE' columns; pass {flag} for its attacks and keys")
    return scores


def _dev_calibration(dev_path, dev_protocol):
    dev = load_scores(dev_path, dev_protocol, flag="--dev-protocol")
    try:
        return fit_on_dev(dev)
    except ValueError as error:
        raise ValueError(f"{dev_path}: {error}") from error


def _asv_scores(path):
    if not path:
        return None
    asv_scores = read_asv_scores(path)
    try:
        metrics.asv_error_rates(asv_scores["target"], asv_scores["nontarget"], asv_scores["spoof"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return asv_scores


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        scores = load_scores(args.scores, args.protocol)
        asv_scores = _asv_scores(args.asv_scores)
        dev_threshold = calibrator = None
        if args.dev_scores:
            dev_threshold, calibrator = _dev_calibration(args.dev_scores, args.dev_protocol)
        os.makedirs(args.out, exist_ok=True)
        if calibrator is not None:
            calibrator.save(os.path.join(args.out, "calibration.json"))
        title = args.title or f"ASVspoof report: {os.path.basename(args.scores)}"
        try:
            report = write_report(
                args.out, scores, dev_threshold=dev_threshold, calibrator=calibrator, asv_scores=asv_scores, title=title
            )
        except ValueError as error:
            raise ValueError(f"{args.scores}: {error}") from error
    except (OSError, ValueError) as error:
        print(f"fakespeech score: error: {error}", file=sys.stderr)
        return 1
    print(summary_text(report))
    print(f"report written to {args.out}")
    return 0
