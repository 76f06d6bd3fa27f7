"""`fakespeech inspect PATH`: counts per split, label and attack of a corpus or a shard folder; `--verify` checksums."""

import argparse
import json
import pathlib

from pipelines.commands.common import EXIT_FAILURE, command, error
from tfrecord_builder.config import TRACKS
from tfrecord_builder.inventory import format_counts, inventory
from tfrecord_builder.manifest import MANIFEST_FILE
from tfrecord_builder.shards import ShardSet


@command("fakespeech inspect")
def main(argv=None):
    """`fakespeech inspect PATH [--verify]`: 0, or 1 when the path holds nothing readable or a shard is damaged."""
    parser = argparse.ArgumentParser(
        prog="fakespeech inspect",
        description="Count utterances per split, label and attack in a corpus root or a shard folder; with --verify, "
        "recompute the SHA-256 of every shard against the manifest.",
    )
    parser.add_argument("path", help="a corpus root (read via its protocols) or a shard folder / manifest.json")
    parser.add_argument("--track", choices=TRACKS, help="corpus track (default: whichever is found, LA first)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--verify", action="store_true",
                        help="shard folders: check every shard's size and SHA-256 against manifest.json")
    args = parser.parse_args(argv)
    title, summary = inventory(pathlib.Path(args.path), args.track)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(title)
        print(format_counts(summary))
    return verify(args.path) if args.verify else 0


def verify(path):
    folder = pathlib.Path(path)
    folder = folder.parent if folder.name == MANIFEST_FILE else folder
    problems = ShardSet(folder, check_sizes=False).verify()
    for problem in problems:
        error("fakespeech inspect", problem)
    if problems:
        print("re-run 'fakespeech build' with the same --out to rebuild the damaged shards (intact ones are kept)")
        return EXIT_FAILURE
    print(f"verified: every shard of {folder} matches {MANIFEST_FILE} (size and SHA-256)")
    return 0
