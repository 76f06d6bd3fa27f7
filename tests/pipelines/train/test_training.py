"""Training pieces: learning-rate schedules, optimizers, loss weights for soft targets, history rows on resume."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.train.callbacks import AtomicHistory
from pipelines.config import RunConfig, TrainConfig
from pipelines.train.training import _with_sample_weights, build_optimizer, build_schedule, loss_weights


def test_cosine_warms_up_then_decays_to_the_floor():
    config = TrainConfig(epochs=10, learning_rate=1e-3, min_learning_rate=1e-5, warmup_epochs=1)
    schedule = build_schedule(config, steps_per_epoch=100)
    lr = lambda step: float(schedule(step))  # noqa: E731
    assert lr(0) == pytest.approx(0.0, abs=1e-9)
    assert lr(50) == pytest.approx(0.5e-3, rel=1e-3)
    assert lr(100) == pytest.approx(1e-3, rel=1e-3)
    midway = 100 + 450  # half of the 900 cosine steps: (peak + floor) / 2
    assert lr(midway) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-3)
    assert lr(1000) == pytest.approx(1e-5, rel=1e-3)


def test_step_schedule_decays_every_n_epochs():
    config = TrainConfig(schedule="step", learning_rate=0.1, step_decay_epochs=2, step_decay_rate=0.5)
    schedule = build_schedule(config, steps_per_epoch=10)
    assert [float(schedule(s)) for s in (0, 19, 20, 40)] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_constant_schedule_and_optimizers():
    assert build_schedule(TrainConfig(schedule="constant", learning_rate=0.02), 5) == 0.02
    assert isinstance(build_optimizer(TrainConfig(optimizer="adamw", weight_decay=1e-4), 5), keras.optimizers.AdamW)
    with pytest.raises(ValueError, match="train.optimizer"):
        build_optimizer(TrainConfig(optimizer="sgd-ish"), 5)
    with pytest.raises(ValueError, match="train.schedule"):
        build_schedule(TrainConfig(schedule="linear"), 5)


def test_class_weights_come_from_the_manifest_counts(tiny_shards):
    config = RunConfig.from_dict({"data": {"balance": "weights"}})
    bona, spoof = loss_weights(config, tiny_shards.directory)
    assert bona / spoof == pytest.approx(8 / 4)  # train: 4 bona fide, 8 spoof -> inverse frequency
    fixed = RunConfig.from_dict({"train": {"spoof_loss_weight": 0.1 / 0.9}})
    assert loss_weights(fixed, tiny_shards.directory) == pytest.approx((1.0, 0.1 / 0.9))
    assert loss_weights(RunConfig.from_dict({"data": {"balance": "none"}}), tiny_shards.directory) is None


def test_soft_targets_get_interpolated_weights():
    dataset = tf.data.Dataset.from_tensors((tf.zeros([3, 2]), tf.constant([0.0, 1.0, 0.25])))
    _, target, weight = next(iter(_with_sample_weights(dataset, (2.0, 0.5))))
    assert target.shape == (3, 1)
    np.testing.assert_allclose(weight, [2.0, 0.5, 2.0 - 1.5 * 0.25])


def test_history_drops_rows_of_epochs_that_are_run_again(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n")  # a run killed after epoch 2, backup at epoch 1
    history = AtomicHistory(str(path))
    history.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    history.on_train_begin()
    history.on_epoch_end(2, {"loss": 0.65, "val_eer": 0.1})
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[2]["loss"]) == 0.65 and float(rows[2]["val_eer"]) == 0.1
