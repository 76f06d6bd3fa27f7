"""How prediction results are written: a table for reading, CSV, JSON (also the web API's answer), score files.

A result is a dict of `predict_files` (or `Detector.predict`); the header is `Detector.header(...)`. Streams write
one line per window as it is scored (`stream_line`).
"""

import csv
import io
import json
import os

from pipelines.serve.prediction import THRESHOLD_NAMES

FILE_COLUMNS = [
    "path", "duration", "source_rate", "channels", "windows", "pool", "score", "p_spoof", "decision", "threshold",
    "threshold_source", "warning", "error",
]
WINDOW_COLUMNS = ["window", "start", "end", "window_score"]
STREAM_COLUMNS = ["window", "start", "end", "score", "p_spoof", "decision"]
FORMATS = ("table", "csv", "json", "scores")


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


def json_document(results, header, timeline=False):
    """The JSON object of `predict --format json` (and of `POST /api/score`): the header and the results."""
    kept = [result if timeline else {k: v for k, v in result.items() if k != "timeline"} for result in results]
    return {**header, "results": kept}


def to_json(results, header, timeline=False):
    return json.dumps(json_document(results, header, timeline), indent=2) + "\n"


def to_scores(results):
    """`UTT SCORE` lines (UTT = the file name without its extension), what `fakespeech calibrate --protocol` reads."""
    lines = [f"{os.path.splitext(os.path.basename(r['path']))[0]} {r['score']!r}" for r in results if "error" not in r]
    return "".join(line + "\n" for line in lines)


def threshold_line(header):
    return (f"model {header['model']}  pool {header['pool']}  threshold {header['threshold']:.4f} "
            f"({THRESHOLD_NAMES[header['threshold_source']]})")


def to_table(results, header, timeline=False):
    lines = [threshold_line(header)]
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
    if output_format == "scores":
        return to_scores(results)
    return to_table(results, header, timeline)


def stream_header(header, output_format):
    """What a stream prints before its first window: the table's heading, the CSV header, or the JSON header line."""
    if output_format == "json":
        return json.dumps(header) + "\n"
    if output_format == "csv":
        return ",".join(STREAM_COLUMNS) + "\n"
    note = f"note: {header['note']}\n" if "note" in header else ""
    return f"{threshold_line(header)}\n{note}{'window':>6}  {'start-end (s)':>17}  {'score':>9}  {'p_spoof':>7}  decision\n"


def stream_line(item, output_format):
    """One window of a stream (or, for `{"summary": ...}`, the pooled verdict of the whole stream) as a line."""
    if output_format == "json":
        return json.dumps(item) + "\n"
    summary = item.get("summary")
    if output_format == "csv":
        row = {**summary, "window": "pooled", "start": 0.0, "end": summary["duration"]} if summary else item
        return ",".join(_fmt(row.get(column)) for column in STREAM_COLUMNS) + "\n"
    if summary:
        p_spoof = f"  p_spoof {summary['p_spoof']:.4f}" if "p_spoof" in summary else ""
        return (f"stream: {summary['windows']} windows, {summary['duration']:.2f} s, {summary['pool']} score "
                f"{summary['score']:.4f}{p_spoof}  {summary['decision']}\n")
    p_spoof = f"{item['p_spoof']:.4f}" if "p_spoof" in item else "-"
    span = f"{item['start']:.3f}-{item['end']:.3f}"
    return f"{item['window']:>6}  {span:>17}  {item['score']:>9.4f}  {p_spoof:>7}  {item['decision']}\n"
