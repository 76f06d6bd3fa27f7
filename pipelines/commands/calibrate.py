"""`fakespeech calibrate --scores DEV_SCORES [--protocol FILE] --out calibration.json`: fit a calibration on labelled
dev scores, for `fakespeech predict --calibration calibration.json`.

The dev scores are a score file of the model to calibrate on audio like the audio it will judge, with labels:
`UTT ATTACK KEY SCORE` lines, or `UTT SCORE` lines (`fakespeech predict --format scores DEV_AUDIO/`) with a CM
protocol giving each utterance's key. The file written is the one calibration.json format
(`pipelines.evaluate.calibration.CalibrationState`): the dev EER threshold on the score scale and the linear
score-to-LLR map (prior: the dev set's spoof fraction) that gives P(spoof).
"""

import argparse
import os

from pipelines.commands.common import command
from pipelines.evaluate import metrics
from pipelines.evaluate.calibration import fit_on_dev, write_calibration
from pipelines.evaluate.score_files import load_scores, split_by_key
from tfrecord_builder.dataclass_config import ConfigError


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech calibrate",
        description="Fit the decision threshold (dev EER) and P(spoof) calibration on labelled dev scores "
        "(higher score = more bona fide), for 'fakespeech predict --calibration FILE'.",
    )
    parser.add_argument("--scores", required=True,
                        help="dev score file: 'UTT ATTACK KEY SCORE' lines, or 'UTT SCORE' lines with --protocol")
    parser.add_argument("--protocol", help="CM protocol giving the keys of a 'UTT SCORE' file (ASVspoof format)")
    parser.add_argument("--out", required=True, help="the calibration file to write, e.g. calibration.json")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    return parser


def _check_out(path, force):
    if os.path.isdir(path):
        raise ConfigError(f"--out {path}: is a folder; give a file name, e.g. {os.path.join(path, 'calibration.json')}")
    if os.path.exists(path) and not force:
        raise ConfigError(f"--out {path}: exists; pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"--out {path}: the folder {folder} does not exist")


@command("fakespeech calibrate")
def main(argv=None):
    args = _parser().parse_args(argv)
    _check_out(args.out, args.force)
    for flag, path in (("--scores", args.scores), ("--protocol", args.protocol)):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{flag} {path}: no such file")
    scores = load_scores(args.scores, args.protocol)
    try:
        state = fit_on_dev(scores, dev_scores=os.path.abspath(args.scores))
    except ValueError as error:
        raise ValueError(f"{args.scores}: {error}") from None
    bona, spoof = split_by_key(scores)
    eer, _ = metrics.compute_eer(bona, spoof)
    write_calibration(args.out, state)
    calibrator = state.calibrator
    print(f"dev: {len(bona)} bona fide, {len(spoof)} spoof; EER {100 * eer:.2f} %")
    print(f"threshold {state.threshold:.6g} (score scale, at the dev EER); llr = {calibrator.slope:.6g} * score + "
          f"{calibrator.offset:.6g}, prior P(spoof) {calibrator.prior_spoof:.4g}")
    print(f"wrote {args.out}; use it with: fakespeech predict --calibration {args.out} AUDIO...")
    return 0
