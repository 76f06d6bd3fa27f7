"""Training callbacks that Keras lacks in the form we need: dev EER, and history/checkpoints written atomically."""

import csv
import io
import os

import keras
import numpy as np

from pipelines.evaluate.metrics import compute_eer
from pipelines.evaluate.scoring import score_dataset
from tfrecord_builder import atomic


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


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the run's saved model and backup are those of the last good epoch."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, naming the epoch and the step.

    It raises rather than setting `stop_training`, so that the end-of-epoch callbacks (dev scoring, best model,
    backup) never run on the diverged weights: what is on disk stays the last good epoch's.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise TrainingDiverged(
                f"the training loss became {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}; training "
                "stopped and the run keeps its last good epoch (model.keras, backup/); lower train.learning_rate "
                "or check the data, then run again")


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
        atomic.write_text(self.path, buffer.getvalue())


def _current_learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return float("nan")
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under mixed_float16 loss scaling
    if isinstance(optimizer, keras.optimizers.MultiOptimizer):
        # A lower rate for a pretrained front end (pipelines.train.finetune): the run's rate is the default group's,
        # which MultiOptimizer keeps last.
        optimizer = optimizer.optimizers[-1]
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever `monitor` improves, atomically, remembering the best across resumes.

    Args:
        run_dir: the `pipelines.run_dir.RunDir` whose model (and best-model record) it writes.
        monitor: a key of the epoch logs.
        mode: "min" or "max".
    """

    def __init__(self, run_dir, monitor="val_eer", mode="min"):
        super().__init__()
        self.run_dir = run_dir
        self.monitor = monitor
        self.mode = mode

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        best = self.run_dir.best()
        better = best is None or (value < best["value"] if self.mode == "min" else value > best["value"])
        if better:
            self.run_dir.save_best(self.model, {"monitor": self.monitor, "value": float(value), "epoch": int(epoch)})


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup files are replaced atomically.

    Keras writes `latest.weights.h5` in place, so a kill during the first backup leaves a truncated file that the
    next run cannot load (and no previous copy to fall back on). Here each file is written under a temporary name
    and renamed (`tfrecord_builder.atomic`); a kill between the two renames leaves newer weights with the previous
    epoch number, which only repeats one epoch. Relies on the parent's backup paths and epoch counters (Keras 3).
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        with atomic.atomic_path(self._weights_path, suffix=".weights.h5") as temp:  # save_weights wants the suffix
            self.model.save_weights(temp, overwrite=True)
        atomic.write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": self._last_batch_seen})
