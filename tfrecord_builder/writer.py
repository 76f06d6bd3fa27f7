"""Atomic shard files and the resume record of an unfinished build.

A shard is written under a hidden temporary name and renamed once complete, so a reader globbing
`{split}-*.tfrec` never sees half a shard. After each shard the build records its checksum in
`.fakespeech-build.json`; a re-run keeps every shard whose file still has that checksum.
"""

import hashlib
import json
import os
import pathlib

import tensorflow as tf

from tfrecord_builder.sharding import shard_name

STATE_FILE = ".fakespeech-build.json"
TEMP_MARKER = ".tmp-"


def write_json_atomic(path, data):
    """Writes JSON under a temporary name, then renames, so a reader never sees half a file."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shard(out_dir, split, index, total, serialized_examples):
    """Writes the serialised examples as one shard, atomically.

    Returns:
        `(file_name, num_examples, bytes, sha256)` of the finished shard.
    """
    out_dir = pathlib.Path(out_dir)
    tmp = out_dir / f".{split}-{index:05d}-of-{total:05d}.tfrec{TEMP_MARKER}{os.getpid()}"
    try:
        count = 0
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for serialized in serialized_examples:
                writer.write(serialized)
                count += 1
        size, sha256 = tmp.stat().st_size, file_sha256(tmp)
        name = shard_name(split, index, total, count)
        os.replace(tmp, out_dir / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name, count, size, sha256


def remove_temp_files(out_dir):
    """Deletes the temporary files a killed build left behind."""
    for path in pathlib.Path(out_dir).glob(f".*{TEMP_MARKER}*"):
        path.unlink(missing_ok=True)


def shard_is_intact(out_dir, record):
    path = pathlib.Path(out_dir) / record["file"]
    return path.is_file() and path.stat().st_size == record["bytes"] and file_sha256(path) == record["sha256"]


def load_state(out_dir):
    path = pathlib.Path(out_dir) / STATE_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_state(out_dir, state):
    write_json_atomic(pathlib.Path(out_dir) / STATE_FILE, state)


def shard_files(out_dir, splits=None):
    """The shard files in `out_dir` (of `splits` when given), sorted by name."""
    files = sorted(pathlib.Path(out_dir).glob("*-*-of-*.tfrec"))
    if splits is not None:
        files = [f for f in files if f.name.split("-", 1)[0] in splits]
    return files
