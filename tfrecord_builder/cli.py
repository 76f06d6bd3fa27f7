"""`fakespeech build` and `fakespeech inspect`: each a `main(argv) -> int` callable in-process."""

import argparse
import json
import pathlib
import sys

from tfrecord_builder.config import CORPORA, FOR_VERSIONS, ON_ERROR, SPLITS, TRACKS, BuildConfig
from tfrecord_builder.corpus_root import find_corpus_root, track_dir
from tfrecord_builder.manifest import MANIFEST_FILE, corpus_info, load_manifest
from tfrecord_builder.protocols import count_entries, parse_protocol, protocol_file

# flag -> BuildConfig field; flags left out fall back to --set, then --config, then the dataclass defaults.
BUILD_FLAGS = {
    "data": "data", "out": "out", "corpus": "corpus", "track": "track", "split_ratios": "split_ratios", "splits": "splits", "num_shards": "num_shards",
    "shard_size": "shard_size", "max_per_class": "max_per_class", "balance": "balance", "seed": "seed",
    "sample_rate": "sample_rate", "workers": "workers", "on_error": "on_error",
}


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech build",
        description="Build stratified TFRecord shards and manifest.json from a corpus (ASVspoof2019, FoR, "
        "DEEP-VOICE, WaveFake + LJSpeech, In-the-Wild, or class folders / a path,label CSV).",
    )
    parser.add_argument("--data", metavar="ROOT", help="corpus root (ASVspoof2019: the root, its LA/ or PA/ folder, "
                        "or the Kaggle root), or a path,label[,group] CSV for --corpus folders")
    parser.add_argument("--out", metavar="DIR", help="output folder for shards and manifest.json")
    parser.add_argument("--corpus", choices=CORPORA + ("auto",),
                        help="corpus layout (default asvspoof2019; auto detects it under --data)")
    parser.add_argument("--track", choices=TRACKS + FOR_VERSIONS,
                        help="ASVspoof2019 track (default LA) or FoR version (default: the one under --data)")
    parser.add_argument("--split-ratios", dest="split_ratios", metavar="TRAIN,DEV,EVAL",
                        help="shares of the speaker/group-disjoint split for corpora without official splits "
                        "(default 0.7,0.15,0.15)")
    parser.add_argument("--splits", help=f"comma-separated splits (default {','.join(SPLITS)})")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--num-shards", dest="num_shards", type=int, help="shards per split")
    size.add_argument("--shard-size", dest="shard_size", type=int, help="examples per shard (default 1000)")
    parser.add_argument("--max-per-class", dest="max_per_class", type=int, help="cap per label and split")
    parser.add_argument("--balance", action="store_true", default=None, help="as many spoof as bona fide per split")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--sample-rate", dest="sample_rate", type=int, help="output rate (default 16000)")
    parser.add_argument("--workers", type=int, help="decoding processes (default 1)")
    parser.add_argument("--on-error", dest="on_error", choices=ON_ERROR, help="stop (default) or skip bad input")
    parser.add_argument("--config", metavar="JSON", help="a BuildConfig JSON file (e.g. a manifest's build_config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one BuildConfig field")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _config_from_args(args):
    values = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            loaded = json.load(f)
        values.update(loaded.get("build_config", loaded))  # accept a manifest as well as a bare config
    for pair in args.overrides:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    for flag, field in BUILD_FLAGS.items():
        if getattr(args, flag) is not None:
            values[field] = getattr(args, flag)
    missing = [f"--{name}" for name in ("data", "out") if name not in values]
    if missing:
        raise ValueError(f"missing {' and '.join(missing)}")
    return BuildConfig.from_dict(values, where="the command line")


def build_main(argv=None):
    """`fakespeech build --data ROOT --out DIR [...]`; returns 0 on success, 1 on bad input, 2 on bad flags."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        config = _config_from_args(args)
    except (OSError, ValueError) as exc:
        parser.print_usage(sys.stderr)
        print(f"fakespeech build: error: {exc}", file=sys.stderr)
        return 2
    from tfrecord_builder.builder import BuildError, build_shards  # imports TensorFlow

    try:
        manifest = build_shards(config, progress=not args.quiet)
    except (BuildError, FileNotFoundError, ValueError) as exc:
        print(f"fakespeech build: error: {exc}", file=sys.stderr)
        return 1
    _print_build_summary(manifest, config.out)
    return 0


def _print_build_summary(manifest, out):
    for split, info in manifest["splits"].items():
        counts = info["counts"]
        print(f"{split}: {info['num_examples']} examples ({counts['bonafide']} bonafide, {counts['spoof']} spoof) "
              f"in {info['num_shards']} shards")
    if manifest["resampled"] or manifest["downmixed"]:
        print(f"resampled {len(manifest['resampled'])} and downmixed {len(manifest['downmixed'])} files")
    skipped = manifest["skipped"]
    if skipped:
        print(f"skipped {len(skipped)} item(s):")
        for item in skipped:
            where = item["file"] if item["line"] is None else f"{item['file']}:{item['line']}"
            print(f"  {where}: {item['reason']}")
    print(f"wrote {pathlib.Path(out) / MANIFEST_FILE}")


def inspect_main(argv=None):
    """`fakespeech inspect PATH`: counts per split, label and attack of a corpus (protocols) or shard folder."""
    parser = argparse.ArgumentParser(
        prog="fakespeech inspect",
        description="Count utterances per split, label and attack in a corpus root or a shard folder.",
    )
    parser.add_argument("path", help="a corpus root (read via its protocols) or a shard folder / manifest.json")
    parser.add_argument("--track", choices=TRACKS, help="corpus track (default: whichever is found, LA first)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    try:
        title, summary = _inspect(pathlib.Path(args.path), args.track)
    except (FileNotFoundError, ValueError) as exc:
        print(f"fakespeech inspect: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(title)
        print(format_counts(summary))
    return 0


def _inspect(path, track):
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
            root, track = _find_any_track(path, track)
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
    from tfrecord_builder.corpora import detect

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


def _find_any_track(path, track):
    errors = []
    for candidate in [track] if track else TRACKS:
        try:
            return find_corpus_root(path, candidate), candidate
        except FileNotFoundError as exc:
            errors.append(str(exc))
    raise FileNotFoundError(f"{path} is neither a shard folder with {MANIFEST_FILE} nor a corpus: " + "; ".join(errors))


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
