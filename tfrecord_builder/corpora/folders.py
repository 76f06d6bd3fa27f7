"""Any corpus as one folder per class, or as a CSV of `path,label[,group]`.

Tree: class folders (`real|bonafide|bona-fide` and `fake|spoof`, any case) under `ROOT`, searched recursively for
audio; or split folders (`train|dev|eval`, or FoR's `training|validation|testing`) each holding class folders, whose
split is then kept. A fake's attack id is its first sub-folder under the class folder (`fake/melgan/x.wav` ->
`melgan`), else the class folder's name. A tree names no speakers, so each file is its own group.

CSV: `path,label[,group]` rows, paths relative to the CSV's folder, with or without a header row (a header may also
name a `system` column for the attack id). Without one the attack id is the file's parent folder. Rows with a group
are split group-disjointly; rows without one are their own group.
"""

import csv
import pathlib

from tfrecord_builder.corpora.common import (
    CorpusEntry,
    Listing,
    audio_files,
    group_disjoint_splits,
    label_key,
    numbered,
    problem,
    token,
    without_duplicates,
)

NAME = "folders"
SPLIT_NAMES = {"train": ("train", "training"), "dev": ("dev", "validation", "valid", "val"),
               "eval": ("eval", "test", "testing")}
HEADER_NAMES = {"path": ("path", "file", "filename"), "label": ("label", "key", "class"),
                "group": ("group", "speaker", "speaker_id"), "system": ("system", "system_id", "attack")}


def _class_folders(folder):
    """`[(key, folder)]` of the class folders directly under `folder`."""
    found = []
    for entry in sorted(p for p in folder.iterdir() if p.is_dir()):
        key = label_key(entry.name)
        if key is not None:
            found.append((key, entry))
    return found


def _split_folders(root):
    """split -> folder, for split folders of `root` that hold class folders."""
    found = {}
    for entry in sorted(p for p in root.iterdir() if p.is_dir()):
        for split, names in SPLIT_NAMES.items():
            if entry.name.lower() in names and _class_folders(entry):
                found.setdefault(split, entry)
    return found


def find_root(path, track=None):
    """`(root, None)`: a CSV file, or a folder with both class folders (directly or under split folders)."""
    path = pathlib.Path(path).expanduser().resolve()
    if path.is_file() and path.suffix.lower() == ".csv":
        return path, None
    if path.is_dir():
        keys = {key for key, _ in _class_folders(path)}
        keys |= {key for folder in _split_folders(path).values() for key, _ in _class_folders(folder)}
        if keys == {"bonafide", "spoof"}:
            return path, None
    raise FileNotFoundError(f"no class folders or CSV at {path} (looked for {'; '.join(looked_for(path))})")


def looked_for(path):
    return [f"{path}/{{real,bonafide,bona-fide}}/ and {path}/{{fake,spoof}}/ (optionally under train|dev|eval/)",
            f"{path} being a CSV of path,label[,group]"]


def _tree_entries(class_folder, key, root):
    entries = []
    for path in audio_files(class_folder, recursive=True):
        parts = path.relative_to(class_folder).parts
        system = "-" if key == "bonafide" else token(parts[0] if len(parts) > 1 else class_folder.name)
        utt_id = token(path.relative_to(root).with_suffix("").as_posix())
        entries.append(CorpusEntry("-", utt_id, "-", system, key, 0, path, utt_id, None))
    return entries


def _read_tree(root, config):
    split_folders = _split_folders(root)
    if split_folders:
        splits = {split: numbered([e for key, folder in _class_folders(split_folders[split])
                                   for e in _tree_entries(folder, key, root)]) if split in split_folders else []
                  for split in config.splits}
        info = {"split_method": "official", "split_folders": {s: f.name for s, f in split_folders.items()}}
        return splits, [], info
    entries = numbered([e for key, folder in _class_folders(root) for e in _tree_entries(folder, key, root)])
    splits, info = group_disjoint_splits(entries, config.split_ratios, config.seed, "file")
    return splits, [], info


def _columns(first_row, csv_path):
    """Column name -> index, from a header row, or the positional `path,label[,group]` when there is none."""
    lowered = [cell.strip().lower() for cell in first_row]
    if not any(name in lowered for name in HEADER_NAMES["label"]):
        return {name: i for i, name in enumerate(("path", "label", "group")[: len(first_row)])}, False
    columns = {}
    for name, aliases in HEADER_NAMES.items():
        index = next((lowered.index(a) for a in aliases if a in lowered), None)
        if index is not None:
            columns[name] = index
    if "path" not in columns:
        raise ValueError(f"{csv_path}:1: the header names no path column (one of {HEADER_NAMES['path']})")
    return columns, True


def read_csv(csv_path):
    """`(entries, problems)` of a `path,label[,group]` CSV; bad rows are problems naming their line."""
    entries, problems = [], []
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{csv_path}: empty CSV; expected rows of path,label[,group]")
    columns, has_header = _columns(rows[0], csv_path)
    needed = max(columns["path"], columns["label"]) + 1
    for line_no, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < needed:
            problems.append(problem(csv_path, line_no, f"expected path,label[,group], got {row}"))
            continue
        path = csv_path.parent / row[columns["path"]].strip()
        key = label_key(row[columns["label"]])
        if key is None:
            problems.append(problem(csv_path, line_no, f"unknown label {row[columns['label']].strip()!r}; expected "
                                    "real, bonafide or bona-fide for bona fide and fake or spoof for spoof"))
            continue
        entries.append(_csv_entry(row, columns, path, key, line_no, csv_path))
    return without_duplicates(entries, problems)


def _csv_entry(row, columns, path, key, line_no, csv_path):
    def cell(name):
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) and row[index].strip() else None

    utt_id = token(path.relative_to(csv_path.parent).with_suffix("").as_posix()
                   if path.is_relative_to(csv_path.parent) else path.with_suffix("").as_posix())
    group = token(cell("group")) if cell("group") else utt_id
    system = "-" if key == "bonafide" else token(cell("system") or path.parent.name or "spoof")
    return CorpusEntry(group if cell("group") else "-", utt_id, "-", system, key, line_no, path, group, csv_path)


def read(root, config):
    if root.is_file():
        entries, problems = read_csv(root)
        splits, info = group_disjoint_splits(entries, config.split_ratios, config.seed, "group column (else file)")
    else:
        splits, problems, info = _read_tree(root, config)
    if info["split_method"] == "official" and config.split_ratios is not None:
        raise ValueError(f"split_ratios does not apply to {root}: its split folders are its splits")
    return Listing(track=NAME, splits={s: splits.get(s, []) for s in config.splits}, problems=problems, split_info=info)
