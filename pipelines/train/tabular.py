"""Training the `dnn` model straight from DEEP-VOICE's feature table (`DATASET-balanced.csv`).

The table has one row per one-second window: 26 librosa features (chroma_stft, rms, spectral_centroid,
spectral_bandwidth, rolloff, zero_crossing_rate, mfcc1..mfcc20) and `LABEL` (REAL or FAKE). There is no audio and
no speaker column, so the rows are split at random (stratified by label, seeded) into train/dev/test, standardised
with the train rows' mean and std (kept in `config.json`), and fed to `models.build("dnn", (26,))`. The run
directory holds `config.json`, `model.keras`, `history.csv`, `scores.txt` and the report of the test rows.
"""

import csv
import os

import numpy as np
import pandas as pd

FEATURE_COLUMNS = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                   "zero_crossing_rate") + tuple(f"mfcc{i}" for i in range(1, 21))
LABEL_COLUMN = "LABEL"
LABELS = {"REAL": 0, "FAKE": 1}  # target 1 = spoof, as in the shards
SPLIT_RATIOS = (0.7, 0.15, 0.15)
MODEL_FILE = "model.keras"


def load_features_csv(path):
    """Reads the table.

    Returns:
        `(features, targets, line_numbers)`: float32 `(rows, 26)` in `FEATURE_COLUMNS` order, int `(rows,)`
        (1 = FAKE) and each row's 1-based line in the file.

    Raises:
        ValueError: naming the file (and line and column) for a missing column, a value that is not a finite
            number, or a label other than REAL/FAKE.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = [name.strip() for name in next(rows, [])]
        missing = [c for c in FEATURE_COLUMNS + (LABEL_COLUMN,) if c not in header]
        if missing:
            raise ValueError(f"{path}:1: missing column(s) {missing}; expected {list(FEATURE_COLUMNS)} and "
                             f"{LABEL_COLUMN}")
        indices = [header.index(c) for c in FEATURE_COLUMNS]
        label_index = header.index(LABEL_COLUMN)
        features, targets, lines = [], [], []
        for line_no, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise ValueError(f"{path}:{line_no}: expected {len(header)} fields, got {len(row)}")
            features.append([_number(row[i], path, line_no, header[i]) for i in indices])
            targets.append(_label(row[label_index], path, line_no))
            lines.append(line_no)
    if not features:
        raise ValueError(f"{path}: no data rows")
    return np.asarray(features, np.float32), np.asarray(targets, np.int64), np.asarray(lines, np.int64)


def _number(text, path, line_no, column):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: column {column}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}:{line_no}: column {column}: {text!r} is not finite")
    return value


def _label(text, path, line_no):
    label = text.strip().upper()
    if label not in LABELS:
        raise ValueError(f"{path}:{line_no}: column {LABEL_COLUMN}: expected REAL or FAKE, got {text.strip()!r}")
    return LABELS[label]


def stratified_split(targets, seed, ratios=SPLIT_RATIOS):
    """`{"train", "dev", "test"}` -> sorted row indices; each label is cut by `ratios` after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "dev": [], "test": []}
    for label in np.unique(targets):
        rows = rng.permutation(np.flatnonzero(targets == label))
        cuts = np.round(np.cumsum(ratios)[:2] / np.sum(ratios) * len(rows)).astype(int)
        for name, chunk in zip(parts, np.split(rows, cuts)):
            parts[name].extend(chunk.tolist())
    return {name: np.sort(np.asarray(rows, np.int64)) for name, rows in parts.items()}


def standardisation(features):
    """`(mean, std)` per column; a constant column gets std 1 so it maps to 0 rather than dividing by 0."""
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def score_table(logits, targets, lines):
    """The report's score table: higher score = more bona fide, so the score is minus the spoof logit."""
    return pd.DataFrame({
        "utt_id": [f"line{n}" for n in lines],
        "system_id": ["-" if t == 0 else "FAKE" for t in targets],
        "key": ["bonafide" if t == 0 else "spoof" for t in targets],
        "score": -np.asarray(logits, np.float64).reshape(-1),
    })


def train_features_csv(csv_path, run_dir, epochs=20, seed=0, batch_size=32, verbose=1):
    """Trains `dnn` on the table and writes the run directory; returns the report dict of the test rows."""
    import keras

    from models import build
    from pipelines.callbacks import AtomicHistory
    from pipelines.config_base import write_json_atomic
    from pipelines.metrics import compute_eer
    from pipelines.report import write_report
    from pipelines.score_files import write_score_file

    features, targets, lines = load_features_csv(csv_path)
    parts = stratified_split(targets, seed)
    mean, std = standardisation(features[parts["train"]])
    x = ((features - mean) / std).astype(np.float32)
    os.makedirs(run_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    model = build("dnn", (len(FEATURE_COLUMNS),))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    dev = (x[parts["dev"]], targets[parts["dev"]].astype(np.float32)) if len(parts["dev"]) else None
    model.fit(x[parts["train"]], targets[parts["train"]].astype(np.float32), validation_data=dev, epochs=epochs,
              batch_size=batch_size, shuffle=True, verbose=verbose,
              callbacks=[AtomicHistory(os.path.join(run_dir, "history.csv"))])
    write_json_atomic(os.path.join(run_dir, "config.json"), {
        "kind": "features_csv", "features_csv": os.path.abspath(csv_path), "model": {"name": "dnn"},
        "epochs": epochs, "seed": seed, "batch_size": batch_size, "split_ratios": list(SPLIT_RATIOS),
        "rows": {name: int(len(rows)) for name, rows in parts.items()},
        "columns": list(FEATURE_COLUMNS), "mean": mean.tolist(), "std": std.tolist(),
    })
    tmp = os.path.join(run_dir, f".tmp-{os.getpid()}-{MODEL_FILE}")
    model.save(tmp)
    os.replace(tmp, os.path.join(run_dir, MODEL_FILE))
    scores = {name: score_table(model.predict(x[rows], verbose=0), targets[rows], lines[rows])
              for name, rows in parts.items() if name != "train" and len(rows)}
    write_score_file(os.path.join(run_dir, "scores.txt"), scores["test"])
    dev_threshold = None
    if "dev" in scores:
        dev = scores["dev"]
        dev_threshold = compute_eer(dev.loc[dev.key == "bonafide", "score"], dev.loc[dev.key == "spoof", "score"])[1]
    return write_report(run_dir, scores["test"], dev_threshold=dev_threshold,
                        title=f"dnn on the test rows of {os.path.basename(csv_path)}")


def features_csv_main(args):
    """The `fakespeech train --features-csv FILE` branch; `args` are the parsed train flags. Returns an exit code."""
    import datetime
    import sys

    run_dir = args.run_dir or os.path.join("runs", f"dnn-features-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    try:
        report = train_features_csv(args.features_csv, run_dir, epochs=args.epochs or 20, seed=args.seed or 0,
                                    batch_size=args.batch_size or 32, verbose=0 if args.quiet else 1)
    except (OSError, ValueError) as err:
        print(f"fakespeech train: error: {err}", file=sys.stderr)
        return 2
    print(f"run directory: {run_dir}\nmodel: dnn (test EER {100 * report['pooled']['eer']:.2f}%)")
    return 0
