"""`fakespeech build --vocode/--codecs`: the copies round-trip through real shards with their manifest records,
deterministically, resumably, never into eval; and every bad value is refused before any work, naming the option."""

import json
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfrecord_builder.builder import BuildError, build_shards, plan_build
from pipelines.commands.build import main as build_main
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import find_corpus_root
from tfrecord_builder.protocols import parse_protocol, protocol_file
from tfrecord_builder.schema import parse_example

VOCODERS = ("world", "griffinlim", "lpc", "phase_vocoder")
CODECS = ("mp3:32k", "ogg:q2", "opus:24k")
PER_CLASS = 3  # utterances per class and split kept from the session corpus: a few seconds per build


def _config(corpus, out, **overrides):
    values = dict(data=str(corpus), out=str(out), splits=("train", "dev", "eval"), num_shards=2,
                  max_per_class=PER_CLASS)
    return BuildConfig(**{**values, **overrides})


def _examples(out):
    """Every example of every shard in `out`, decoded: {id: fields with `audio` as int16}."""
    decoded = {}
    for path in sorted(out.glob("*.tfrec")):
        for record in tf.data.TFRecordDataset(str(path)):
            fields = parse_example(record)
            example = {k: v.numpy().decode() if v.dtype == tf.string else int(v.numpy())
                       for k, v in fields.items() if k != "audio"}
            example["audio"] = np.frombuffer(fields["audio"].numpy(), "<i2")
            example["shard"] = path.name
            decoded[example["id"]] = example
    return decoded


def _sources(corpus, config):
    """The protocol lines the build keeps, {utt_id: ProtocolEntry} (what the copies must derive from)."""
    plans, _ = plan_build(find_corpus_root(corpus, "LA"), config.replace(vocode=[], codecs=[]))
    kept = {e.utt_id for plan in plans for e in plan.entries}
    entries = {}
    for split in config.splits:
        listed, _ = parse_protocol(protocol_file(corpus / "LA", "LA", split), "LA")
        entries.update({e.utt_id: (split, e) for e in listed if e.utt_id in kept})
    return entries


@pytest.fixture(scope="module")
def vocoded(la_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("vocoded")
    config = _config(la_corpus, out, vocode=VOCODERS, workers=2)
    return config, build_shards(config, progress=False), _examples(out)


def test_every_train_and_dev_bona_fide_gets_one_spoof_copy_per_vocoder(la_corpus, vocoded):
    config, _, examples = vocoded
    sources = _sources(la_corpus, config)
    expected = {f"{utt}-{name}": (split, entry) for utt, (split, entry) in sources.items()
                for name in VOCODERS if entry.key == "bonafide" and split in ("train", "dev")}
    copies = {utt: ex for utt, ex in examples.items() if utt not in sources}
    assert set(copies) == set(expected)
    for utt, example in copies.items():
        split, source = expected[utt]
        vocoder = utt.rsplit("-", 1)[1]
        assert (example["target"], example["system_id"]) == (1, f"V-{vocoder}")
        assert (example["speaker_id"], example["split"]) == (source.speaker_id, split)


def test_a_vocoded_copy_differs_from_its_source_and_is_as_long(vocoded):
    _, _, examples = vocoded
    for utt, example in examples.items():
        if example["system_id"].startswith("V-"):
            source = examples[utt.rsplit("-", 1)[0]]["audio"].astype(np.float64)
            copy = example["audio"].astype(np.float64)
            assert copy.shape == source.shape
            assert np.linalg.norm(copy - source) / np.linalg.norm(source) > 0.5


def test_vocoded_copies_are_stratified_over_the_shards_like_any_attack(vocoded):
    _, manifest, _ = vocoded
    for split in ("train", "dev"):
        for vocoder in VOCODERS:
            per_shard = [shard["attacks"].get(f"V-{vocoder}", 0) for shard in manifest["splits"][split]["shards"]]
            assert max(per_shard) - min(per_shard) <= 1 and sum(per_shard) == PER_CLASS


def test_the_manifest_records_each_vocoder_its_copies_parameters_and_versions(vocoded):
    _, manifest, examples = vocoded
    record = manifest["variants"]
    assert record["vocode_splits"] == ["train", "dev"] and record["codecs"] == {}
    for vocoder in VOCODERS:
        info = record["vocoders"][vocoder]
        counted = {split: sum(1 for e in examples.values() if e["system_id"] == f"V-{vocoder}" and e["split"] == split)
                   for split in ("train", "dev")}
        assert info["copies"] == counted == {"train": PER_CLASS, "dev": PER_CLASS}
        assert info["system_id"] == f"V-{vocoder}" and info["params"] and info["versions"]["numpy"] == np.__version__
    assert "pyworld" in record["vocoders"]["world"]["versions"]
    assert "V-world" not in manifest["splits"]["eval"]["attacks"]


def test_a_build_with_copies_is_the_same_bytes_with_one_worker_or_two(la_corpus, vocoded, tmp_path):
    config, manifest, _ = vocoded
    single = build_shards(config.replace(out=str(tmp_path), workers=1), progress=False)
    assert [s["sha256"] for s in single["splits"]["train"]["shards"]] == \
        [s["sha256"] for s in manifest["splits"]["train"]["shards"]]
    assert [s["sha256"] for s in single["splits"]["dev"]["shards"]] == \
        [s["sha256"] for s in manifest["splits"]["dev"]["shards"]]


def test_a_build_with_copies_interrupted_midway_resumes_to_the_same_bytes(la_corpus, vocoded, tmp_path):
    config, manifest, _ = vocoded
    corpus = tmp_path / "corpus"
    shutil.copytree(la_corpus, corpus)
    out = tmp_path / "out"
    resumed_config = config.replace(data=str(corpus), out=str(out), workers=1)  # bytes do not depend on it
    plans, _ = plan_build(find_corpus_root(corpus, "LA"), resumed_config)
    last = [p for p in plans if p.split == "dev"][-1]
    source = next(e for e in last.entries if getattr(e, "variant", None))  # a copy's source, in the last shard
    flac = corpus / "LA" / "ASVspoof2019_LA_dev" / "flac" / f"{source.source_id}.flac"
    good = flac.read_bytes()
    flac.write_bytes(b"not audio")
    with pytest.raises(BuildError, match=flac.name):
        build_shards(resumed_config, progress=False)
    assert (out / ".fakespeech-build.json").is_file() and not (out / "manifest.json").exists()
    flac.write_bytes(good)
    resumed = build_shards(resumed_config, progress=False)
    for split in ("train", "dev", "eval"):
        assert [s["sha256"] for s in resumed["splits"][split]["shards"]] == \
            [s["sha256"] for s in manifest["splits"][split]["shards"]]
    assert resumed["variants"] == manifest["variants"]


def test_resuming_with_another_vocoder_list_is_refused(vocoded):
    config, _, _ = vocoded
    with pytest.raises(BuildError, match="vocode"):
        build_shards(config.replace(vocode=["world"]), progress=False)


def test_codec_copies_keep_their_sources_key_speaker_and_system(la_corpus, tmp_path):
    config = _config(la_corpus, tmp_path, codecs=CODECS)
    manifest = build_shards(config, progress=False)
    examples = _examples(tmp_path)
    sources = _sources(la_corpus, config)
    train = [utt for utt, (split, _) in sources.items() if split == "train"]
    expected = {f"{utt}-{c.replace(':', '-')}": utt for utt in train for c in CODECS}
    assert set(examples) == set(sources) | set(expected)  # dev and eval get no codec copies by default
    for utt, source_id in expected.items():
        split, source = sources[source_id]
        example = examples[utt]
        assert example["target"] == (source.key == "spoof") and example["system_id"] == source.system_id
        assert (example["speaker_id"], example["split"]) == (source.speaker_id, "train")
        assert example["audio"].shape == examples[source_id]["audio"].shape
        assert not np.array_equal(example["audio"], examples[source_id]["audio"])
    for codec in CODECS:
        info = manifest["variants"]["codecs"][codec]
        assert info["copies"] == {"train": len(train)} and info["versions"]["libsndfile"]
    assert manifest["variants"]["codecs"]["mp3:32k"]["bitrate_kbps"] == 32
    assert manifest["variants"]["codecs"]["ogg:q2"]["vorbis_quality"] == 2


def test_codec_copies_are_the_same_bytes_with_one_worker_or_two(la_corpus, tmp_path):
    config = _config(la_corpus, tmp_path / "one", splits=("train",), codecs=CODECS)
    one = build_shards(config, progress=False)
    two = build_shards(config.replace(out=str(tmp_path / "two"), workers=2), progress=False)
    assert [s["sha256"] for s in one["splits"]["train"]["shards"]] == \
        [s["sha256"] for s in two["splits"]["train"]["shards"]]


def test_resuming_copies_made_with_another_vocoder_version_is_refused(vocoded, tmp_path):
    config, _, _ = vocoded
    out = tmp_path / "out"
    shutil.copytree(config.out, out)
    (out / "manifest.json").unlink()  # as an interrupted build leaves it: only the build record
    record = json.loads((out / ".fakespeech-build.json").read_text())
    record["variants"]["vocoders"]["world"]["versions"]["pyworld"] = "0.2.0"  # what another install ran
    (out / ".fakespeech-build.json").write_text(json.dumps(record))
    with pytest.raises(BuildError, match="other parameters or versions"):
        build_shards(config.replace(out=str(out)), progress=False)


def test_a_users_keras_vocoder_round_trips_through_the_build(la_corpus, tmp_path, keras_generator):
    generator = keras_generator(name="hifigan_tiny")
    config = _config(la_corpus, tmp_path / "out", splits=("train",), vocode=[f"keras:{generator}"])
    manifest = build_shards(config, progress=False)
    copies = [e for e in _examples(tmp_path / "out").values() if e["system_id"] == "V-keras-hifigan_tiny"]
    assert len(copies) == PER_CLASS and all(e["id"].endswith("-keras-hifigan_tiny") for e in copies)
    info = manifest["variants"]["vocoders"][f"keras:{generator}"]
    assert info["params"]["mel"]["n_mels"] == 16 and len(info["params"]["model_sha256"]) == 64


# --- bad input: refused before any work, naming the option and the value ------------------------------------


def _cli(corpus, out, *flags):
    return build_main(["--data", str(corpus), "--out", str(out), "--max-per-class", "2", "--quiet", *flags])


@pytest.mark.parametrize("flags, named, status", [
    (["--vocode", "world,melgan"], "--vocode 'melgan'", 2),
    (["--vocode", "griffinlim:bark"], "--vocode 'griffinlim:bark'", 2),
    (["--vocode", "world", "--vocode-splits", "train,eval"], "eval is never vocoded", 2),
    (["--codecs", "mp3:32k", "--codec-splits", "eval"], "eval is never given codec copies", 2),
    (["--codecs", "aac:64k"], "--codecs 'aac:64k'", 2),
    (["--codecs", "opus:24k", "--sample-rate", "22050"], "--codecs 'opus:24k'", 2),
    (["--vocode", "keras:/no/such/vocoder.keras"], "--vocode 'keras:/no/such/vocoder.keras'", 1),
])
def test_a_bad_value_is_refused_naming_the_option_before_any_work(la_corpus, tmp_path, capsys, flags, named, status):
    assert _cli(la_corpus, tmp_path / "out", *flags) == status
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_vocoder_whose_package_is_missing_is_refused_naming_it(la_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyworld", None)  # what Python does for a package that cannot be imported
    assert _cli(la_corpus, tmp_path / "out", "--vocode", "lpc,world") == 1
    err = capsys.readouterr().err
    assert "--vocode 'world'" in err and "pyworld" in err and "pip install" in err
    assert not (tmp_path / "out").exists()


def test_a_keras_vocoder_without_its_mel_sidecar_is_refused_naming_the_file(la_corpus, tmp_path, capsys,
                                                                          keras_generator):
    generator = keras_generator()
    generator.with_suffix(".json").unlink()
    assert _cli(la_corpus, tmp_path / "out", "--vocode", f"keras:{generator}") == 1
    err = capsys.readouterr().err
    assert f"--vocode 'keras:{generator}'" in err and str(generator.with_suffix(".json")) in err
    assert not (tmp_path / "out").exists()


def test_copies_are_listed_in_the_build_summary(la_corpus, tmp_path, capsys):
    assert _cli(la_corpus, tmp_path / "out", "--splits", "train", "--vocode", "lpc", "--codecs", "ogg:q2") == 0
    out = capsys.readouterr().out
    assert "vocoded spoof copies by lpc as V-lpc: 2 (train 2)" in out
    assert "codec copies by ogg:q2: 4 (train 4)" in out
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["build_config"]["vocode"] == ["lpc"]
