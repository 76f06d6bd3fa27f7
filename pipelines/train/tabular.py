"""Runs trained on DEEP-VOICE's feature table (`DATASET-balanced.csv`) that score audio like any other run.

The table has one row per one-second window of audio: the 26 columns of `pipelines.features.DEEP_VOICE_COLUMNS`
(chroma_stft, rms, spectral_centroid, spectral_bandwidth, rolloff, zero_crossing_rate, mfcc1..mfcc20) and `LABEL`
(REAL or FAKE). It has no audio and no speaker column, so the rows are split at random (stratified by label,
seeded: `tabular.split_ratios`, `tabular.split_seed`) into train, dev and test rows.

The run directory is an ordinary one (`pipelines.run_dir.RunDir`):

- `config.json` is a `RunConfig`: features.kind=deep_voice at 22050 Hz, one-second clips (data.clip_samples =
  data.sample_rate = 22050), data.eval_windows="all" (a file is scored in consecutive one-second windows), model
  dnn, and a `tabular` section recording the table (absolute path, SHA-256, split ratios and seed, rows per part).
- `model.keras` is the end-to-end model `build_end_to_end` makes for that configuration: waveform (22050 samples)
  -> `DeepVoiceFeatures` (one window) -> `Normalization` holding the train rows' mean and variance -> dnn ->
  float32 logit. Training fits the dnn on the rows through that model's own normalisation and dnn layers (a second
  functional model sharing them), so the saved model scores audio as it scored the rows, up to the difference
  between the in-graph features and librosa's (`pipelines.features.deep_voice`). `evaluate` on shards built at
  22050 Hz, `predict` on audio files and `export` take the run as they take any run.
- Selection and calibration as for runs on shards, on the dev rows: `val_eer` each epoch chooses the saved model
  (`model.best.json`); `calibration.json` (dev EER threshold and calibrator) is fitted on the dev rows, and a later
  `evaluate` of any corpus uses it rather than tuning on the corpus it tests. `eval-table-test/` holds the scores
  and report of the test rows; `history.csv`, `logs/`, `backup/` and `summary.json` as usual.

A killed run resumes from its last completed epoch (`backup/`); a folder holding another run is refused before
anything is written, and so is a table whose bytes changed (its SHA-256 is part of the configuration).
"""

import csv
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines.config import load_config_file, resolve_run_config
from pipelines.config.stages import TABLE_PARTS
from pipelines.evaluate.calibration import fit_on_dev
from pipelines.evaluate.report import write_report
from pipelines.evaluate.score_files import parse_finite_number, write_score_file
from pipelines.features import DEEP_VOICE_COLUMNS
from pipelines.features.deep_voice import DEEP_VOICE_SAMPLE_RATE
from pipelines.run_dir import RunDir
from pipelines.train.callbacks import (
    AtomicBackupAndRestore,
    AtomicHistory,
    BestModelCheckpoint,
    DevEER,
    StopOnNonFiniteLoss,
)
from pipelines.train.end_to_end import build_end_to_end
from pipelines.train.runtime import check_backend
from pipelines.train.training import compile_model
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError, deep_merge, parse_overrides

FEATURE_COLUMNS = DEEP_VOICE_COLUMNS  # the table's feature columns, in the order the model takes them
LABEL_COLUMN = "LABEL"
LABELS = {"REAL": 0, "FAKE": 1}  # target 1 = spoof, as in the shards
TABLE_TEST_SPLIT = "table-test"  # the test rows' report goes to RunDir.eval_dir(TABLE_TEST_SPLIT)
# What a feature-table run is unless the user says otherwise: DEEP-VOICE's table is computed from audio loaded at
# 22050 Hz (assumed, see pipelines.features.deep_voice) in one-second windows; an audio file is scored in all
# its one-second windows. 20 epochs of Adam at a constant 1e-3 was this command's recipe before it wrote RunConfigs.
TABULAR_DEFAULTS = {
    "data": {"sample_rate": DEEP_VOICE_SAMPLE_RATE, "clip_samples": DEEP_VOICE_SAMPLE_RATE, "eval_windows": "all"},
    "features": {"kind": "deep_voice", "sample_rate": DEEP_VOICE_SAMPLE_RATE, "normalization": "global"},
    "model": {"name": "dnn"},
    "train": {"epochs": 20, "schedule": "constant"},
}
RECORDED_KEYS = ("csv", "sha256", "rows")  # of the tabular section: written by the training, never by a user


class FeatureTable:
    """The rows of a feature table: `features` float32 (rows, 26) in `FEATURE_COLUMNS` order, `targets` int
    (rows,) with 1 = FAKE, and `lines`, each row's 1-based line in `path`."""

    def __init__(self, path, features, targets, lines):
        self.path, self.features, self.targets, self.lines = path, features, targets, lines


def check_columns(path, header):
    """Raises ValueError naming the file and the missing and extra columns unless `header` is the 26 + LABEL."""
    expected = FEATURE_COLUMNS + (LABEL_COLUMN,)
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if missing or extra or repeated:
        found = "; ".join(f"{what} {names}" for what, names in
                          (("missing", missing), ("extra", extra), ("repeated", repeated)) if names)
        raise ValueError(f"{path}:1: the columns are not DEEP-VOICE's 26 features and {LABEL_COLUMN}: {found} "
                         f"(expected, in any order: {', '.join(expected)})")


def load_features_csv(path):
    """Reads the table as a `FeatureTable`.

    Raises:
        ValueError: naming the file for columns other than the 26 features and LABEL (listing the missing and the
            extra ones, before any row is read), and the file, line and column for a value that is not a finite
            number or a label other than REAL/FAKE.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = [name.strip() for name in next(rows, [])]
        check_columns(path, header)
        indices = [header.index(c) for c in FEATURE_COLUMNS]
        label_index = header.index(LABEL_COLUMN)
        features, targets, lines = [], [], []
        for line_no, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{line_no}: expected {len(header)} fields, got {len(row)}")
            features.append([_number(row[i], path, line_no, header[i]) for i in indices])
            targets.append(_label(row[label_index], path, line_no))
            lines.append(line_no)
    if not features:
        raise ValueError(f"{path}: no data rows")
    return FeatureTable(os.fspath(path), np.asarray(features, np.float32), np.asarray(targets, np.int64),
                        np.asarray(lines, np.int64))


def _number(text, path, line_no, column):
    return parse_finite_number(text, f"{path}:{line_no}: column {column}:")


def _label(text, path, line_no):
    label = text.strip().upper()
    if label not in LABELS:
        raise ValueError(f"{path}:{line_no}: column {LABEL_COLUMN}: expected REAL or FAKE, got {text.strip()!r}")
    return LABELS[label]


def stratified_split(targets, seed, ratios=(0.7, 0.15, 0.15)):
    """`{"train", "dev", "test"}` -> sorted row indices; each label is cut by `ratios` after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in TABLE_PARTS}
    for label in np.unique(targets):
        rows = rng.permutation(np.flatnonzero(targets == label))
        cuts = np.round(np.cumsum(ratios)[:2] / np.sum(ratios) * len(rows)).astype(int)
        for name, chunk in zip(parts, np.split(rows, cuts)):
            parts[name].extend(chunk.tolist())
    return {name: np.sort(np.asarray(rows, np.int64)) for name, rows in parts.items()}


def standardisation(features):
    """`(mean, variance)` per column in float64; a constant column gets variance 1 (it maps to 0, not to inf)."""
    features = np.asarray(features, np.float64)
    variance = features.var(axis=0)
    return features.mean(axis=0), np.where(variance > 0, variance, 1.0)


# ---- the configuration ------------------------------------------------------------------------------------------


def tabular_run_config(csv_path, sha256, targets, config_file=None, flags=None, overrides=()):
    """The checked `RunConfig` of a feature-table run; `ConfigError` names the offending key.

    Layers, later wins: `TABULAR_DEFAULTS` < `--config` file < flags < `--set`; then the table's record (path,
    SHA-256, rows per part of the split that `tabular.split_ratios` and `tabular.split_seed` choose).
    """
    user = deep_merge(TABULAR_DEFAULTS, load_config_file(config_file)) if config_file else dict(TABULAR_DEFAULTS)
    user = deep_merge(deep_merge(user, flags or {}), parse_overrides(overrides))
    given = user.get("tabular") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"tabular: expected a mapping of split_ratios and split_seed, got {given!r}")
    recorded = [key for key in RECORDED_KEYS if key in given]
    if recorded:
        raise ConfigError(f"tabular.{recorded[0]}: recorded by the training from --features-csv, not a setting")
    user["tabular"] = {**given, "csv": os.path.abspath(csv_path), "sha256": sha256}
    run_config = resolve_run_config(flags=user)
    parts = stratified_split(targets, run_config.tabular.split_seed, run_config.tabular.split_ratios)
    rows = {name: int(len(indices)) for name, indices in parts.items()}
    run_config = run_config.replace(tabular=run_config.tabular.replace(rows=rows).to_dict())
    check_tabular_config(run_config)
    return run_config, parts


def check_tabular_config(run_config):
    """What a fit on table rows cannot honour is refused, naming the key, rather than silently ignored."""
    check_backend(run_config.train.backend)  # the backend Keras runs on (the command restarts for another)
    if run_config.features.normalization != "global":
        raise ConfigError("features.normalization: a feature-table run standardises the features with the train "
                          "rows' mean and variance inside the model; it must be global")
    enabled = [name for name, value in run_config.augment.to_dict().items() if name.endswith("_probability") and value]
    if enabled:
        raise ConfigError(f"augment.{enabled[0]}: a feature-table run trains on rows of numbers, not on audio; set "
                          f"the augmentation probabilities to 0 ({', '.join('augment.' + n for n in enabled)})")
    if run_config.data.balance == "sample":
        raise ConfigError("data.balance: a feature-table run weighs the classes (weights) or not (none); sample "
                          "draws from shard streams")
    if run_config.train.weight_averaging != "none":
        raise ConfigError("train.weight_averaging: a feature-table run keeps the best (or last) epoch's weights; "
                          "set it to none")
    if run_config.train.strategy != "auto" or run_config.train.precision not in ("auto", "float32"):
        raise ConfigError("train.strategy / train.precision: a feature-table run fits its rows in float32 on the "
                          "default device; leave both at auto")


def check_parts(table, parts):
    """Raises ValueError naming the table unless train (and dev and test, when they have rows) hold both labels:
    the class weights, the dev EER, the calibration and the test report each need both."""
    for name, indices in parts.items():
        counts = np.bincount(table.targets[indices], minlength=2)
        if (name == "train" or len(indices)) and not counts.all():
            raise ValueError(f"{table.path}: the {name} rows of the split hold {counts[0]} REAL and {counts[1]} FAKE "
                             "rows; each part needs both labels (more rows, or another tabular.split_ratios)")


# ---- the models ---------------------------------------------------------------------------------------------


def row_model(end_to_end):
    """`(batch, 26) rows -> logit`: the end-to-end model's normalisation and dnn layers (shared, not copied)."""
    normalization = end_to_end.get_layer("feature_normalization")
    backbone = end_to_end.layers[-1]  # build_end_to_end calls the backbone last
    if not isinstance(backbone, keras.Model):
        raise ValueError(f"{end_to_end.name}: expected the backbone model as its last layer, got {backbone.name}")
    rows = keras.Input((len(FEATURE_COLUMNS),), name="table_rows", dtype="float32")
    return keras.Model(rows, backbone(normalization(rows)), name=f"{end_to_end.name}_rows")


class EndToEndCheckpoint(BestModelCheckpoint):
    """`BestModelCheckpoint` for a fit of `row_model(end_to_end)`: it saves the end-to-end model, which holds the
    very layers being trained, so `model.keras` takes waveforms like the model of any run."""

    def __init__(self, run_dir, end_to_end):
        super().__init__(run_dir)
        self.end_to_end = end_to_end

    @property
    def model(self):
        super().model  # noqa: B018  (under JAX, reading it syncs the trained variables, shared with end_to_end)
        return self.end_to_end


def class_weights(targets, run_config):
    """Per-row loss weights: `train.spoof_loss_weight`, else inverse class frequency (balance=weights), else 1."""
    if run_config.train.spoof_loss_weight is not None:
        weights = (1.0, float(run_config.train.spoof_loss_weight))
    elif run_config.data.balance == "weights":
        weights = tuple(len(targets) / (2.0 * np.bincount(targets, minlength=2)))  # both labels: check_parts
    else:
        weights = (1.0, 1.0)
    return np.where(targets == 1, weights[1], weights[0]).astype(np.float32)


def _train_batches(table, indices, run_config):
    data = run_config.data
    x, y = table.features[indices], table.targets[indices]
    weights = class_weights(y, run_config)
    dataset = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32)[:, None], weights))
    dataset = dataset.shuffle(len(indices), seed=data.seed, reshuffle_each_iteration=True)
    # Rows are few and the fit is on the host: every row every epoch (the last batch smaller), repeated for fit.
    return dataset.batch(data.batch_size).repeat()


def _meta(table, indices):
    targets = table.targets[indices]
    return {"id": [f"line{n}" for n in table.lines[indices]],
            "system_id": ["FAKE" if t else "-" for t in targets],
            "key": ["spoof" if t else "bonafide" for t in targets]}


def _dev_batches(table, indices, run_config):
    """`(rows, target, meta)` batches of the dev rows, the form `DevEER` scores; None without dev rows."""
    if not len(indices):
        return None
    dataset = tf.data.Dataset.from_tensor_slices(
        (table.features[indices], table.targets[indices].astype(np.float32), _meta(table, indices)))
    return dataset.batch(run_config.data.batch_size)


def score_rows(model, table, indices):
    """The score table (`utt_id` line<N>, `system_id`, `key`, `score` = -logit) of the rows, with `row_model`."""
    logits = np.asarray(model.predict(table.features[indices], verbose=0), np.float64).reshape(-1)
    return pd.DataFrame({**_meta(table, indices), "score": -logits}).rename(columns={"id": "utt_id"})


# ---- the run --------------------------------------------------------------------------------------------------


def _callbacks(run, end_to_end, dev_batches, patience):
    callbacks = [StopOnNonFiniteLoss()]
    if dev_batches is not None:
        callbacks += [DevEER(dev_batches), EndToEndCheckpoint(run, end_to_end)]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping("val_eer", patience=patience, mode="min"))
    return callbacks + [AtomicHistory(run.history_path), keras.callbacks.TensorBoard(run.logs_dir, write_graph=False),
                        AtomicBackupAndRestore(run.backup_dir, delete_checkpoint=False)]


def train_features_csv(csv_path, run_dir, config_file=None, flags=None, overrides=(), verbose=1):
    """Trains a feature-table run in `run_dir` (see the module docstring); resumes a killed one.

    Args:
        csv_path: the table (`DATASET-balanced.csv`).
        run_dir: the run directory.
        config_file, flags, overrides: as `fakespeech train` takes them (see `tabular_run_config`).
        verbose: Keras progress output.

    Returns:
        The summary dict also written to `summary.json`; its `table_test` holds the test rows' pooled EER and the
        path of their report (None without test rows).
    """
    table = load_features_csv(csv_path)  # column and value errors come first, naming the file
    run_config, parts = tabular_run_config(csv_path, atomic.file_sha256(csv_path), table.targets, config_file,
                                           flags, overrides)
    check_parts(table, parts)
    run = RunDir(run_dir)
    run.check_reusable(run_config)
    keras.utils.set_random_seed(run_config.train.seed)
    statistics = standardisation(table.features[parts["train"]])
    model = build_end_to_end(run_config, feature_statistics=statistics)
    rows = row_model(model)
    batch_size = run_config.data.batch_size
    steps = run_config.train.steps_per_epoch or -(-len(parts["train"]) // batch_size)
    compile_model(rows, run_config, steps)
    train_batches = _train_batches(table, parts["train"], run_config)
    dev_batches = _dev_batches(table, parts["dev"], run_config)
    with run.lock():  # the first write: everything above could still refuse the configuration
        run.prepare(run_config)
        history = None
        if run_config.train.epochs:  # 0 keeps the model as built, as for runs on shards
            history = rows.fit(train_batches, epochs=run_config.train.epochs,
                               steps_per_epoch=steps, verbose=verbose, shuffle=False,  # the dataset shuffles
                               callbacks=_callbacks(run, model, dev_batches, run_config.train.early_stopping_patience))
        if dev_batches is None or run.best() is None:
            run.save_model(model)
        summary = _finish(run, run_config, table, parts, history, steps)
    return summary


def _finish(run, run_config, table, parts, history, steps):
    """Scores the dev and test rows with the run's saved model, calibrates on dev, reports on test, summarises."""
    scorer = row_model(run.load_model())
    calibration = None
    if len(parts["dev"]):
        dev_scores = score_rows(scorer, table, parts["dev"])
        calibration = fit_on_dev(dev_scores, features_csv=run_config.tabular.csv, dev_rows=len(parts["dev"]))
        run.save_calibration(calibration)
    report = None
    if len(parts["test"]):
        out_dir = run.eval_dir(TABLE_TEST_SPLIT)
        os.makedirs(out_dir, exist_ok=True)
        test_scores = score_rows(scorer, table, parts["test"])
        write_score_file(os.path.join(out_dir, f"scores_{TABLE_TEST_SPLIT}.txt"), test_scores)
        report = write_report(out_dir, test_scores, dev_threshold=calibration.threshold if calibration else None,
                              calibrator=calibration.calibrator if calibration else None,
                              title=f"{run_config.model.name} on the test rows of {os.path.basename(table.path)}")
    summary = {
        "model": run.model_path,
        "best": run.best(),
        "epochs_run": len(history.epoch) if history else 0,
        "last_epoch_logs": {k: float(v[-1]) for k, v in history.history.items() if v} if history else {},
        "strategy": "Keras fit of the table rows on the default device",
        "precision": "float32",
        "global_batch": run_config.data.batch_size,
        "steps_per_epoch": steps,
        "table_test": None if report is None else {"report": os.path.join(run.eval_dir(TABLE_TEST_SPLIT),
                                                                          "report.json"),
                                                   "eer": report["pooled"]["eer"]},
    }
    run.save_summary(summary)
    return summary
