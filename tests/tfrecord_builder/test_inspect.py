"""`fakespeech inspect` counts per split, label and attack, from protocols or from a shard manifest."""

import collections
import json

from tfrecord_builder.builder import build_shards
from pipelines.commands.inspect import main as inspect_main
from tfrecord_builder.config import BuildConfig


def _protocol_counts(root, track, layout_prefix=""):
    """Counts from the protocol text by plain string splitting, independent of the parser."""
    counts = {}
    folder = root / layout_prefix / track / f"ASVspoof2019_{track}_cm_protocols"
    for split, suffix in (("train", "trn"), ("dev", "trl"), ("eval", "trl")):
        text = (folder / f"ASVspoof2019.{track}.cm.{split}.{suffix}.txt").read_text()
        rows = [line.split() for line in text.splitlines()]
        counts[split] = {
            "num_examples": len(rows),
            "counts": {key: sum(r[4] == key for r in rows) for key in ("bonafide", "spoof")},
            "attacks": dict(sorted(collections.Counter(r[3] for r in rows).items())),
        }
    return counts


def test_inspect_corpus_json_equals_protocol_counts(la_corpus_kaggle, capsys):
    assert inspect_main([str(la_corpus_kaggle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == _protocol_counts(la_corpus_kaggle, "LA", layout_prefix="LA")


def test_inspect_table_lists_each_split_label_and_attack(pa_corpus, capsys):
    assert inspect_main([str(pa_corpus)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    for split, info in _protocol_counts(pa_corpus, "PA").items():
        for attack, n in info["attacks"].items():
            assert [split, "bonafide" if attack == "-" else "spoof", attack, str(n)] in lines
        assert [split, "total", str(info["num_examples"])] in lines


def test_inspect_shard_folder_reads_the_manifest(la_corpus, tmp_path, capsys):
    config = BuildConfig(data=str(la_corpus), out=str(tmp_path), splits=("dev",), num_shards=2)
    build_shards(config, progress=False)
    assert inspect_main([str(tmp_path), "--json"]) == 0
    expected = _protocol_counts(la_corpus, "LA")["dev"]
    assert json.loads(capsys.readouterr().out) == {"dev": {**expected, "num_shards": 2}}


def test_inspect_unknown_path_names_it(tmp_path, capsys):
    assert inspect_main([str(tmp_path)]) == 1
    assert f"{tmp_path} is neither a shard folder" in capsys.readouterr().err


def test_inspect_counts_a_corpus_of_another_layout(tmp_path, capsys):
    import csv

    from tfrecord_builder.synthetic.other_corpora import generate_in_the_wild

    root = generate_in_the_wild(tmp_path / "itw")
    with open(next(root.rglob("meta.csv")), newline="", encoding="utf-8") as f:
        labels = [row["label"] for row in csv.DictReader(f)]
    assert inspect_main([str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sum(info["num_examples"] for info in summary.values()) == len(labels)
    assert sum(info["counts"]["spoof"] for info in summary.values()) == labels.count("spoof")
