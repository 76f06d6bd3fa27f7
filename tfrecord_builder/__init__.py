"""Turns anti-spoofing corpora (ASVspoof2019 LA/PA and others) into stratified TFRecord shards."""

import importlib

# Exports resolve on first use (PEP 562): the build's decoding worker processes import this package to reach
# `tfrecord_builder.audio_io`, and importing the schema (hence TensorFlow) eagerly would cost each worker seconds
# and hundreds of MB.
_EXPORTS = {
    "decode_audio": "tfrecord_builder.schema",
    "encode_example": "tfrecord_builder.schema",
    "parse_example": "tfrecord_builder.schema",
    "BuildConfig": "tfrecord_builder.config",
    "BuildError": "tfrecord_builder.builder",
    "build_shards": "tfrecord_builder.builder",
    "find_corpus_root": "tfrecord_builder.corpus_root",
    "ProtocolEntry": "tfrecord_builder.protocols",
    "read_protocol": "tfrecord_builder.protocols",
    "load_manifest": "tfrecord_builder.manifest",
    "FolderLock": "tfrecord_builder.folder_lock",
    "FolderLockedError": "tfrecord_builder.folder_lock",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfrecord_builder' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return sorted(list(globals()) + __all__)
