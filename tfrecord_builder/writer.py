"""Shard files (their naming is owned here) and the resume record of an unfinished build.

A shard is written under a hidden temporary name and renamed once complete (`tfrecord_builder.atomic`), so a
reader never sees half a shard. After each shard the build records its checksum in `.fakespeech-build.json`; a
re-run keeps every shard whose file still has that checksum.
"""

import json
import os
import pathlib

import tensorflow as tf

from tfrecord_builder import atomic

STATE_FILE = ".fakespeech-build.json"
SHARD_SUFFIX = ".tfrec"


def shard_name(split, index, total, count):
    """`train-00003-of-00016-1586.tfrec`: split, index, total and the number of examples written."""
    return f"{split}-{index:05d}-of-{total:05d}-{count}{SHARD_SUFFIX}"


def shard_pattern(split="*"):
    """The glob pattern of the shard files of `split` (of every split by default)."""
    return f"{split}-*-of-*{SHARD_SUFFIX}"


def write_shard(out_dir, split, index, total, serialized_examples):
    """Writes the serialised examples as one shard, atomically.

    Returns:
        `(file_name, num_examples, bytes, sha256)` of the finished shard.
    """
    with atomic.pending_file(out_dir, f"{split}-{index:05d}-of-{total:05d}") as pending:
        count = 0
        with tf.io.TFRecordWriter(pending.path) as writer:
            for serialized in serialized_examples:
                writer.write(serialized)
                count += 1
        size, sha256 = os.path.getsize(pending.path), atomic.file_sha256(pending.path)
        pending.name = shard_name(split, index, total, count)  # the name carries the count, known only now
    return pending.name, count, size, sha256


def shard_is_intact(out_dir, record):
    path = pathlib.Path(out_dir) / record["file"]
    return path.is_file() and path.stat().st_size == record["bytes"] and atomic.file_sha256(path) == record["sha256"]


def load_state(out_dir):
    path = pathlib.Path(out_dir) / STATE_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_state(out_dir, state):
    atomic.write_json(pathlib.Path(out_dir) / STATE_FILE, state)


def shard_files(out_dir, splits=None):
    """The shard files in `out_dir` (of `splits` when given), sorted by name."""
    files = sorted(pathlib.Path(out_dir).glob(shard_pattern()))
    if splits is not None:
        files = [f for f in files if f.name.split("-", 1)[0] in splits]
    return files
