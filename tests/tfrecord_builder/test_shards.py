"""`ShardSet` opens a shard directory once and names a damaged shard before any training reads it."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines.commands.build import main as build_main
from pipelines.commands.inspect import main as inspect_main
from tfrecord_builder.manifest import MANIFEST_FILE
from tfrecord_builder.schema import decode_audio, parse_example
from tfrecord_builder.shards import ShardSet, ShardSetError, write_shard_set


def _examples(count, offset=0):
    rng = np.random.default_rng(offset)
    return [{"samples": rng.integers(-9000, 9000, 50 + i).astype(np.int16), "id": f"utt{offset + i}",
             "target": i % 2, "system_id": "A01" if i % 2 else "-"} for i in range(count)]


def test_a_written_set_reads_back_in_list_order(tmp_path):
    examples = _examples(7)
    write_shard_set(tmp_path, {"train": examples}, num_shards=3)
    shards = ShardSet(tmp_path)
    assert shards.num_examples("train") == 7 and shards.class_counts("train") == {0: 4, 1: 3}
    records = [parse_example(r) for r in tf.data.TFRecordDataset(shards.files("train"))]
    assert [r["id"].numpy().decode() for r in records] == [e["id"] for e in examples]
    np.testing.assert_array_equal(decode_audio(records[2]["audio"]).numpy() * 32768.0, examples[2]["samples"])
    assert shards.verify() == []


def test_a_truncated_shard_is_named_when_the_set_is_opened(tmp_path):
    write_shard_set(tmp_path, {"train": _examples(6)}, num_shards=2)
    victim = ShardSet(tmp_path).files("train")[1]
    with open(victim, "r+b") as file:
        file.truncate(os.path.getsize(victim) - 10)
    with pytest.raises(ShardSetError, match=f"{os.path.basename(victim)}: .* bytes where manifest.json records"):
        ShardSet(tmp_path)
    assert ShardSet(tmp_path, check_sizes=False).num_examples("train") == 6


def test_verify_finds_a_corrupted_shard_of_the_right_size(tmp_path):
    write_shard_set(tmp_path, {"train": _examples(4)}, num_shards=2)
    victim = ShardSet(tmp_path).files("train")[0]
    data = bytearray(open(victim, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(victim, "wb").write(bytes(data))
    problems = ShardSet(tmp_path).verify()
    assert len(problems) == 1 and os.path.basename(victim) in problems[0] and "SHA-256" in problems[0]


@pytest.mark.parametrize("content, message", [
    (b'{"splits": {', "not a valid manifest.json"),
    (b'{"format_version": 99, "splits": {}}', "unsupported manifest format_version 99"),
    (b"\xff\xfe\x00binary", "not a valid manifest.json"),
])
def test_a_damaged_manifest_is_named(tmp_path, content, message):
    (tmp_path / MANIFEST_FILE).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        ShardSet(tmp_path)


def test_rebuilding_repairs_a_truncated_shard_of_a_real_build(la_corpus, tmp_path):
    out = tmp_path / "shards"
    command = ["--data", str(la_corpus), "--out", str(out), "--num-shards", "2", "--splits", "dev", "--quiet"]
    assert build_main(command) == 0
    good = {path: open(path, "rb").read() for path in ShardSet(out).files("dev")}
    victim = sorted(good)[0]
    with open(victim, "r+b") as file:
        file.truncate(100)
    with pytest.raises(ShardSetError, match="re-run 'fakespeech build'"):
        ShardSet(out)
    assert build_main(command) == 0
    assert {path: open(path, "rb").read() for path in ShardSet(out).files("dev")} == good
    assert json.loads((out / MANIFEST_FILE).read_text())["format_version"] == 1


def test_inspect_verify_names_a_corrupted_shard_and_fails(tmp_path, capsys):
    write_shard_set(tmp_path, {"train": _examples(4)}, num_shards=2)
    assert inspect_main([str(tmp_path), "--verify"]) == 0
    victim = ShardSet(tmp_path).files("train")[1]
    data = bytearray(open(victim, "rb").read())
    data[-5] ^= 0x01
    open(victim, "wb").write(bytes(data))
    capsys.readouterr()
    assert inspect_main([str(tmp_path), "--verify"]) == 1
    captured = capsys.readouterr()
    assert os.path.basename(victim) in captured.err and "re-run 'fakespeech build'" in captured.out
