"""`fakespeech export RUN --format savedmodel|tflite`: a run as a deployable graph taking a float32 waveform."""

import argparse

from pipelines.commands.common import command
from pipelines.serve.export import export_run


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech export",
        description=(
            "Export a trained run with its feature front end inside the graph. Input 'waveform': float32 "
            "(batch, clip_samples) at the run's sample rate; outputs 'logit' (of spoof) and 'score' (-logit, "
            "higher = more bona fide). export.json inside the SavedModel folder (FILE.json beside a TFLite file) holds "
            "the rate, clip length, threshold and calibration. TFLite falls back to SELECT_TF_OPS (Flex delegate) when builtin ops do not cover the graph."
        ),
    )
    parser.add_argument("run", help="a run directory, or a .keras file with the run's config.json beside it")
    parser.add_argument("--format", choices=("savedmodel", "tflite"), default="savedmodel", help="export format")
    parser.add_argument(
        "--out", help="SavedModel folder or .tflite file (default: RUN/export/savedmodel or RUN/export/model.tflite); "
        "must be new, an empty folder, or an earlier export of the same format (with --overwrite)"
    )
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier export of the same format at --out (nothing else is ever replaced)")
    return parser


@command("fakespeech export")
def main(argv=None):
    args = _parser().parse_args(argv)
    info = export_run(args.run, args.format, args.out, overwrite=args.overwrite)
    print(f"wrote {args.format} to {info['path']} (input 'waveform' float32 (batch, {info['clip_samples']}) at "
          f"{info['sample_rate']} Hz; outputs 'logit', 'score')")
    if info.get("select_tf_ops"):
        print("note: the TFLite model uses SELECT_TF_OPS: run it with an interpreter linked with the Flex delegate")
    print(f"wrote {info['info_path']}")
    return 0
