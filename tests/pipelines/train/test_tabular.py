"""`fakespeech train --features-csv`: reading DEEP-VOICE's feature table, the run's configuration, and a run
trained on a generated table (no audio): its model, calibration, test-row report, resume and refusals."""

import hashlib
import json
import os

import keras
import numpy as np
import pandas as pd
import pytest

from pipelines.commands.train import main as train_main
from pipelines.config.stages import RunConfig, TabularConfig
from pipelines.evaluate.calibration import Calibrator
from pipelines.run_dir import RunDir
from pipelines.train.tabular import FEATURE_COLUMNS, load_features_csv, stratified_split, tabular_run_config
from tfrecord_builder.dataclass_config import ConfigError
from tfrecord_builder.synthetic.other_corpora import deep_voice_feature_table, write_deep_voice_features

TINY_DNN = ["--set", "model.params.hidden_units=[8]", "--set", "model.params.dropout=0.0"]


def _write(path, columns, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in [columns] + rows) + "\n")
    return path


def test_load_matches_pandas(tmp_path):
    path = write_deep_voice_features(tmp_path / "f.csv", 12, seed=3)
    table = load_features_csv(path)
    frame = pd.read_csv(path)
    np.testing.assert_allclose(table.features, frame[list(FEATURE_COLUMNS)].to_numpy(np.float32))
    np.testing.assert_array_equal(table.targets, (frame["LABEL"] == "FAKE").to_numpy(int))
    np.testing.assert_array_equal(table.lines, np.arange(len(frame)) + 2)


def test_columns_in_another_order_are_read_by_name(tmp_path):
    columns, rows = deep_voice_feature_table(6, seed=1)
    order = list(reversed(range(len(columns))))
    shuffled = _write(tmp_path / "r.csv", [columns[i] for i in order], [[row[i] for i in order] for row in rows])
    frame = pd.read_csv(shuffled)
    np.testing.assert_allclose(load_features_csv(shuffled).features, frame[list(FEATURE_COLUMNS)].to_numpy(np.float32))


@pytest.mark.parametrize("change, missing, extra", [
    ("drop", "['mfcc7']", None),
    ("add", None, "['filename']"),
    ("rename", "['mfcc7']", "['MFCC7']"),
])
def test_columns_that_differ_are_named_with_the_file(tmp_path, change, missing, extra):
    columns, rows = deep_voice_feature_table(6, seed=0)
    drop = columns.index("mfcc7")
    if change == "drop":
        columns, rows = columns[:drop] + columns[drop + 1:], [r[:drop] + r[drop + 1:] for r in rows]
    elif change == "add":
        columns, rows = columns + ["filename"], [r + [f"clip{i}.wav"] for i, r in enumerate(rows)]
    else:
        columns = columns[:drop] + ["MFCC7"] + columns[drop + 1:]
    with pytest.raises(ValueError) as caught:
        load_features_csv(_write(tmp_path / "f.csv", columns, rows))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'f.csv'}:1: the columns are not DEEP-VOICE's 26 features and LABEL")
    assert (f"missing {missing}" in message) == (missing is not None) and ("missing" in message) == bool(missing)
    assert (f"extra {extra}" in message) == (extra is not None) and ("extra" in message) == bool(extra)


def test_a_table_with_wrong_columns_is_refused_before_anything_is_written(tmp_path, capsys):
    columns, rows = deep_voice_feature_table(6, seed=0)
    path = _write(tmp_path / "f.csv", columns[1:], [r[1:] for r in rows])
    assert train_main(["--features-csv", str(path), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 1
    assert "missing ['chroma_stft']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("other", [["--shards", "shards"], ["--preset", "demo"]])
def test_shards_and_presets_do_not_go_with_a_table(tmp_path, capsys, other):
    path = write_deep_voice_features(tmp_path / "f.csv", 10, seed=2)
    assert train_main(["--features-csv", str(path), "--run-dir", str(tmp_path / "run"), *other]) == 2
    assert "--shards and --preset do not apply" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_split_that_leaves_a_part_with_one_label_is_refused_before_anything_is_written(tmp_path, capsys):
    columns, rows = deep_voice_feature_table(20, seed=0)
    real, fake = [r for r in rows if r[-1] == "REAL"], [r for r in rows if r[-1] == "FAKE"]
    path = _write(tmp_path / "f.csv", columns, real + fake[:3])  # 10 REAL, 3 FAKE: no FAKE test row
    assert train_main(["--features-csv", str(path), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 1
    assert "the test rows of the split hold 2 REAL and 0 FAKE rows" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("breakage", ["bad_value", "bad_label", "short_row"])
def test_bad_rows_name_file_line_and_column(tmp_path, breakage):
    columns, rows = deep_voice_feature_table(6, seed=0)
    if breakage == "bad_value":
        rows[3][columns.index("rms")] = "loud"
        expected = r"f\.csv:5: column rms: 'loud' is not a number"
    elif breakage == "bad_label":
        rows[2][-1] = "MAYBE"
        expected = r"f\.csv:4: column LABEL: expected REAL or FAKE, got 'MAYBE'"
    else:
        rows[1] = rows[1][:-2]
        expected = r"f\.csv:3: expected 27 fields, got 25"
    with pytest.raises(ValueError, match=expected):
        load_features_csv(_write(tmp_path / "f.csv", columns, rows))


def test_split_is_disjoint_complete_stratified_and_seeded():
    targets = np.array([0] * 40 + [1] * 20)
    parts = stratified_split(targets, seed=5)
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(len(targets)))
    assert [int(targets[parts[p]].sum()) for p in ("train", "dev", "test")] == [14, 3, 3]
    assert [int((targets[parts[p]] == 0).sum()) for p in ("train", "dev", "test")] == [28, 6, 6]
    again = stratified_split(targets, seed=5)
    assert all(np.array_equal(parts[p], again[p]) for p in parts)


def test_the_configuration_is_a_one_second_deep_voice_run_recording_the_table(tmp_path):
    path = write_deep_voice_features(tmp_path / "f.csv", 40, seed=2)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    targets = (pd.read_csv(path)["LABEL"] == "FAKE").to_numpy(int)
    run_config, parts = tabular_run_config(str(path), sha, targets, overrides=["tabular.split_seed=4"])
    again = RunConfig.from_dict(json.loads(json.dumps(run_config.to_dict())))  # what config.json gives back
    assert again == run_config
    assert (again.features.kind, again.features.sample_rate, again.data.sample_rate, again.data.clip_samples,
            again.data.eval_windows, again.model.name, again.data.shards) == ("deep_voice", 22050, 22050, 22050,
                                                                             "all", "dnn", None)
    assert (again.tabular.csv, again.tabular.sha256, again.tabular.split_seed) == (str(path), sha, 4)
    assert again.tabular.rows == {"train": 28, "dev": 6, "test": 6}
    assert all(np.array_equal(parts[p], stratified_split(targets, 4)[p]) for p in parts)


@pytest.mark.parametrize("override, key", [
    ("tabular.sha256=" + "0" * 64, "tabular.sha256"),
    ("features.normalization=none", "features.normalization"),
    ("augment.noise_probability=0.5", "augment.noise_probability"),
    ("features.kind=logmel", "tabular"),
    ("data.clip_samples=16000", "data.clip_samples"),
    ("tabular.split_ratios=0,0.5,0.5", "tabular.split_ratios"),
    ("train.weight_averaging=swa", "train.weight_averaging"),
    ("train.strategy=tpu", "train.strategy"),
])
def test_settings_a_table_run_cannot_honour_are_refused_by_name(tmp_path, override, key):
    path = write_deep_voice_features(tmp_path / "f.csv", 10, seed=2)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tabular_run_config(str(path), "a" * 64, np.array([0, 1] * 5), overrides=[override])


def test_the_tabular_section_checks_its_values():
    good = {"csv": "/x.csv", "sha256": "b" * 64}
    TabularConfig.from_dict(good)
    for bad, key in (({"sha256": "B" * 64}, "tabular.sha256"), ({"csv": ""}, "tabular.csv"),
                     ({"rows": {"eval": 3}}, "tabular.rows"), ({"split_seed": -1}, "tabular.split_seed")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            TabularConfig.from_dict({**good, **bad})


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A run trained on a generated table of 120 rows (3 epochs), and the command that trained it."""
    root = tmp_path_factory.mktemp("table_run")
    path = write_deep_voice_features(root / "DATASET-balanced.csv", 120, seed=1)
    command = ["--features-csv", str(path), "--run-dir", str(root / "run"), "--epochs", "3", "--seed", "2",
               "--batch-size", "16", "--quiet", *TINY_DNN]
    assert train_main(command) == 0
    return root / "run", path, command


@pytest.mark.slow
def test_the_model_standardises_with_the_train_rows_and_scores_rows_as_the_report_says(table_run):
    run_dir, path, _ = table_run
    run = RunDir(run_dir)
    table = load_features_csv(path)
    parts = stratified_split(table.targets, seed=2)
    train = table.features[parts["train"]].astype(np.float64)
    model = run.load_model()  # the end-to-end model: waveform -> features -> normalisation -> dnn
    assert tuple(model.input.shape) == (None, 22050)
    normalization = model.get_layer("feature_normalization")
    np.testing.assert_allclose(np.ravel(normalization.mean), train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(normalization.variance), train.var(axis=0), rtol=1e-4)
    test = (table.features[parts["test"]] - train.mean(axis=0)) / train.std(axis=0)
    logits = keras.ops.convert_to_numpy(model.layers[-1](test.astype(np.float32))).reshape(-1)
    scores = pd.read_csv(run_dir / "eval-table-test" / "scores_table-test.txt", sep=" ",
                         names=["utt", "attack", "key", "score"])
    assert scores["utt"].tolist() == [f"line{n}" for n in table.lines[parts["test"]]]
    np.testing.assert_allclose(scores["score"], -logits, rtol=1e-4, atol=1e-5)
    assert len(pd.read_csv(run_dir / "history.csv")) == 3


@pytest.mark.slow
def test_calibration_is_fitted_on_the_dev_rows(table_run):
    run_dir, path, _ = table_run
    run = RunDir(run_dir)
    table = load_features_csv(path)
    parts = stratified_split(table.targets, seed=2)
    train = table.features[parts["train"]].astype(np.float64)
    dev = (table.features[parts["dev"]] - train.mean(axis=0)) / train.std(axis=0)
    scores = -keras.ops.convert_to_numpy(run.load_model().layers[-1](dev.astype(np.float32))).reshape(-1)
    expected = Calibrator.fit(scores, np.where(table.targets[parts["dev"]] == 1, "spoof", "bonafide"))
    state = run.load_calibration()
    assert state.source["features_csv"] == str(path) and state.source["dev_rows"] == len(parts["dev"])
    assert state.calibrator.slope == pytest.approx(expected.slope, rel=1e-3)
    assert state.calibrator.offset == pytest.approx(expected.offset, rel=1e-3, abs=1e-4)
    report = json.loads((run_dir / "eval-table-test" / "report.json").read_text())
    assert report["decision_at_dev_threshold"]["threshold"] == pytest.approx(state.threshold)


@pytest.mark.slow
def test_the_same_command_resumes_and_another_is_refused(table_run, capsys):
    run_dir, path, command = table_run
    model_bytes = (run_dir / "model.keras").read_bytes()
    assert train_main(command) == 0  # every epoch is in the backup: nothing runs again
    assert json.loads((run_dir / "summary.json").read_text())["epochs_run"] == 0
    assert (run_dir / "model.keras").read_bytes() == model_bytes
    config = (run_dir / "config.json").read_text()
    assert train_main([*command, "--set", "tabular.split_ratios=0.8,0.1,0.1"]) == 2
    assert "tabular.split_ratios" in capsys.readouterr().err
    original = path.read_text()
    path.write_text(original.replace("REAL", "FAKE", 1))  # the same path, other bytes: another table
    try:
        assert train_main(command) == 2
        assert "tabular.sha256" in capsys.readouterr().err
    finally:
        path.write_text(original)
    assert (run_dir / "config.json").read_text() == config and os.listdir(run_dir)
