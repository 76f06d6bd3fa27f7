"""SWA / EMA weight averaging: the average against weights recorded during the same fit, and across a resume."""

import shutil

import keras
import numpy as np
import pytest

from pipelines.config import RunConfig, TrainConfig
from pipelines.run_dir import RunDir
from pipelines.train.averaging import WeightAveraging, first_averaged_epoch
from pipelines.train.training import train

EPOCHS = 4


class Recorder(keras.callbacks.Callback):
    """Copies of every weight after each batch and after each epoch (the reference the average is checked on)."""

    def __init__(self):
        super().__init__()
        self.epochs, self.batches, self.epoch = [], [], None

    def _copy(self):
        return [np.array(keras.ops.convert_to_numpy(v.value), np.float64) for v in self.model.weights]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self.epoch, self._copy()))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self._copy())


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)).astype("float32")
    return x, (x[:, :1] - x[:, 1:2] > 0).astype("float32")


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _fit(model, callbacks, epochs=EPOCHS):
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def _values(model):
    return [np.asarray(keras.ops.convert_to_numpy(v.value), np.float64) for v in model.weights]


def test_swa_is_the_mean_of_the_last_epochs_weights(tmp_path):
    model, recorder = _model(), Recorder()
    averaging = WeightAveraging("swa", str(tmp_path / "avg.npz"), start_epoch=1)
    _fit(model, [recorder, averaging])
    assert averaging.apply(model) == EPOCHS - 1
    expected = [np.mean([epoch[i] for epoch in recorder.epochs[1:]], axis=0) for i in range(len(model.weights))]
    for got, want in zip(_values(model), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ema_follows_every_step_from_its_first_epoch(tmp_path):
    model, recorder, decay = _model(), Recorder(), 0.9
    averaging = WeightAveraging("ema", str(tmp_path / "avg.npz"), start_epoch=2, decay=decay)
    _fit(model, [recorder, averaging])
    average = recorder.epochs[1]  # the weights at the start of epoch 2
    for epoch, weights in recorder.batches:
        if epoch >= 2:
            average = [decay * a + (1 - decay) * w for a, w in zip(average, weights)]
    averaging.apply(model)
    for got, want in zip(_values(model), average):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["swa", "ema"])
def test_a_resume_after_a_kill_between_state_and_backup_counts_no_epoch_twice(tmp_path, mode):
    whole = _model()
    whole_avg = WeightAveraging(mode, str(tmp_path / "whole.npz"), start_epoch=1, decay=0.8)
    _fit(whole, [whole_avg])
    whole_avg.apply(whole)

    backup, state = str(tmp_path / "backup"), str(tmp_path / "backup" / "avg.npz")
    saved = tmp_path / "backup_after_epoch_1"

    class KeepBackupOfEpoch1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                shutil.copytree(backup, saved, ignore=shutil.ignore_patterns("avg.npz"))

    first = _model()
    _fit(first, [WeightAveraging(mode, state, start_epoch=1, decay=0.8),
                 keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False), KeepBackupOfEpoch1()],
         epochs=3)
    # A kill after epoch 2's average was written but before its backup: the backup is still epoch 1's.
    for name in ("latest.weights.h5", "training_metadata.json"):
        shutil.copy(saved / name, f"{backup}/{name}")
    resumed = _model()
    resumed_avg = WeightAveraging(mode, state, start_epoch=1, decay=0.8)
    _fit(resumed, [resumed_avg, keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    resumed_avg.apply(resumed)
    for got, want in zip(_values(resumed), _values(whole)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_averaging_covers_the_last_half_by_default():
    assert first_averaged_epoch(TrainConfig(epochs=10, weight_averaging="swa")) == 5
    assert first_averaged_epoch(TrainConfig(epochs=5, weight_averaging="swa")) == 2
    assert first_averaged_epoch(TrainConfig(epochs=10, weight_averaging="ema", averaging_epochs=3)) == 7


def test_the_averaged_weights_are_the_runs_model(tiny_shards, tmp_path):
    run_config = RunConfig.from_dict({
        "data": {"shards": tiny_shards.directory, "clip_samples": 400, "batch_size": 4},
        "features": {"kind": "logmel", "n_fft": 128, "win_length": 128, "hop_length": 64, "n_mels": 8},
        "model": {"name": "lcnn", "params": {"preset": "tiny"}},
        "train": {"epochs": 3, "weight_averaging": "swa", "averaging_epochs": 2},
    })
    run = RunDir(tmp_path / "run")
    train(run_config, run.path, verbose=0)
    best = run.best()
    assert best["weights"] == "swa" and best["epoch"] == 2 and best["averaged_from_epoch"] == 1
    with np.load(run.averaging_path) as state:
        stored = [state[f"current_{i}"] for i in range(int(state["current_size"]))]
    model = run.load_model()
    floats = [v for v in model.weights if "float" in str(v.dtype)]
    assert len(floats) == len(stored)
    for variable, value in zip(floats, stored):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable.value), value, rtol=1e-6)
