"""What a corpus or a shard folder holds: counts per split, label and attack (`fakespeech inspect`).

A shard folder is read from its manifest; an ASVspoof2019 root or a bare folder of CM protocol files from the
protocols; any other corpus layout through its reader, split as `fakespeech build` would split it by default.
"""

import pathlib

from tfrecord_builder.config import SPLITS, BuildConfig
from tfrecord_builder.corpora import asvspoof2019, detect
from tfrecord_builder.corpus_root import track_dir
from tfrecord_builder.manifest import MANIFEST_FILE, corpus_info, load_manifest
from tfrecord_builder.protocols import count_entries, parse_protocol, protocol_file


def inventory(path, track=None):
    """(title, {split: counts}) of a shard folder (its manifest), a protocol folder, or any corpus layout."""
    path = pathlib.Path(path)
    if path.name == MANIFEST_FILE or (path / MANIFEST_FILE).is_file():
        manifest = load_manifest(path)
        summary = {split: {k: info[k] for k in ("num_examples", "counts", "attacks", "num_shards")}
                   for split, info in manifest["splits"].items()}
        corpus = corpus_info(manifest)
        return f"shards of {corpus['track']} at {path} (from {MANIFEST_FILE})", summary
    bare = sorted(path.glob(f"ASVspoof2019.{track or '*'}.cm.*.txt")) if path.is_dir() else []
    if bare:  # a folder of protocol files alone, e.g. the official protocol download
        track = bare[0].name.split(".")[1]
        protocols = {split: path / protocol_file(".", track, split).name for split in SPLITS}
        title = f"{track} protocols at {path}"
    else:
        try:
            root, track = asvspoof2019.find_root(path, track)
        except FileNotFoundError:
            return _inspect_other_corpus(path)
        protocols = {split: protocol_file(track_dir(root, track), track, split) for split in SPLITS}
        title = f"{track} corpus at {root} (from its CM protocols)"
    summary = {}
    for split, protocol in protocols.items():
        if protocol.is_file():
            entries, problems = parse_protocol(protocol, track)
            counts, attacks = count_entries(entries)
            summary[split] = {"num_examples": len(entries), "counts": counts, "attacks": attacks}
            if problems:
                summary[split]["malformed_lines"] = [f"{p.file}:{p.line}" for p in problems]
    return title, summary


def _inspect_other_corpus(path):
    """Counts of a corpus other than ASVspoof2019, split as `fakespeech build` would split it by default."""
    try:
        reader, root, track = detect(path)
    except FileNotFoundError as exc:  # it lists every layout looked for
        raise FileNotFoundError(f"{path} is neither a shard folder with {MANIFEST_FILE} nor a corpus: {exc}") from None
    listing = reader.read(root, BuildConfig(data=str(root), out=str(root), corpus=reader.NAME, track=track))
    summary = {}
    for split, entries in listing.splits.items():
        counts, attacks = count_entries(entries)
        summary[split] = {"num_examples": len(entries), "counts": counts, "attacks": attacks}
    return f"{reader.NAME} corpus at {root} (splits as 'fakespeech build' makes them by default)", summary


def format_counts(summary):
    """A table with one row per split, label and attack, and a total row per split."""
    rows = [("split", "label", "attack", "count")]
    for split, info in summary.items():
        for attack, n in info["attacks"].items():
            rows.append((split, "bonafide" if attack == "-" else "spoof", attack, str(n)))
        rows.append((split, "total", "", str(info["num_examples"])))
        for line in info.get("malformed_lines", []):
            rows.append((split, "malformed", line, ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    )
