"""`fakespeech score`: the ASVspoof report (metrics, per-attack table, plots) for a score file from any system."""

import argparse
import os

from pipelines.commands.common import command
from pipelines.evaluate import metrics
from pipelines.evaluate.calibration import fit_on_dev, write_calibration
from pipelines.evaluate.report import summary_text, write_report
from pipelines.evaluate.score_files import load_scores, read_asv_scores
from pipelines.run_dir import CALIBRATION_FILE


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


def _dev_calibration(dev_path, dev_protocol):
    dev = load_scores(dev_path, dev_protocol, flag="--dev-protocol")
    try:
        return fit_on_dev(dev, dev_scores=os.path.abspath(dev_path))
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


@command("fakespeech score")
def main(argv=None):
    args = _parser().parse_args(argv)
    scores = load_scores(args.scores, args.protocol)
    asv_scores = _asv_scores(args.asv_scores)
    calibration = _dev_calibration(args.dev_scores, args.dev_protocol) if args.dev_scores else None
    os.makedirs(args.out, exist_ok=True)
    if calibration is not None:
        write_calibration(os.path.join(args.out, CALIBRATION_FILE), calibration)
    title = args.title or f"ASVspoof report: {os.path.basename(args.scores)}"
    threshold, calibrator = (calibration.threshold, calibration.calibrator) if calibration else (None, None)
    try:
        report = write_report(args.out, scores, dev_threshold=threshold, calibrator=calibrator,
                              asv_scores=asv_scores, title=title)
    except ValueError as error:
        raise ValueError(f"{args.scores}: {error}") from error
    print(summary_text(report))
    print(f"report written to {args.out}")
    return 0
