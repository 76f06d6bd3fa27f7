"""CM protocol parsing, corpus-root detection, subset selection and stratified assignment (no audio)."""

import collections
import pathlib

import pytest

from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import find_corpus_root
from tfrecord_builder.protocols import read_protocol
from tfrecord_builder.sharding import assign_shards, select_subset

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "asvspoof2019" / "LA_cm_protocols"
REAL = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
        "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}
needs_real = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real ASVspoof2019 protocols absent: {SHARED} missing")


def _write(tmp_path, text, name="ASVspoof2019.LA.cm.train.trn.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@needs_real
@pytest.mark.parametrize("split, bonafide, spoof", [("train", 2580, 22800), ("dev", 2548, 22296),
                                                    ("eval", 7355, 63882)])
def test_real_protocols_parse_to_published_counts(split, bonafide, spoof):
    entries = read_protocol(SHARED / REAL[split], "LA")
    keys = collections.Counter(e.key for e in entries)
    assert (keys["bonafide"], keys["spoof"]) == (bonafide, spoof)


@needs_real
def test_real_eval_protocol_has_attacks_a07_to_a19_4914_each():
    entries = read_protocol(SHARED / REAL["eval"], "LA")
    attacks = collections.Counter(e.system_id for e in entries if e.key == "spoof")
    assert attacks == {f"A{n:02d}": 4914 for n in range(7, 20)}


def test_la_and_pa_lines_become_entries_with_line_numbers(tmp_path):
    la = _write(tmp_path, "LA_0079 LA_T_1138215 - - bonafide\n\nLA_0080 LA_T_1000001 - A03 spoof\n")
    pa = _write(tmp_path, "PA_0079 PA_T_0000001 abc BA spoof\n", "ASVspoof2019.PA.cm.train.trn.txt")
    assert [tuple(e) for e in read_protocol(la, "LA")] == [
        ("LA_0079", "LA_T_1138215", "-", "-", "bonafide", 1),
        ("LA_0080", "LA_T_1000001", "-", "A03", "spoof", 3),
    ]
    assert tuple(read_protocol(pa, "PA")[0]) == ("PA_0079", "PA_T_0000001", "abc", "BA", "spoof", 1)


@pytest.mark.parametrize("bad_line", [
    "LA_0079 LA_T_1000002 - bonafide",  # four fields
    "LA_0079 LA_T_1000002 - - genuine",  # unknown key
    "LA_0079 LA_T_1000002 - - spoof",  # spoof without attack
    "LA_0079 LA_T_1000001 - - bonafide",  # duplicate utterance
    "PA_0079 PA_T_1000002 - - bonafide",  # other track
])
def test_malformed_line_raises_naming_file_and_line(tmp_path, bad_line):
    path = _write(tmp_path, f"LA_0079 LA_T_1000001 - - bonafide\n{bad_line}\n")
    with pytest.raises(ValueError, match=f"{path}:2: "):
        read_protocol(path, "LA")


@pytest.mark.parametrize("layout", ["official", "track_folder", "kaggle"])
def test_corpus_root_found_from_each_layout(tmp_path, layout):
    root = tmp_path / "LA" if layout == "kaggle" else tmp_path
    (root / "LA" / "ASVspoof2019_LA_cm_protocols").mkdir(parents=True)
    given = root / "LA" if layout == "track_folder" else tmp_path
    assert find_corpus_root(given, "LA") == root.resolve()


def test_missing_protocol_folder_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no LA CM protocol folder found under {tmp_path}"):
        find_corpus_root(tmp_path, "LA")


def _synthetic_entries(bonafide, per_attack, attacks):
    from tfrecord_builder.protocols import ProtocolEntry

    rows = [("-", "bonafide")] * bonafide + [(a, "spoof") for a in attacks for _ in range(per_attack)]
    return [ProtocolEntry("LA_0001", f"LA_T_{i:07d}", "-", system, key, i + 1) for i, (system, key) in enumerate(rows)]


def _stratum_spread(plans):
    per_shard = [collections.Counter((e.key, e.system_id) for e in plan.entries) for plan in plans]
    strata = set().union(*per_shard)
    return max(max(c[s] for c in per_shard) - min(c[s] for c in per_shard) for s in strata)


def test_every_shard_holds_each_stratum_within_one():
    entries = _synthetic_entries(bonafide=257, per_attack=381, attacks=["A01", "A02", "A03", "A04", "A05", "A06"])
    plans = assign_shards(entries, "train", num_shards=16, seed=3)
    assert _stratum_spread(plans) <= 1
    sizes = [len(p.entries) for p in plans]
    assert max(sizes) - min(sizes) <= 1
    assert sorted(e.utt_id for p in plans for e in p.entries) == sorted(e.utt_id for e in entries)


@needs_real
def test_real_train_protocol_stratifies_over_sixteen_shards():
    plans = assign_shards(read_protocol(SHARED / REAL["train"], "LA"), "train", num_shards=16, seed=0)
    assert _stratum_spread(plans) <= 1


def test_assignment_is_a_function_of_the_seed():
    entries = _synthetic_entries(bonafide=20, per_attack=10, attacks=["A01", "A02"])

    def ids(seed):
        return [[e.utt_id for e in p.entries] for p in assign_shards(entries, "dev", 4, seed)]

    assert ids(5) == ids(5)
    assert ids(5) != ids(6)


def test_max_per_class_spreads_spoof_over_attacks():
    entries = _synthetic_entries(bonafide=30, per_attack=20, attacks=["A01", "A02", "A03"])
    kept = select_subset(entries, "train", max_per_class=10, seed=0)
    keys = collections.Counter(e.key for e in kept)
    attacks = collections.Counter(e.system_id for e in kept if e.key == "spoof")
    assert keys == {"bonafide": 10, "spoof": 10}
    assert max(attacks.values()) - min(attacks.values()) <= 1 and len(attacks) == 3


def test_balance_cuts_spoof_to_bonafide_count():
    entries = _synthetic_entries(bonafide=7, per_attack=20, attacks=["A01", "A02"])
    keys = collections.Counter(e.key for e in select_subset(entries, "train", balance=True, seed=0))
    assert keys == {"bonafide": 7, "spoof": 7}


def test_build_config_from_dict_is_strict_and_round_trips():
    config = BuildConfig.from_dict({"data": "d", "out": "o", "splits": "train,dev", "num_shards": "4"})
    assert config.splits == ("train", "dev") and config.num_shards == 4
    assert BuildConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown BuildConfig key.*'shards'"):
        BuildConfig.from_dict({"data": "d", "out": "o", "shards": 4})
    with pytest.raises(ValueError, match="seed: expected an integer"):
        BuildConfig.from_dict({"data": "d", "out": "o", "seed": "many"})
