"""Every corpus reader through `build_shards`: counts, attack roles, derived splits, detection, bad input."""

import collections
import csv
import json

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from tfrecord_builder.builder import BuildError, build_shards
from pipelines.commands.build import main as build_main
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpora import detect
from tfrecord_builder.schema import decode_audio, parse_example
from tfrecord_builder.synthetic import other_corpora

FOR_COUNTS = {"train": (4, 4), "dev": (2, 2), "eval": (2, 3)}
FOR_FOLDERS = {"train": "training", "dev": "validation", "eval": "testing"}


def read_examples(out, manifest):
    """Every example of a build, parsed with the shared schema and decoded to int PCM, as plain dicts."""

    def parse(record):
        example = parse_example(record)
        example["pcm"] = decode_audio(example.pop("audio"))
        return example

    examples = []
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            for example in tf.data.TFRecordDataset(str(out / shard["file"])).map(parse).as_numpy_iterator():
                example = {k: v.decode() if isinstance(v, bytes) else v for k, v in example.items()}
                example["pcm"] = np.round(example["pcm"].astype(np.float64) * 32768.0).astype(np.int64)
                examples.append(example)
    return examples


def build(data, out, **settings):
    manifest = build_shards(BuildConfig(data=str(data), out=str(out), num_shards=2, **settings), progress=False)
    return manifest, read_examples(out, manifest)


def groups_per_split(examples, group_of):
    groups = collections.defaultdict(set)
    for example in examples:
        groups[example["split"]].add(group_of(example))
    return groups


def assert_disjoint(groups):
    splits = list(groups)
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not groups[a] & groups[b], (a, b, groups[a] & groups[b])


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The generated roots, made once for the module."""
    base = tmp_path_factory.mktemp("corpora")
    return {
        "for": other_corpora.generate_for(base / "for", counts=FOR_COUNTS),
        "deep-voice": other_corpora.generate_deep_voice(base / "deep_voice", feature_rows=10),
        "wavefake": other_corpora.generate_wavefake(base / "wavefake"),
        "in-the-wild": other_corpora.generate_in_the_wild(base / "itw"),
        "folders": other_corpora.generate_class_folders(base / "tree"),
        "csv": other_corpora.generate_labels_csv(base / "csv"),
    }


@pytest.fixture(scope="module")
def built(corpora, tmp_path_factory):
    """corpus -> (out, manifest, examples), each built once with `--corpus` named explicitly."""
    result = {}
    for name, root in corpora.items():
        out = tmp_path_factory.mktemp(f"shards_{name}")
        result[name] = (out, *build(root, out, corpus="folders" if name == "csv" else name))
    return result


def test_for_keeps_its_official_splits_with_the_version_as_attack(corpora, built):
    root = corpora["for"]
    _, manifest, examples = built["for"]
    for split, (n_real, n_fake) in FOR_COUNTS.items():
        assert manifest["splits"][split]["counts"] == {"bonafide": n_real, "spoof": n_fake}
        assert manifest["splits"][split]["attacks"] == {"-": n_real, "for-norm": n_fake}
    for example in examples:
        folder = FOR_FOLDERS[example["split"]]
        path = root / example["id"]
        assert path.parts[-3:-1] == (folder, "fake" if example["target"] else "real")
        np.testing.assert_array_equal(example["pcm"], sf.read(path, dtype="int16")[0])
        assert (example["corpus"], example["track"]) == ("for", "for-norm")
    assert manifest["corpus"]["split_method"] == "official"


def test_deep_voice_split_keeps_each_faked_voice_in_one_split(corpora, built):
    _, manifest, examples = built["deep-voice"]
    n = len(other_corpora.DEEP_VOICE_SPEAKERS)
    assert manifest["totals"]["counts"] == {"bonafide": n, "spoof": n * (n - 1)}
    for example in examples:
        stem = example["id"].split("/", 1)[1]
        voice = stem.split("-to-")[1] if example["target"] else stem.split("-")[0]
        assert example["speaker_id"] == voice
        assert example["system_id"] == (voice if example["target"] else "-")
    groups = groups_per_split(examples, lambda e: e["speaker_id"])
    assert_disjoint(groups)
    assert all(groups[split] for split in ("train", "dev", "eval"))
    assignment = manifest["corpus"]["group_assignment"]
    assert all(assignment[e["speaker_id"]] == e["split"] for e in examples)


def test_wavefake_vocoders_are_attacks_and_chapters_never_straddle_splits(corpora, built):
    root = corpora["wavefake"]
    _, manifest, examples = built["wavefake"]
    n_real = len(list((root / "LJSpeech-1.1" / "wavs").glob("*.wav")))
    expected = {"-": n_real, **{folder: n_real for folder in other_corpora.WAVEFAKE_VOCODERS}}
    assert manifest["totals"]["attacks"] == expected
    assert len(manifest["resampled"]) == manifest["totals"]["num_examples"]  # LJSpeech rate 22050 -> 16000
    assert {e["sample_rate"] for e in examples} == {16000}
    assert_disjoint(groups_per_split(examples, lambda e: e["id"].split("/")[-1][:5]))  # LJccc


def test_in_the_wild_counts_follow_meta_csv_and_speakers_are_disjoint(corpora, built):
    with open(corpora["in-the-wild"] / "release_in_the_wild" / "meta.csv", newline="") as f:
        meta = {row["file"].split(".")[0]: row for row in csv.DictReader(f)}
    _, manifest, examples = built["in-the-wild"]
    assert sorted(e["id"] for e in examples) == sorted(meta)
    for example in examples:
        row = meta[example["id"]]
        assert example["target"] == int(row["label"] == "spoof")
        assert example["speaker_id"] == row["speaker"].replace(" ", "_")
    assert_disjoint(groups_per_split(examples, lambda e: e["speaker_id"]))
    spoof_per_speaker = collections.Counter(r["speaker"].replace(" ", "_") for r in meta.values()
                                            if r["label"] == "spoof")
    assert {k: v for k, v in manifest["totals"]["attacks"].items() if k != "-"} == dict(spoof_per_speaker)


def test_class_folder_tree_uses_the_sub_folder_as_attack(corpora, built):
    root = corpora["folders"]
    _, manifest, examples = built["folders"]
    files = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.wav"))
    assert sorted(e["id"] for e in examples) == files
    for example in examples:
        assert example["system_id"] == (example["id"].split("/")[1] if example["target"] else "-")


def test_csv_groups_are_split_disjointly(corpora, built):
    with open(corpora["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    _, manifest, examples = built["csv"]
    group_of = {row["path"].rsplit(".", 1)[0]: row["group"] for row in rows}
    assert sorted(e["id"] for e in examples) == sorted(group_of)
    assert_disjoint(groups_per_split(examples, lambda e: group_of[e["id"]]))
    assert manifest["corpus"]["groups"] == {s: len(g) for s, g in
                                            groups_per_split(examples, lambda e: group_of[e["id"]]).items()}


def test_shards_of_every_corpus_share_one_schema(built):
    keys = set()
    for out, manifest, _ in built.values():
        shard = out / manifest["splits"]["train"]["shards"][0]["file"]
        record = next(iter(tf.data.TFRecordDataset(str(shard))))
        keys.add(tuple(sorted(tf.train.Example.FromString(record.numpy()).features.feature)))
    assert len(keys) == 1


def test_same_seed_same_bytes_and_assignment(corpora, built, tmp_path):
    out, manifest, _ = built["in-the-wild"]
    again, _ = build(corpora["in-the-wild"], tmp_path / "again", corpus="in-the-wild")
    assert again["splits"] == manifest["splits"] and again["corpus"] == manifest["corpus"]


@pytest.mark.parametrize("name", ["for", "deep-voice", "wavefake", "in-the-wild", "folders", "csv"])
def test_auto_detection_finds_each_layout(corpora, name):
    reader, _, _ = detect(corpora[name])
    assert reader.NAME == ("folders" if name == "csv" else name)


def test_auto_detection_of_asvspoof_builds_what_the_explicit_corpus_builds(la_corpus, tmp_path):
    explicit, _ = build(la_corpus, tmp_path / "explicit", splits=("dev",))
    auto, _ = build(la_corpus, tmp_path / "auto", splits=("dev",), corpus="auto")
    assert "corpus" not in explicit and "corpus" not in explicit["build_config"]
    assert {**auto, "build_config": None} == {**explicit, "build_config": None}
    assert {k: v for k, v in auto["build_config"].items() if k != "out"} == {
        k: v for k, v in explicit["build_config"].items() if k != "out"}


def test_nothing_detected_lists_what_was_looked_for(tmp_path):
    (tmp_path / "music").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        detect(tmp_path / "music")
    message = str(error.value)
    for name, clue in [("asvspoof2019", "ASVspoof2019_LA_cm_protocols"), ("for", "training"),
                       ("deep-voice", "AUDIO"), ("wavefake", "generated_audio"), ("in-the-wild", "meta.csv"),
                       ("folders", "real")]:
        assert f"{name}:" in message and clue in message


def test_cli_split_ratios_are_recorded_and_refused_for_official_splits(corpora, tmp_path, capsys):
    args = ["--corpus", "auto", "--quiet", "--split-ratios", "0.5,0.25,0.25"]
    assert build_main(args + ["--data", str(corpora["in-the-wild"]), "--out", str(tmp_path / "itw")]) == 0
    manifest = json.loads((tmp_path / "itw" / "manifest.json").read_text())
    assert manifest["corpus"]["split_ratios"] == [0.5, 0.25, 0.25]
    assert manifest["build_config"]["corpus"] == "in-the-wild"
    assert build_main(args + ["--data", str(corpora["for"]), "--out", str(tmp_path / "for")]) == 1
    assert "split_ratios does not apply to for" in capsys.readouterr().err


def _break_csv(csv_path, tmp_path, breakage):
    lines = csv_path.read_text().splitlines()
    copy = tmp_path / "csv"
    copy.mkdir()
    for line in lines[1:]:
        path = line.split(",")[0]
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes((csv_path.parent / path).read_bytes())
    if breakage == "label":
        lines.append(lines[1].split(",")[0] + ",maybe,spk0")
        where, reason = f"labels.csv:{len(lines)}", "unknown label 'maybe'"
    else:
        missing = lines[3].split(",")[0]
        (copy / missing).unlink()
        where, reason = missing, "missing audio file"
    (copy / "labels.csv").write_text("\n".join(lines) + "\n")
    return copy / "labels.csv", where, reason, len(lines) - 1


@pytest.mark.parametrize("breakage", ["label", "missing"])
def test_bad_csv_input_fails_naming_it_or_is_skipped_and_recorded(corpora, tmp_path, breakage):
    csv_path, where, reason, n_rows = _break_csv(corpora["csv"], tmp_path, breakage)
    with pytest.raises(BuildError, match=reason) as error:
        build_shards(BuildConfig(data=str(csv_path), out=str(tmp_path / "a"), corpus="folders"), progress=False)
    assert where in str(error.value)
    manifest, _ = build(csv_path, tmp_path / "b", corpus="folders", on_error="skip")
    assert len(manifest["skipped"]) == 1 and reason in manifest["skipped"][0]["reason"]
    skipped = manifest["skipped"][0]
    assert where in f"{skipped['file']}:{skipped['line']}" or where == skipped["file"]
    assert manifest["totals"]["num_examples"] == n_rows - 1


def test_class_folders_under_split_folders_keep_their_split(tmp_path):
    for split in ("train", "eval"):
        other_corpora.generate_class_folders(tmp_path / "data" / split, n_real=2, fakes={"vits": 2}, seed=len(split))
    manifest, examples = build(tmp_path / "data", tmp_path / "out", corpus="folders")
    assert {e["id"].split("/")[0] == e["split"] for e in examples} == {True}
    assert manifest["splits"]["dev"]["num_examples"] == 0 and manifest["corpus"]["split_method"] == "official"


def test_several_for_versions_need_a_track(tmp_path):
    counts = {"train": (1, 1)}
    other_corpora.generate_for(tmp_path, "for-norm", counts=counts)
    other_corpora.generate_for(tmp_path, "for-2seconds", counts=counts)
    with pytest.raises(FileNotFoundError, match=r"several FoR versions .*choose one with --track"):
        detect(tmp_path)
    manifest, examples = build(tmp_path, tmp_path / "out", corpus="for", track="for-2seconds", splits=("train",))
    assert {e["track"] for e in examples} == {"for-2seconds"}
