"""The one way fakespeech writes a file: under a temporary name beside it, then renamed over it.

A reader (or a resumed run) therefore sees either the old file or the whole new one, never half a file. Every
package writes through here: shards, manifests, run directories, reports, exports.

Local paths use `os.replace`. `gs://` paths are written with `tf.io.gfile` directly: an object upload to Cloud
Storage becomes visible only once it is complete, which is the atomicity we need there.
"""

import contextlib
import hashlib
import json
import os
import shutil
import uuid

TEMP_MARKER = ".tmp-"


def is_remote(path):
    return str(path).startswith("gs://")


def temp_path_for(path):
    """A hidden name in the same folder (same file system, so the rename is atomic), unique per process."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(directory, f".{name}{TEMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path to write to; on success it is renamed to `path`, on failure removed.

    For writers that want a path rather than bytes (Keras `save`, `save_weights`, `tf.io.TFRecordWriter`, a
    SavedModel folder). `suffix` is appended to the temporary name for writers that infer the format from it
    (`.keras`, `.weights.h5`). A folder at `path` is replaced only after the new one is complete.
    """
    path = os.fspath(path)
    if is_remote(path):
        yield path
        return
    temp = temp_path_for(path) + suffix
    try:
        yield temp
        _replace(temp, path)
    except BaseException:
        _remove(temp)
        raise


class PendingFile:
    """A file being written under `path` (temporary); it becomes `directory/name` once `name` is set."""

    def __init__(self, path):
        self.path = path
        self.name = None


@contextlib.contextmanager
def pending_file(directory, stem):
    """`atomic_path` for a file whose final name is known only after writing (a shard named by its count).

    The writer writes to `pending.path` and sets `pending.name` before the block ends.
    """
    pending = PendingFile(temp_path_for(os.path.join(os.fspath(directory), stem)))
    try:
        yield pending
        if pending.name is None:
            raise ValueError(f"{pending.path}: the writer set no final name")
        _replace(pending.path, os.path.join(os.fspath(directory), pending.name))
    except BaseException:
        _remove(pending.path)
        raise


def _replace(temp, path):
    if os.path.isdir(temp) and os.path.isdir(path):
        # os.replace cannot swap a folder over a non-empty one: move the old one aside, then delete it.
        aside = temp_path_for(path) + "-old"
        os.replace(path, aside)
        os.replace(temp, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temp, path)


def _remove(temp):
    if os.path.isdir(temp):
        shutil.rmtree(temp, ignore_errors=True)
    elif os.path.lexists(temp):
        os.remove(temp)


def write_bytes(path, data):
    """Writes `data` to `path` atomically (the file gets the usual umask permissions)."""
    path = os.fspath(path)
    if is_remote(path):
        import tensorflow as tf  # only remote paths need it; local writes stay TensorFlow-free for the workers

        with tf.io.gfile.GFile(path, "wb") as file:
            file.write(data)
        return
    with atomic_path(path) as temp:
        with open(temp, "xb") as file:
            file.write(data)


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, data):
    """JSON with two-space indents and a final newline; values JSON does not know are written with `str`."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def remove_temp_files(directory):
    """Deletes what writers killed mid-write left in `directory` (their hidden temporary names)."""
    directory = os.fspath(directory)
    if is_remote(directory) or not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.startswith(".") and TEMP_MARKER in name:
            _remove(os.path.join(directory, name))


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
