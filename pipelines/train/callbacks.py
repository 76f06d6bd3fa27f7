"""Training callbacks that Keras lacks in the form we need: dev EER, and history/checkpoints written atomically."""

import csv
import io
import json
import os

import keras
import numpy as np
import tensorflow as tf

from pipelines.metrics import compute_eer
from pipelines.score_files import atomic_write_bytes
from pipelines.scoring import score_dataset


class DevEER(keras.callbacks.Callback):
    """Scores the dev set after every epoch and adds `val_eer` and `val_loss` to the epoch logs.

    It must come before the callbacks that read `val_eer` (checkpoint, early stopping, history, TensorBoard),
    since Keras hands the same logs dict to each callback in list order.

    Args:
        dataset: dev batches of `(waveform, target, meta)` in evaluation mode.
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_end(self, epoch, logs=None):
        scores = score_dataset(self.model, self.dataset)
        is_spoof = (scores["key"] == "spoof").to_numpy()
        try:
            eer, _ = compute_eer(scores["score"].to_numpy()[~is_spoof], scores["score"].to_numpy()[is_spoof])
        except ValueError:
            # A collapsed model (all scores equal, or non-finite) early in training: the worst EER, not a crash.
            eer = 1.0
        # Binary cross-entropy of the spoof logit (= -score), unweighted, for a loss comparable across runs.
        logits = -scores["score"].to_numpy()
        val_loss = np.mean(np.logaddexp(0.0, logits) - is_spoof * logits)
        if logs is not None:
            logs["val_eer"] = float(eer)
            logs["val_loss"] = float(val_loss)


class AtomicHistory(keras.callbacks.Callback):
    """Keeps `history.csv` whole across kills and resumes.

    Keras's CSVLogger appends in place, so a kill can leave a torn line, and a resume from an earlier epoch
    repeats rows. This rewrites the file atomically each epoch and drops rows at or after the resumed epoch.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.rows = []

    def on_train_begin(self, logs=None):
        self.rows = []
        if os.path.exists(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                self.rows = list(csv.DictReader(f))

    def on_epoch_end(self, epoch, logs=None):
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]
        row = {"epoch": epoch, "learning_rate": _current_learning_rate(self.model)}
        row.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        self.rows.append(row)
        columns = list(dict.fromkeys(key for r in self.rows for key in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode("utf-8"))


def _current_learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return float("nan")
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model as `.keras` whenever `monitor` improves, atomically, remembering the best across resumes.

    Args:
        path: the `.keras` file.
        monitor: a key of the epoch logs.
        mode: "min" or "max".
    """

    def __init__(self, path, monitor="val_eer", mode="min"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self.state_path = f"{os.path.splitext(path)[0]}.best.json"

    def _best(self):
        if os.path.exists(self.state_path) and os.path.exists(self.path):
            with open(self.state_path, encoding="utf-8") as f:
                return json.load(f)
        return None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        best = self._best()
        better = best is None or (value < best["value"] if self.mode == "min" else value > best["value"])
        if not better:
            return
        tmp = f"{self.path}.tmp-{os.getpid()}.keras"  # save() infers the format from the suffix
        self.model.save(tmp)
        os.replace(tmp, self.path)
        state = {"monitor": self.monitor, "value": float(value), "epoch": int(epoch)}
        atomic_write_bytes(self.state_path, json.dumps(state, indent=2).encode("utf-8"))


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup files are replaced atomically.

    Keras writes `latest.weights.h5` in place, so a kill during the first backup leaves a truncated file that the
    next run cannot load (and no previous copy to fall back on). Here each file is written under a temporary name
    and renamed; a kill between the two renames leaves newer weights with the previous epoch number, which only
    repeats one epoch. Relies on the parent's backup paths and epoch counters (Keras 3).
    """

    def _save_model(self):
        tf.io.gfile.makedirs(self.backup_dir)
        weights_tmp = f"{self._weights_path[: -len('.weights.h5')]}.tmp.weights.h5"  # save_weights wants the suffix
        self.model.save_weights(weights_tmp, overwrite=True)
        metadata_tmp = f"{self._training_metadata_path}.tmp"
        with tf.io.gfile.GFile(metadata_tmp, "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        tf.io.gfile.rename(weights_tmp, self._weights_path, overwrite=True)
        tf.io.gfile.rename(metadata_tmp, self._training_metadata_path, overwrite=True)
