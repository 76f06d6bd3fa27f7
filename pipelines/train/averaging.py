"""Weight averaging over the last epochs of a run (`train.weight_averaging`): SWA or EMA, resume-safe.

- "swa" (stochastic weight averaging, Izmailov et al. 2018): the uniform mean of the weights at the end of each of
  the last `train.averaging_epochs` epochs.
- "ema": an exponential moving average `a <- d * a + (1 - d) * w` after every training step of those epochs
  (`d = train.ema_decay`), started from the weights at the start of the first averaged epoch.

Every floating-point weight is averaged, batch-normalisation statistics included (a mean of running means, which
for the few late epochs averaged here stays close to the statistics of the averaged weights; no extra data pass).
When training ends the averaged weights become the run's model: `model.keras` holds them and `model.best.json`
records their dev EER with `"weights": "swa"` or `"ema"` (the per-epoch best model that the dev EER selected
before is replaced; the history keeps each epoch's dev EER of the raw weights).

Resuming: at the end of every epoch the average and the one before it are written, atomically, to
`RunDir.averaging_path`. A run resumed at epoch `e` (from Keras's backup) continues from the average of epoch
`e - 1`, whichever of the two generations that is, so a kill between this file and the backup never counts an
epoch twice. Only `keras.ops` touch the weights, so either backend runs it.
"""

import os

import keras
import numpy as np

from tfrecord_builder import atomic

AVERAGING_MODES = ("none", "swa", "ema")


def first_averaged_epoch(train_config):
    """The 0-based first epoch of the average: the last `averaging_epochs` (default: the last half, rounded up)."""
    count = train_config.averaging_epochs or (train_config.epochs + 1) // 2
    return max(0, train_config.epochs - count)


def _averaged_variables(model):
    return [v for v in model.weights if "float" in str(v.dtype)]


class WeightAveraging(keras.callbacks.Callback):
    """Keeps the SWA or EMA average of the model's weights from `start_epoch` on, and saves it for resumes.

    Place it after the callbacks that score or save the raw weights and before the backup callback, so that its
    state is on disk before Keras's backup records the epoch as done.

    Args:
        mode: "swa" or "ema".
        state_path: the `.npz` file that holds the average across resumes (`RunDir.averaging_path`).
        start_epoch: 0-based first epoch that is averaged.
        decay: EMA decay per training step.

    Example:
        >>> callback = WeightAveraging("swa", "/tmp/run/backup/weight_average.npz", start_epoch=5)  # doctest: +SKIP
        >>> model.fit(data, epochs=10, callbacks=[callback]); callback.apply(model)  # doctest: +SKIP
    """

    def __init__(self, mode, state_path, start_epoch=0, decay=0.999):
        super().__init__()
        if mode not in ("swa", "ema"):
            raise ValueError(f"mode must be 'swa' or 'ema', got {mode!r}")
        self.mode = mode
        self.state_path = state_path
        self.start_epoch = int(start_epoch)
        self.decay = float(decay)
        self.average = None  # list of backend tensors, one per averaged variable
        self.count = 0  # SWA: epochs in the mean; EMA: steps in the average
        self.epoch = None  # last epoch included in the average
        self._previous = None  # (epoch, count, arrays) of the generation before, for the state file
        self._resumed = False

    # ---- the state file -----------------------------------------------------------------------------------

    def _load_generations(self):
        if not os.path.isfile(self.state_path):
            return {}
        with np.load(self.state_path) as data:
            generations = {}
            for tag in ("current", "previous"):
                if f"{tag}_epoch" in data:
                    arrays = [data[f"{tag}_{i}"] for i in range(int(data[f"{tag}_size"]))]
                    generations[int(data[f"{tag}_epoch"])] = (int(data[f"{tag}_count"]), arrays)
            return generations

    def _save(self, arrays):
        state = {"current_epoch": self.epoch, "current_count": self.count, "current_size": len(arrays)}
        state.update({f"current_{i}": a for i, a in enumerate(arrays)})
        if self._previous is not None:
            epoch, count, previous = self._previous
            state.update(previous_epoch=epoch, previous_count=count, previous_size=len(previous))
            state.update({f"previous_{i}": a for i, a in enumerate(previous)})
        os.makedirs(os.path.dirname(self.state_path) or ".", exist_ok=True)
        with atomic.atomic_path(self.state_path, suffix=".npz") as temp:
            np.savez(temp, **state)
        self._previous = (self.epoch, self.count, arrays)

    def _restore(self, generation_epoch, generations):
        count, arrays = generations[generation_epoch]
        variables = _averaged_variables(self.model)
        if len(arrays) != len(variables) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, variables)):
            raise ValueError(f"{self.state_path}: the stored weight average does not fit this model; delete the "
                             "run directory's backup to start the run again")
        self.average = [keras.ops.convert_to_tensor(a) for a in arrays]
        self.count, self.epoch = count, generation_epoch
        self._previous = (generation_epoch, count, arrays)

    # ---- Keras hooks --------------------------------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch
        if not self._resumed:
            self._resumed = True
            generations = self._load_generations()
            if epoch - 1 in generations:  # resumed after epoch - 1: continue its average
                self._restore(epoch - 1, generations)
        if self.mode == "ema" and epoch >= self.start_epoch and self.average is None:
            self.average = [keras.ops.copy(v.value) for v in _averaged_variables(self.model)]

    def on_train_batch_end(self, batch, logs=None):
        if self.mode != "ema" or self._current < self.start_epoch:
            return
        d = self.decay
        self.average = [d * a + (1.0 - d) * v.value for a, v in zip(self.average, _averaged_variables(self.model))]
        self.count += 1

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        if self.mode == "swa":
            weights = [v.value for v in _averaged_variables(self.model)]
            if self.average is None:
                self.average, self.count = [keras.ops.copy(w) for w in weights], 1
            else:
                n = float(self.count + 1)
                self.average = [a + (w - a) / n for a, w in zip(self.average, weights)]
                self.count += 1
        self.epoch = epoch
        self._save([keras.ops.convert_to_numpy(a) for a in self.average])

    # ---- the result ---------------------------------------------------------------------------------------

    def apply(self, model):
        """Assigns the averaged weights to `model`; returns the last epoch averaged, or None if nothing was.

        A run that was already complete (resumed with nothing left to train) takes the stored average.
        """
        if self.average is None:
            generations = self._load_generations()
            if not generations:
                return None
            self.set_model(model)
            self._restore(max(generations), generations)
        for variable, value in zip(_averaged_variables(model), self.average):
            variable.assign(keras.ops.cast(value, variable.dtype))
        return self.epoch
