"""DEEP-VOICE table runs on audio: a run trained from the CSV and a run trained on audio with the table features
are ordinary runs that `evaluate` (shards built at 22050 Hz), `predict` and `export` take.

The corpus is a miniature DEEP-VOICE layout of 2-3 s files at 22050 Hz; its table is made by librosa
(deep_voice_fixtures: the DEEP-VOICE definition, whole one-second windows), so the CSV run is trained on rows of
the very audio it then scores.
"""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import tensorflow as tf

from pipelines.commands.build import main as build_main
from pipelines.commands.train import main as train_main
from pipelines.data.datasets import make_dataset
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.evaluate.score_files import read_score_file
from pipelines.run_dir import RunDir
from pipelines.serve.export import export_run
from pipelines.serve.prediction import predict_files
from pipelines.train.tabular import stratified_split

import deep_voice_fixtures as dv  # tests/pipelines is on pytest's pythonpath (setup.cfg)

SR = dv.SAMPLE_RATE
TINY_DNN = ["--set", "model.params.hidden_units=[16]", "--set", "model.params.dropout=0.0"]
# The SavedModel runs the same TF graph as Keras: only float32 reassociation can differ.
SAVED_MODEL_TOLERANCE = 1e-5
# The model applied to the same windows in two graphs (whole model vs its dnn on given rows): float32 rounding.
FLOAT32_SLACK = 1e-5
# tests/pipelines/features/test_deep_voice.py also asserts that chroma_stft's median error is below 1e-5: its
# 1e-2 bound is for the few windows whose tuning estimate lands one histogram bin away.
CHROMA_MEDIAN_TOLERANCE = 1e-5


@dataclasses.dataclass(frozen=True)
class Corpus:
    labels: dict  # wav path -> "REAL" | "FAKE"
    rows: dict  # wav path -> librosa's (windows, 26) table rows
    table: pathlib.Path
    shards: pathlib.Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("deep_voice")
    labels = dv.write_corpus(root / "corpus")
    rows = dv.write_table(root / "DATASET-balanced.csv", labels)
    shards = root / "shards"
    assert build_main(["--corpus", "deep-voice", "--data", str(root / "corpus"), "--out", str(shards),
                       "--sample-rate", str(SR), "--quiet"]) == 0
    return Corpus(labels, rows, root / "DATASET-balanced.csv", shards)


@pytest.fixture(scope="module")
def csv_run(corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("csv_run") / "run"
    assert train_main(["--features-csv", str(corpus.table), "--run-dir", str(run_dir), "--epochs", "5",
                       "--batch-size", "8", "--seed", "1", "--quiet", *TINY_DNN]) == 0
    return RunDir(run_dir)


@pytest.fixture(scope="module")
def audio_run(corpus, tmp_path_factory):
    """The README's command for a run trained on audio with the table features (tiny dnn, two epochs)."""
    run_dir = tmp_path_factory.mktemp("audio_run") / "run"
    assert train_main(["--shards", str(corpus.shards), "--model", "dnn", "--set", "features.kind=deep_voice",
                       "--set", f"features.sample_rate={SR}", "--set", f"data.sample_rate={SR}",
                       "--set", f"data.clip_samples={SR}", "--set", "features.normalization_batches=2",
                       "--epochs", "2", "--batch-size", "4", "--run-dir", str(run_dir), "--quiet", *TINY_DNN]) == 0
    return RunDir(run_dir)


def _audio(path):
    samples, rate = sf.read(path, dtype="int16")
    assert rate == SR
    return samples.astype(np.float32) / 32768.0


def _covering_windows(y):
    """Consecutive one-second windows covering `y`, the last completed by repeating the audio from its start."""
    count = -(-len(y) // SR)
    return np.resize(y, count * SR).reshape(count, SR)


def _statistics(model):
    normalization = model.get_layer("feature_normalization")
    return np.ravel(normalization.mean).astype(np.float64), np.ravel(normalization.variance).astype(np.float64)


def logit_error_bound(backbone, input_error):
    """An upper bound on |dnn(z + e) - dnn(z)| for every |e| <= input_error, elementwise ((rows, 26) -> (rows,)).

    In inference a BatchNormalization scales each input by |gamma| / sqrt(moving_variance + epsilon); a Dense layer
    maps elementwise bounds through |kernel| (its ReLU or linear activation is 1-Lipschitz per element); Dropout is
    the identity. Any other layer fails the test rather than being bounded wrongly.
    """
    bound = np.asarray(input_error, np.float64)
    for layer in backbone.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout)):
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, variance = np.asarray(layer.gamma), np.asarray(layer.moving_variance)
            bound = bound * np.abs(gamma) / np.sqrt(variance + layer.epsilon)
        elif isinstance(layer, keras.layers.Dense):
            assert layer.activation in (keras.activations.relu, keras.activations.linear), layer.name
            bound = bound @ np.abs(np.asarray(layer.kernel, np.float64))
        else:
            raise AssertionError(f"no error bound for layer {layer.name} ({type(layer).__name__})")
    return bound.reshape(-1)


def feature_error_bound(rows, chroma_tolerance=None):
    """|ours - librosa| per element allowed by the per-column tolerances: absolute + relative * |librosa|."""
    absolute = np.array([dv.TOLERANCES[c][0] for c in dv.COLUMNS])
    relative = np.array([dv.TOLERANCES[c][1] for c in dv.COLUMNS])
    if chroma_tolerance is not None:
        absolute[dv.COLUMNS.index("chroma_stft")] = chroma_tolerance
    return absolute + relative * np.abs(rows)


@pytest.mark.slow
def test_predicted_windows_score_as_the_dnn_scores_the_librosa_rows(corpus, csv_run):
    model = csv_run.load_model()
    mean, variance = _statistics(model)
    # The standardisation is the train rows' (the split as the run's config.json records it).
    tabular = csv_run.load_config().tabular
    table = pd.read_csv(corpus.table)
    train = stratified_split((table["LABEL"] == "FAKE").to_numpy(int), tabular.split_seed,
                             tabular.split_ratios)["train"]
    assert len(train) == tabular.rows["train"]
    np.testing.assert_allclose(mean, table[list(dv.COLUMNS)].to_numpy()[train].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(variance, table[list(dv.COLUMNS)].to_numpy()[train].var(axis=0), rtol=1e-5)
    backbone = model.layers[-1]  # the dnn that was trained on the standardised rows
    files = sorted(corpus.labels)
    results = predict_files(csv_run.path, files)
    differences, bounds, typical_bounds = [], [], []
    for path, result in zip(files, results):
        rows = corpus.rows[path]
        assert result["windows"] == -(-len(_audio(path)) // SR)  # whole file, the last window padded
        windows = np.array([w["score"] for w in result["timeline"]])
        assert result["score"] == pytest.approx(np.mean(windows))  # pooled: the mean
        assert [w["start"] for w in result["timeline"][:len(rows)]] == pytest.approx(np.arange(len(rows)))
        standardised = ((rows - mean) / np.sqrt(variance)).astype(np.float32)
        reference = -keras.ops.convert_to_numpy(backbone(standardised)).reshape(-1)
        differences.append(np.abs(windows[:len(rows)] - reference))  # the whole windows, which the table has
        slack = FLOAT32_SLACK * (1 + np.abs(reference))
        bounds.append(logit_error_bound(backbone, feature_error_bound(rows) / np.sqrt(variance)) + slack)
        typical_bounds.append(logit_error_bound(
            backbone, feature_error_bound(rows, CHROMA_MEDIAN_TOLERANCE) / np.sqrt(variance)) + slack)
    differences, bounds = np.concatenate(differences), np.concatenate(bounds)
    assert len(differences) == sum(len(r) for r in corpus.rows.values()) >= 20
    assert np.all(differences <= bounds), (differences.max(), bounds.min())
    assert np.median(differences) <= np.median(np.concatenate(typical_bounds))


@pytest.mark.slow
def test_evaluate_scores_every_window_of_the_shards_with_the_tables_calibration(corpus, csv_run, tmp_path):
    stored = pathlib.Path(csv_run.calibration_path).read_bytes()
    report = evaluate_run(csv_run.path, str(corpus.shards), "eval", out_dir=str(tmp_path))
    # Fitted on the table's dev rows at training time, never on the corpus under test.
    assert pathlib.Path(csv_run.calibration_path).read_bytes() == stored
    assert report["decision_at_dev_threshold"]["threshold"] == json.loads(stored)["eer_threshold"]
    scores = read_score_file(tmp_path / "scores_eval.txt")
    manifest = json.loads((corpus.shards / "manifest.json").read_text())
    assert len(scores) == manifest["splits"]["eval"]["num_examples"] > 0
    model = csv_run.load_model()
    files = {f"{label.lower()}/{path.stem}": path for path, label in corpus.labels.items()}
    for utt_id, score in zip(scores["utt_id"], scores["score"]):
        logits = model.predict(_covering_windows(_audio(files[utt_id])), verbose=0)
        assert score == pytest.approx(-np.mean(logits), abs=1e-5), utt_id


@pytest.mark.slow
def test_the_csv_run_exports_a_saved_model_equal_to_keras(corpus, csv_run, tmp_path):
    waveforms = np.concatenate([_covering_windows(_audio(path)) for path in sorted(corpus.labels)[:2]])
    logits = csv_run.load_model().predict(waveforms, verbose=0)
    info = export_run(csv_run.path, "savedmodel", str(tmp_path / "served"))
    assert (info["sample_rate"], info["clip_samples"]) == (SR, SR)
    outputs = tf.saved_model.load(str(tmp_path / "served")).signatures["serving_default"](
        waveform=tf.constant(waveforms))
    np.testing.assert_allclose(outputs["logit"].numpy(), logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)


@pytest.mark.slow
def test_the_audio_run_normalises_with_the_table_features_of_its_training_crops(corpus, audio_run):
    run_config = audio_run.load_config()
    # The crops the normalisation was measured on (the training order for the run's seed, un-augmented).
    data = run_config.data.replace(balance="none")
    crops = [w for batch, _ in make_dataset(str(corpus.shards), data.train_split, data, training=True)
             .take(run_config.features.normalization_batches) for w in batch.numpy()]
    rows = np.stack([dv.librosa_row(w) for w in crops])
    mean, variance = _statistics(audio_run.load_model())
    assert mean.shape == (len(dv.COLUMNS),)
    # Each element may be off by its tolerance t: a mean by at most t, a variance by at most 2 sd t + t^2.
    error = feature_error_bound(rows).max(axis=0)
    np.testing.assert_array_less(np.abs(mean - rows.mean(axis=0)), error + 1e-6 * np.abs(mean))
    sd = rows.std(axis=0)
    np.testing.assert_array_less(np.abs(variance - rows.var(axis=0)), 2 * sd * error + error**2 + 1e-6 * variance)


@pytest.mark.slow
def test_the_audio_run_evaluates_predicts_and_exports(corpus, audio_run, tmp_path):
    report = evaluate_run(audio_run.path, split="eval", out_dir=str(tmp_path / "eval"))
    manifest = json.loads((corpus.shards / "manifest.json").read_text())
    assert report["counts"]["total"] == manifest["splits"]["eval"]["num_examples"]
    assert audio_run.load_calibration().source["shards"] == str(corpus.shards)  # its own dev split
    model = audio_run.load_model()
    path = sorted(corpus.labels)[0]
    windows = _covering_windows(_audio(path))
    logits = model.predict(windows, verbose=0)
    (result,) = predict_files(audio_run.path, [path])
    np.testing.assert_allclose([w["score"] for w in result["timeline"]], -logits.reshape(-1), atol=1e-5)
    export_run(audio_run.path, "savedmodel", str(tmp_path / "served"))
    outputs = tf.saved_model.load(str(tmp_path / "served")).signatures["serving_default"](waveform=tf.constant(windows))
    np.testing.assert_allclose(outputs["logit"].numpy(), logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)
