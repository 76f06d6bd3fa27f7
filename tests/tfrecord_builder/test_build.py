"""`build_shards` end to end on the generated corpora: content, stratification, manifest, layouts, options."""

import collections
import hashlib
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from tfrecord_builder.builder import build_shards
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.schema import decode_audio, parse_example

SHARD_NAME = re.compile(r"^(train|dev|eval)-(\d{5})-of-(\d{5})-(\d+)\.tfrec$")


def protocol_rows(root, track, split, layout_prefix=""):
    """The protocol lines as field lists, read with plain string splitting (independent of the parser)."""
    suffix = "trn" if split == "train" else "trl"
    folder = root / layout_prefix / track / f"ASVspoof2019_{track}_cm_protocols"
    path = folder / f"ASVspoof2019.{track}.cm.{split}.{suffix}.txt"
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_shard(path):
    """Every example of a shard, parsed and decoded with native TF ops in a tf.data graph, as plain dicts."""

    def parse(record):
        example = parse_example(record)
        example["pcm"] = decode_audio(example.pop("audio"))
        return example

    examples = []
    for example in tf.data.TFRecordDataset(str(path)).map(parse).as_numpy_iterator():
        example = {k: v.decode() if isinstance(v, bytes) else v for k, v in example.items()}
        example["pcm"] = np.round(example["pcm"].astype(np.float64) * 32768.0).astype(np.int64)
        examples.append(example)
    return examples


def build(corpus, out, **overrides):
    return build_shards(BuildConfig(data=str(corpus), out=str(out), **overrides), progress=False)


@pytest.fixture(scope="module")
def la_shards(la_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("la_shards")
    return out, build(la_corpus, out, num_shards=3, seed=7)


@pytest.fixture(scope="module")
def la_examples(la_shards):
    """Shard file name -> its decoded examples, read once for the module."""
    out, manifest = la_shards
    return {s["file"]: read_shard(out / s["file"]) for info in manifest["splits"].values() for s in info["shards"]}


def test_decoded_samples_equal_the_flac_samples_and_fields_the_protocol(la_corpus, la_shards, la_examples):
    _, manifest = la_shards
    rows = {row[1]: row for split in ("train", "dev", "eval") for row in protocol_rows(la_corpus, "LA", split)}
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            for example in la_examples[shard["file"]]:
                flac = la_corpus / "LA" / f"ASVspoof2019_LA_{split}" / "flac" / f"{example['id']}.flac"
                reference, rate = sf.read(flac, dtype="int16")
                np.testing.assert_array_equal(example["pcm"], reference.astype(np.int64))
                speaker, utt, _, system, key = rows[example["id"]]
                assert (example["audio_len"], example["sample_rate"]) == (len(reference), rate)
                assert (example["speaker_id"], example["system_id"], example["target"]) == (speaker, system,
                                                                                             int(key == "spoof"))
                assert (example["split"], example["track"], example["environment"], example["corpus"]) == (
                    split, "LA", "-", "asvspoof2019")


def test_each_shard_holds_each_key_attack_stratum_within_one(la_shards, la_examples):
    _, manifest = la_shards
    for info in manifest["splits"].values():
        per_shard = [collections.Counter((e["target"], e["system_id"]) for e in la_examples[s["file"]])
                     for s in info["shards"]]
        for stratum in set().union(*per_shard):
            counts = [c[stratum] for c in per_shard]
            assert max(counts) - min(counts) <= 1, (stratum, counts)


def test_manifest_counts_equal_protocol_counts(la_corpus, la_shards):
    _, manifest = la_shards
    for split in ("train", "dev", "eval"):
        rows = protocol_rows(la_corpus, "LA", split)
        info = manifest["splits"][split]
        assert info["counts"] == {k: sum(r[4] == k for r in rows) for k in ("bonafide", "spoof")}
        assert info["attacks"] == dict(collections.Counter(r[3] for r in rows))
        assert sum(s["num_examples"] for s in info["shards"]) == len(rows) == info["num_examples"]
    assert manifest["totals"]["num_examples"] == sum(len(protocol_rows(la_corpus, "LA", s))
                                                     for s in ("train", "dev", "eval"))


def test_shard_files_match_their_names_sizes_and_checksums(la_shards, la_examples):
    out, manifest = la_shards
    listed = [s for info in manifest["splits"].values() for s in info["shards"]]
    assert sorted(p.name for p in out.glob("*.tfrec")) == sorted(s["file"] for s in listed)
    for shard in listed:
        split, index, total, count = SHARD_NAME.match(shard["file"]).groups()
        data = (out / shard["file"]).read_bytes()
        assert int(total) == manifest["splits"][split]["num_shards"] and int(index) < int(total)
        assert int(count) == shard["num_examples"] == len(la_examples[shard["file"]])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (shard["bytes"], shard["sha256"])


def test_same_seed_same_bytes_other_seed_other_assignment(la_corpus, la_shards, tmp_path):
    out, manifest = la_shards
    again = build(la_corpus, tmp_path / "again", num_shards=3, seed=7, splits=("train",), workers=2)
    assert again["splits"]["train"]["shards"] == manifest["splits"]["train"]["shards"]
    other = build(la_corpus, tmp_path / "other", num_shards=3, seed=8, splits=("train",))
    assert [s["sha256"] for s in other["splits"]["train"]["shards"]] != [
        s["sha256"] for s in manifest["splits"]["train"]["shards"]]


def test_kaggle_layout_builds_the_same_counts(la_corpus_kaggle, tmp_path):
    manifest = build(la_corpus_kaggle, tmp_path / "out", splits=("dev",))
    rows = protocol_rows(la_corpus_kaggle, "LA", "dev", layout_prefix="LA")
    assert manifest["splits"]["dev"]["num_examples"] == len(rows)
    assert manifest["splits"]["dev"]["counts"]["bonafide"] == sum(r[4] == "bonafide" for r in rows)


def test_pa_examples_carry_environment_and_attack_and_skip_unlisted_files(pa_corpus, tmp_path):
    manifest = build(pa_corpus / "PA", tmp_path / "out", track="PA", splits=("dev",), num_shards=2)
    rows = {r[1]: r for r in protocol_rows(pa_corpus, "PA", "dev")}
    examples = [e for s in manifest["splits"]["dev"]["shards"] for e in read_shard(tmp_path / "out" / s["file"])]
    assert sorted(e["id"] for e in examples) == sorted(rows)  # enrolment files in the folder are not built
    for example in examples:
        _, _, environment, attack, _ = rows[example["id"]]
        assert (example["track"], example["environment"], example["system_id"]) == ("PA", environment, attack)


def test_max_per_class_and_balance_limit_each_label(la_corpus, tmp_path):
    capped = build(la_corpus, tmp_path / "capped", splits=("train",), max_per_class=5)
    assert capped["splits"]["train"]["counts"] == {"bonafide": 5, "spoof": 5}
    balanced = build(la_corpus, tmp_path / "balanced", splits=("train",), balance=True)
    n_bonafide = sum(r[4] == "bonafide" for r in protocol_rows(la_corpus, "LA", "train"))
    assert balanced["splits"]["train"]["counts"] == {"bonafide": n_bonafide, "spoof": n_bonafide}


def test_off_rate_stereo_file_is_downmixed_resampled_and_recorded(la_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(la_corpus, corpus)
    utt = protocol_rows(corpus, "LA", "dev")[0][1]
    flac = corpus / "LA" / "ASVspoof2019_LA_dev" / "flac" / f"{utt}.flac"
    rate, seconds, freq = 22050, 0.5, 440.0
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * freq * t)
    sf.write(flac, np.stack([tone + 0.1, tone - 0.1], axis=1), rate, subtype="PCM_16")  # channel mean = tone
    manifest = build(corpus, tmp_path / "out", splits=("dev",))
    relative = f"LA/ASVspoof2019_LA_dev/flac/{utt}.flac"
    assert manifest["resampled"] == [relative] and manifest["downmixed"] == [relative]
    examples = [e for s in manifest["splits"]["dev"]["shards"] for e in read_shard(tmp_path / "out" / s["file"])]
    pcm = next(e["pcm"] for e in examples if e["id"] == utt)
    expected = 0.5 * np.sin(2 * np.pi * freq * np.arange(int(16000 * seconds)) / 16000) * 32768
    assert len(pcm) == len(expected)
    middle = slice(200, -200)  # away from the resampling filter's edge transients
    np.testing.assert_allclose(pcm[middle], expected[middle], atol=0.01 * 32768)
