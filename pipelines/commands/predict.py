"""`fakespeech predict MODEL AUDIO...`: score audio files and folders with a trained run."""

import argparse
import csv
import io
import json
import sys
import warnings

FILE_COLUMNS = [
    "path", "duration", "source_rate", "channels", "windows", "pool", "score", "p_spoof", "decision", "threshold",
    "threshold_source", "warning", "error",
]
WINDOW_COLUMNS = ["window", "start", "end", "window_score"]
THRESHOLD_NAMES = {"dev_eer": "dev EER threshold", "logit_zero": "logit 0, uncalibrated"}


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech predict",
        description=(
            "Score audio files (any format libsndfile reads, any rate and channel count) with a trained run. "
            "Scores are -logit: higher = more bona fide. A file is 'bonafide' when its pooled score is at least "
            "the run's dev EER threshold (from calibration.json), or 0 (logit 0) for an uncalibrated run."
        ),
    )
    parser.add_argument("model", help="a run directory, or a .keras file with the run's config.json beside it")
    parser.add_argument("audio", nargs="+", help="audio files and folders (searched recursively)")
    parser.add_argument("--window", type=float, help="window length in seconds (default: the model's clip length)")
    parser.add_argument("--hop", type=float, help="hop between windows in seconds (default: the window)")
    parser.add_argument(
        "--pool", default="mean",
        help="how window scores become a file's score: mean, max, min or pNN (percentile). All on the "
        "bona-fide-high scale: 'min' takes the most spoof-like window (default: mean)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="windows per model call (default: 32)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    parser.add_argument("--output", help="write the output to this file (atomically) instead of stdout")
    parser.add_argument("--timeline", action="store_true", help="include per-window scores")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _fmt(value):
    # CSV keeps full float precision (str of a float round-trips); the table rounds for reading.
    return "" if value is None else str(value)


def _file_row(result):
    return {column: _fmt(result.get(column)) for column in FILE_COLUMNS}


def to_csv(results, timeline=False):
    """One row per file, or with `timeline` one row per window (file columns repeated)."""
    out = io.StringIO()
    columns = FILE_COLUMNS + (WINDOW_COLUMNS if timeline else [])
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for result in results:
        row = _file_row(result)
        rows = result.get("timeline") if timeline else None
        if not rows:
            writer.writerow(row)
            continue
        for index, entry in enumerate(rows):
            writer.writerow({**row, "window": index, "start": _fmt(entry["start"]), "end": _fmt(entry["end"]),
                             "window_score": _fmt(entry["score"])})
    return out.getvalue()


def to_json(results, header, timeline=False):
    kept = [result if timeline else {k: v for k, v in result.items() if k != "timeline"} for result in results]
    return json.dumps({**header, "results": kept}, indent=2) + "\n"


def to_table(results, header, timeline=False):
    lines = [
        f"model {header['model']}  pool {header['pool']}  threshold {header['threshold']:.4f} "
        f"({THRESHOLD_NAMES[header['threshold_source']]})"
    ]
    if "note" in header:
        lines.append(f"note: {header['note']}")
    width = max([len("file")] + [len(r["path"]) for r in results])
    lines.append(f"{'file':<{width}}  {'windows':>7}  {'score':>9}  {'p_spoof':>7}  decision")
    for result in results:
        if "error" in result:
            lines.append(f"{result['path']:<{width}}  error: {result['error']}")
            continue
        p_spoof = f"{result['p_spoof']:.4f}" if "p_spoof" in result else "-"
        lines.append(
            f"{result['path']:<{width}}  {result['windows']:>7}  {result['score']:>9.4f}  {p_spoof:>7}  "
            f"{result['decision']}"
        )
        for index, entry in enumerate(result["timeline"] if timeline else ()):  # window number under 'windows'
            span = f"  {entry['start']:.3f}-{entry['end']:.3f} s"
            lines.append(f"{span:<{width}}  {index:>7}  {entry['score']:>9.4f}")
    return "\n".join(lines) + "\n"


def render(results, header, output_format="table", timeline=False):
    if output_format == "csv":
        return to_csv(results, timeline)
    if output_format == "json":
        return to_json(results, header, timeline)
    return to_table(results, header, timeline)


def main(argv=None):
    args = _parser().parse_args(argv)
    from pipelines.prediction import NO_CALIBRATION_NOTE, ShortAudioWarning, check_pool, load_predictor, predict_files
    from pipelines.score_files import atomic_write_text

    try:
        check_pool(args.pool)
        predictor = load_predictor(args.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShortAudioWarning)  # reported below from each result, one line each
            results = predict_files(predictor, args.audio, window=args.window, hop=args.hop, pool=args.pool,
                                    batch_size=args.batch_size, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        print(f"fakespeech predict: error: {error}", file=sys.stderr)
        return 2
    threshold, threshold_source = predictor.decision_threshold
    header = {
        "model": args.model, "sample_rate": predictor.sample_rate, "clip_samples": predictor.clip_samples,
        "window": args.window, "hop": args.hop, "pool": args.pool, "threshold": threshold,
        "threshold_source": threshold_source, "calibrated": predictor.calibrator is not None,
    }
    if predictor.calibrator is None:
        header["note"] = NO_CALIBRATION_NOTE
        print(f"fakespeech predict: note: {NO_CALIBRATION_NOTE}", file=sys.stderr)
    for result in results:
        if "error" in result:
            print(f"fakespeech predict: error: {result['path']}: {result['error']}", file=sys.stderr)
        if "warning" in result:
            print(f"fakespeech predict: warning: {result['warning']}", file=sys.stderr)
    text = render(results, header, args.format, args.timeline)
    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0 if any("error" not in result for result in results) else 1
