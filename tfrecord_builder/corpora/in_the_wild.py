"""In-the-Wild: `release_in_the_wild/*.wav` listed by `meta.csv` with the columns `file,speaker,label`.

Labels read `bona-fide` or `spoof`. The corpus names no generating systems; the speaker who was faked plays the
attack's part (the per-attack table becomes a per-speaker one) and is the group of the speaker-disjoint split.
"""

import csv
import pathlib

from tfrecord_builder.corpora.common import (
    CorpusEntry,
    Listing,
    child,
    group_disjoint_splits,
    label_key,
    problem,
    token,
    without_duplicates,
)

NAME = "in-the-wild"
FOLDER = "release_in_the_wild"
META = "meta.csv"
COLUMNS = ("file", "speaker", "label")


def _has_meta(folder):
    meta = child(folder, META)
    if meta is None or not meta.is_file():
        return False
    with open(meta, encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    return set(COLUMNS) <= {name.strip().lower() for name in header}


def find_root(path, track=None):
    """`(folder, None)`: the folder holding `meta.csv` and the audio (`release_in_the_wild/` or `path`)."""
    path = pathlib.Path(path).expanduser().resolve()
    for folder in (child(path, FOLDER), path):
        if folder is not None and folder.is_dir() and _has_meta(folder):
            return folder, None
    raise FileNotFoundError(f"no In-the-Wild layout under {path} (looked for {'; '.join(looked_for(path))})")


def looked_for(path):
    return [f"{path}/{FOLDER}/{META} (or {path}/{META}) with columns {','.join(COLUMNS)}"]


def read_meta(meta, folder):
    """`(entries, problems)` of `meta.csv`; a row with an unknown label or too few fields is a problem on its line."""
    entries, problems = [], []
    with open(meta, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = [name.strip().lower() for name in next(rows)]
        column = {name: header.index(name) for name in COLUMNS}
        for line_no, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                problems.append(problem(meta, line_no, f"expected {len(header)} fields, got {len(row)}: {row}"))
                continue
            name, speaker, label = (row[column[c]].strip() for c in COLUMNS)
            key = label_key(label)
            if key is None:
                problems.append(problem(meta, line_no, f"label must be bona-fide or spoof, got {label!r}"))
                continue
            speaker = token(speaker)
            entries.append(CorpusEntry(speaker, token(pathlib.Path(name).stem), "-",
                                       "-" if key == "bonafide" else speaker, key, line_no, folder / name, speaker,
                                       meta))
    return without_duplicates(entries, problems)


def read(root, config):
    entries, problems = read_meta(child(root, META), root)
    splits, info = group_disjoint_splits(entries, config.split_ratios, config.seed, "speaker")
    return Listing(track=NAME, splits={s: splits[s] for s in config.splits}, problems=problems, split_info=info)
