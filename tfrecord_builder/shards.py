"""A shard set: the shard files of a build (named by `tfrecord_builder.writer`) and the `manifest.json` listing them.

`ShardSet` is how every reader opens a shard directory (local or
`gs://`, both through `tf.io.gfile`): it checks the manifest's format version, lists each split's files from the manifest, and compares each
file's size with the manifest on opening (cheap: one stat per file), so a truncated or replaced shard is named
before any training starts. `verify()` recomputes the SHA-256 of every file (`fakespeech inspect --verify`).
`write_shard_set` writes a small shard set without a corpus, for test fixtures and benchmarks.
"""

import collections
import hashlib

import tensorflow as tf

from tfrecord_builder import atomic
from tfrecord_builder.manifest import MANIFEST_FILE, parse_manifest, summarise_shards
from tfrecord_builder.schema import BONAFIDE, SPOOF, TARGET_TO_KEY, encode_example
from tfrecord_builder.writer import write_shard

REBUILD_HINT = "re-run 'fakespeech build' with the same --out to rebuild it (intact shards are kept)"


class ShardSetError(ValueError):
    """A shard directory that cannot be read as it stands; the message names the file and how to repair it."""


class ShardSet:
    """An opened shard directory.

    Args:
        directory: the folder holding `manifest.json` and the shards, local or `gs://`.
        check_sizes: compare every shard's size with the manifest now (a truncated file is an error here rather
            than a `DataLossError` deep inside training).

    Example:
        >>> shards = ShardSet("shards/")  # doctest: +SKIP
        >>> shards.num_examples("train"), shards.files("train")[:1]  # doctest: +SKIP
    """

    def __init__(self, directory, check_sizes=True):
        self.directory = str(directory).rstrip("/") or "/"
        self.manifest_path = tf.io.gfile.join(self.directory, MANIFEST_FILE)
        if not tf.io.gfile.exists(self.manifest_path):
            raise FileNotFoundError(f"no {MANIFEST_FILE} in {self.directory}; build shards with 'fakespeech build'")
        with tf.io.gfile.GFile(self.manifest_path, "rb") as file:
            self.manifest = parse_manifest(file.read(), self.manifest_path)
        if check_sizes:
            problems = [problem for split in self.splits for problem in self._size_problems(split)]
            if problems:
                raise ShardSetError("; ".join(problems) + f"; {REBUILD_HINT}")

    @property
    def splits(self):
        return list(self.manifest.get("splits", {}))

    @property
    def sample_rate(self):
        return int(self.manifest["sample_rate"])

    def has_split(self, split):
        return split in self.manifest.get("splits", {}) and self.num_examples(split) > 0

    def split_info(self, split):
        splits = self.manifest.get("splits", {})
        if split not in splits:
            raise ShardSetError(f"split {split!r} is not in {self.manifest_path}; it has {sorted(splits)}")
        return splits[split]

    def num_examples(self, split):
        return int(self.split_info(split)["num_examples"])

    def class_counts(self, split):
        """`{0: bona fide count, 1: spoof count}`."""
        counts = self.split_info(split).get("counts", {})
        return {target: int(counts.get(TARGET_TO_KEY[target], 0)) for target in (BONAFIDE, SPOOF)}

    def files(self, split):
        """The split's shard paths in manifest (= file name) order, which is the evaluation order."""
        shards = self.split_info(split).get("shards", [])
        if not shards:
            raise ShardSetError(f"split {split!r} of {self.manifest_path} lists no shard files")
        return [tf.io.gfile.join(self.directory, shard["file"]) for shard in sorted(shards, key=lambda s: s["file"])]

    def _size_problems(self, split):
        problems = []
        for shard in self.split_info(split).get("shards", []):
            path = tf.io.gfile.join(self.directory, shard["file"])
            size = _size(path)
            if size is None:
                problems.append(f"{path}: listed in {MANIFEST_FILE} but missing")
            elif "bytes" in shard and size != shard["bytes"]:
                problems.append(f"{path}: {size} bytes where {MANIFEST_FILE} records {shard['bytes']} "
                                "(truncated or replaced)")
        return problems

    def verify(self):
        """Every problem found by size and SHA-256 (reads every byte of every shard); [] when intact."""
        problems = []
        for split in self.splits:
            problems += self._size_problems(split)
            for shard in self.split_info(split).get("shards", []):
                path = tf.io.gfile.join(self.directory, shard["file"])
                if tf.io.gfile.exists(path) and "sha256" in shard and _sha256(path) != shard["sha256"]:
                    problems.append(f"{path}: SHA-256 differs from {MANIFEST_FILE} (corrupted)")
        return list(dict.fromkeys(problems))

    def damaged_shards_message(self):
        """After a read error: which shard files are damaged (by SHA-256), and how to rebuild them."""
        problems = self.verify()
        if not problems:
            return f"a shard of {self.directory} could not be read; run 'fakespeech inspect --verify {self.directory}'"
        return "; ".join(problems) + f"; {REBUILD_HINT}"


def _size(path):
    return tf.io.gfile.stat(path).length if tf.io.gfile.exists(path) else None


def _sha256(path):
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shard_set(directory, splits, num_shards=1, sample_rate=16000):
    """Writes a shard set from example fields, without a corpus (test fixtures, benchmarks).

    Args:
        directory: output folder (created).
        splits: `{split: [fields]}` where each `fields` dict holds `samples` (1-D int16) and the string fields of
            `tfrecord_builder.schema.encode_example` plus `target`; each shard takes the next contiguous block,
            so the split's file order is the list's order.
        num_shards: shards per split, an int or `{split: int}`.
        sample_rate: the rate recorded in every example and in the manifest.

    Returns:
        The manifest (also written as `manifest.json`).
    """
    tf.io.gfile.makedirs(directory)
    records = {}
    for split, examples in splits.items():
        total = num_shards[split] if isinstance(num_shards, dict) else num_shards
        records[split] = []
        bounds = [len(examples) * index // total for index in range(total + 1)]
        for index in range(total):
            members = examples[bounds[index]:bounds[index + 1]]
            serialized = [encode_example(m["samples"], sample_rate, split=split,
                                         **{k: v for k, v in m.items() if k not in ("samples", "split")})
                          for m in members]
            name, count, size, sha256 = write_shard(directory, split, index, total, serialized)
            records[split].append({"file": name, "num_examples": count, "bytes": size, "sha256": sha256,
                                   **_count(members)})
    manifest = summarise_shards(records, sample_rate, build_config=None,
                                corpus={"name": "generated", "track": "-", "split_method": "given"})
    atomic.write_json(tf.io.gfile.join(directory, MANIFEST_FILE), manifest)
    return manifest


def _count(members):
    counts = {key: 0 for key in TARGET_TO_KEY.values()}
    attacks = collections.Counter()
    for member in members:
        counts[TARGET_TO_KEY[int(member["target"])]] += 1
        attacks[member.get("system_id", "-")] += 1
    return {"counts": counts, "attacks": dict(sorted(attacks.items()))}
