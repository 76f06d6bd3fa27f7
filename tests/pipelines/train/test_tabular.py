"""`fakespeech train --features-csv`: reading DEEP-VOICE's feature table, the split, and a tiny training run."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from pipelines.commands.train import main as train_main
from pipelines.features_csv import FEATURE_COLUMNS, load_features_csv, stratified_split
from tfrecord_builder.synthetic.other_corpora import deep_voice_feature_table, write_deep_voice_features


def _write(path, columns, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in [columns] + rows) + "\n")
    return path


def test_load_matches_pandas(tmp_path):
    path = write_deep_voice_features(tmp_path / "f.csv", 12, seed=3)
    features, targets, lines = load_features_csv(path)
    frame = pd.read_csv(path)
    np.testing.assert_allclose(features, frame[list(FEATURE_COLUMNS)].to_numpy(np.float32))
    np.testing.assert_array_equal(targets, (frame["LABEL"] == "FAKE").to_numpy(int))
    np.testing.assert_array_equal(lines, np.arange(len(frame)) + 2)


@pytest.mark.parametrize("breakage", ["missing_column", "bad_value", "bad_label"])
def test_bad_table_names_file_line_and_column(tmp_path, breakage):
    columns, rows = deep_voice_feature_table(6, seed=0)
    if breakage == "missing_column":
        drop = columns.index("mfcc7")
        columns = columns[:drop] + columns[drop + 1:]
        rows = [r[:drop] + r[drop + 1:] for r in rows]
        expected = r"f\.csv:1: missing column\(s\) \['mfcc7'\]"
    elif breakage == "bad_value":
        rows[3][columns.index("rms")] = "loud"
        expected = r"f\.csv:5: column rms: 'loud' is not a number"
    else:
        rows[2][-1] = "MAYBE"
        expected = r"f\.csv:4: column LABEL: expected REAL or FAKE, got 'MAYBE'"
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


@pytest.mark.slow
def test_train_writes_a_run_whose_scores_are_minus_the_logits(tmp_path):
    path = write_deep_voice_features(tmp_path / "DATASET-balanced.csv", 120, seed=1)
    run = tmp_path / "run"
    assert train_main(["--features-csv", str(path), "--run-dir", str(run), "--epochs", "3", "--seed", "2",
                       "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    features, targets, lines = load_features_csv(path)
    parts = stratified_split(targets, seed=2)
    train = features[parts["train"]].astype(np.float64)
    np.testing.assert_allclose(config["mean"], train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(config["std"], train.std(axis=0), rtol=1e-4)
    assert len(pd.read_csv(run / "history.csv")) == 3
    scores = pd.read_csv(run / "scores.txt", sep=" ", names=["utt", "attack", "key", "score"])
    assert scores["utt"].tolist() == [f"line{n}" for n in lines[parts["test"]]]
    model = keras.saving.load_model(run / "model.keras")
    test = (features[parts["test"]] - np.array(config["mean"])) / np.array(config["std"])
    logits = model.predict(test.astype(np.float32), verbose=0).reshape(-1)
    np.testing.assert_allclose(scores["score"], -logits, rtol=1e-4, atol=1e-5)
    report = json.loads((run / "report.json").read_text())
    assert report["pooled"]["eer"] is not None and (run / "report.md").is_file()
