"""`fakespeech build`: a corpus -> stratified TFRecord shards + manifest.json (`tfrecord_builder.build_shards`)."""

import argparse
import os
import pathlib
import sys

import tensorflow as tf

from pipelines.commands.common import command
from tfrecord_builder.builder import BuildError, build_shards
from tfrecord_builder.config import CORPORA, FOR_VERSIONS, ON_ERROR, SPLITS, TRACKS, BuildConfig
from tfrecord_builder.dataclass_config import ConfigError, parse_overrides, read_json
from tfrecord_builder.manifest import MANIFEST_FILE

# flag -> BuildConfig field; flags left out fall back to --set, then --config, then the dataclass defaults.
BUILD_FLAGS = {
    "data": "data", "out": "out", "corpus": "corpus", "track": "track", "split_ratios": "split_ratios", "splits": "splits", "num_shards": "num_shards",
    "shard_size": "shard_size", "max_per_class": "max_per_class", "balance": "balance", "seed": "seed",
    "sample_rate": "sample_rate", "workers": "workers", "on_error": "on_error",
    "vocode": "vocode", "vocode_splits": "vocode_splits", "codecs": "codecs", "codec_splits": "codec_splits",
}


def build_parser():
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
    parser.add_argument("--vocode", metavar="LIST",
                        help="add a spoof copy of every train/dev bona fide utterance per vocoder: world[:harvest], "
                        "griffinlim[:linear], lpc, phase_vocoder, keras:/path/generator.keras (mel parameters in "
                        "/path/generator.json); system id V-<vocoder>, utterance id <source>-<vocoder>")
    parser.add_argument("--vocode-splits", dest="vocode_splits", metavar="LIST",
                        help="splits whose bona fide is vocoded (default train,dev; never eval)")
    parser.add_argument("--codecs", metavar="LIST",
                        help="add a copy of every train utterance per lossy codec round trip, same key: mp3:32k "
                        "(kbit/s), ogg:q2 (Vorbis quality 0-10), opus:24k (kbit/s); utterance id <source>-mp3-32k")
    parser.add_argument("--codec-splits", dest="codec_splits", metavar="LIST",
                        help="splits that get codec copies (default train; never eval)")
    parser.add_argument("--config", metavar="JSON", help="a BuildConfig JSON file (e.g. a manifest's build_config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one BuildConfig field")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(args):
    """The BuildConfig of the flags, laid over `--set`, laid over `--config` (a bare config or a manifest)."""
    values = {}
    if args.config:
        if not os.path.isfile(args.config):
            raise ConfigError(f"--config {args.config}: no such file")
        try:
            loaded = read_json(args.config)
        except ValueError as error:
            raise ConfigError(f"--config {error}") from None
        values.update(loaded.get("build_config", loaded) if isinstance(loaded, dict) else {})
    values.update(parse_overrides(args.overrides))
    for flag, field in BUILD_FLAGS.items():
        if getattr(args, flag) is not None:
            values[field] = getattr(args, flag)
    missing = [f"--{name}" for name in ("data", "out") if name not in values]
    if missing:
        raise ConfigError(f"missing {' and '.join(missing)}")
    return BuildConfig.from_dict(values, where="the command line")


@command("fakespeech build")
def main(argv=None):
    """`fakespeech build --data ROOT --out DIR [...]`: 0 when built, 1 on bad input or a failed write, 2 on bad flags."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        manifest = build_shards(config, progress=not args.quiet)
    except FileNotFoundError:
        raise
    except (OSError, tf.errors.OpError) as error:  # a full disk or read-only folder: name the path and the cause
        raise BuildError(_write_failure(error, config.out)) from None
    _print_build_summary(manifest, config.out)
    return _check_not_empty(manifest)


def _write_failure(exc, out):
    """One line naming the path and the cause of a failed write (an OSError, or TensorFlow's OpError)."""
    if isinstance(exc, OSError):
        path, cause = exc.filename or out, exc.strerror or str(exc)
    else:
        path, _, cause = exc.message.rpartition("; ")  # TensorFlow reports "PATH; CAUSE"
        path = path or out
    path = pathlib.Path(path)
    if path.parent == pathlib.Path(out) and path.name.startswith("."):  # a shard or record being written
        path, cause = out, f"{cause} (writing {path.name})"
    return (f"{path}: {cause}; the shards finished so far are kept: free the space or fix the folder, then run the "
            "same command to resume")


def _check_not_empty(manifest):
    """Warns about each empty split; 1 when nothing at all was built."""
    empty = [split for split, info in manifest["splits"].items() if info["num_examples"] == 0]
    for split in empty:
        print(f"fakespeech build: warning: split {split} is empty: its listing holds no usable utterance",
              file=sys.stderr)
    if empty and len(empty) == len(manifest["splits"]):
        print("fakespeech build: error: nothing was built: every split asked for is empty", file=sys.stderr)
        return 1
    return 0


def _print_build_summary(manifest, out):
    for split, info in manifest["splits"].items():
        counts = info["counts"]
        print(f"{split}: {info['num_examples']} examples ({counts['bonafide']} bonafide, {counts['spoof']} spoof) "
              f"in {info['num_shards']} shards")
    _print_copies(manifest.get("variants"))
    if manifest["resampled"] or manifest["downmixed"]:
        print(f"resampled {len(manifest['resampled'])} and downmixed {len(manifest['downmixed'])} files")
    skipped = manifest["skipped"]
    if skipped:
        print(f"skipped {len(skipped)} item(s):")
        for item in skipped:
            where = item["file"] if item["line"] is None else f"{item['file']}:{item['line']}"
            print(f"  {where}: {item['reason']}")
    print(f"wrote {pathlib.Path(out) / MANIFEST_FILE}")


def _print_copies(section):
    if not section:
        return
    for kind, title in (("vocoders", "vocoded spoof copies"), ("codecs", "codec copies")):
        for text, info in section[kind].items():
            per_split = ", ".join(f"{split} {n}" for split, n in info["copies"].items()) or "none"
            name = f" as {info['system_id']}" if "system_id" in info else ""
            print(f"{title} by {text}{name}: {sum(info['copies'].values())} ({per_split})")
