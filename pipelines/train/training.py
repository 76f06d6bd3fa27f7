"""`train(run_config, run_dir)`: the whole training run on the runtime `pipelines.train.runtime` chooses.

The run directory's files are `pipelines.run_dir.RunDir`'s. Everything that can be checked (the shards, the
backend and devices, the batch, the model's settings) is checked before the first file of the run is written.
"""

import keras
import tensorflow as tf

from pipelines.data import datasets
from pipelines.run_dir import RunDir
from pipelines.train import runtime as runtimes
from pipelines.train.augmentation import build_batch_mixer, build_waveform_augmenter, check_folders
from pipelines.train.averaging import WeightAveraging, first_averaged_epoch
from pipelines.train.callbacks import (
    AtomicBackupAndRestore,
    AtomicHistory,
    BestModelCheckpoint,
    DevEER,
    StopOnNonFiniteLoss,
)
from pipelines.train.end_to_end import build_end_to_end, measure_feature_statistics, uses_normalization
from pipelines.train.finetune import backbone_train_config, check_ssl_settings, with_backbone_optimizer
from pipelines.train.gmm import is_gmm_run, train_gmm
from pipelines.train.losses import build_loss, check_loss_fits
from tfrecord_builder.dataclass_config import ConfigError


def build_schedule(train_config, steps_per_epoch):
    """The learning-rate schedule: warm-up then cosine (the Kaggle notebooks' recipe), constant, or step decay."""
    lr = train_config.learning_rate
    if train_config.schedule == "constant":
        return lr
    if train_config.schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=max(1, train_config.step_decay_epochs * steps_per_epoch),
            decay_rate=train_config.step_decay_rate, staircase=True,
        )
    if train_config.schedule == "cosine":
        warmup = int(train_config.warmup_epochs * steps_per_epoch)
        total = max(1, train_config.epochs * steps_per_epoch - warmup)
        alpha = min(1.0, train_config.min_learning_rate / lr)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, total, alpha=alpha, warmup_target=lr, warmup_steps=warmup
            )
        return keras.optimizers.schedules.CosineDecay(lr, total, alpha=alpha)
    raise AssertionError(train_config.schedule)  # TrainConfig admits only the schedules above


def build_optimizer(train_config, steps_per_epoch, model=None):
    """The optimizer of `train_config`; with `train.backbone_learning_rate` and a `model` whose SSL front end
    trains, one optimizer per learning-rate group (`pipelines.train.finetune.with_backbone_optimizer`)."""
    optimizer = _single_optimizer(train_config, steps_per_epoch)
    if model is None or train_config.backbone_learning_rate is None:
        return optimizer
    backbone = _single_optimizer(backbone_train_config(train_config), steps_per_epoch, name="ssl_backbone_adam")
    return with_backbone_optimizer(optimizer, backbone, model)


def _single_optimizer(train_config, steps_per_epoch, name=None):
    schedule = build_schedule(train_config, steps_per_epoch)
    name = {} if name is None else {"name": name}
    if train_config.optimizer == "adam":
        # Adam's weight_decay is decoupled in Keras 3 as well; AASIST's recipe uses it with Adam.
        return keras.optimizers.Adam(schedule, weight_decay=train_config.weight_decay or None, **name)
    if train_config.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=train_config.weight_decay, **name)
    raise AssertionError(train_config.optimizer)  # TrainConfig admits only the optimizers above


def loss_weights(run_config, shards):
    """Per-class sample weights `(bona fide, spoof)`, or None when the loss is unweighted."""
    if run_config.train.spoof_loss_weight is not None:
        return 1.0, float(run_config.train.spoof_loss_weight)
    if run_config.data.balance != "weights":
        return None
    weights = datasets.class_weights(shards, run_config.data.train_split)
    return float(weights[0]), float(weights[1])


def _with_sample_weights(dataset, weights):
    """Targets as (batch, 1) to match the logit, plus per-example weights that also work for soft targets."""

    def attach(inputs, target):
        target = tf.reshape(tf.cast(target, tf.float32), [-1, 1])
        if weights is None:
            return inputs, target
        sample_weight = weights[0] + (weights[1] - weights[0]) * target[:, 0]
        return inputs, target, sample_weight

    return dataset.map(attach, num_parallel_calls=tf.data.AUTOTUNE)


def check_one_batch(run_config, shards, global_batch, devices):
    """Raises ConfigError when whole batches are cut from fewer training examples than one global batch."""
    data = run_config.data
    available = datasets.open_shards(shards).num_examples(data.train_split)
    if data.drop_remainder and data.balance != "sample" and available < global_batch:
        raise ConfigError(f"the {data.train_split!r} split holds {available} examples, fewer than one global batch "
                          f"of {global_batch} ({global_batch // devices} per device x {devices} devices): lower "
                          "data.batch_size (--batch-size, per device) or train on fewer devices")


def training_steps(run_config, shards, global_batch):
    if run_config.train.steps_per_epoch:
        return run_config.train.steps_per_epoch
    data = run_config.data.replace(batch_size=global_batch)
    return max(1, datasets.steps_per_epoch(shards, run_config.data.train_split, data))


def make_train_dataset(run_config, shards, global_batch):
    data = run_config.data.replace(batch_size=global_batch)
    dataset = datasets.make_dataset(
        shards, data.train_split, data, training=True,
        waveform_augment=build_waveform_augmenter(run_config.augment, run_config.data.sample_rate),
        batch_mixer=build_batch_mixer(run_config.augment),
    )
    dataset = _with_sample_weights(dataset, loss_weights(run_config, shards))
    # Repeating keeps fit from running dry when steps_per_epoch exceeds one pass (or counts rounded up).
    return dataset.repeat() if data.balance != "sample" else dataset


def make_dev_dataset(run_config, shards, global_batch):
    if not shards.has_split(run_config.data.dev_split):
        return None
    data = run_config.data.replace(batch_size=global_batch)
    return datasets.make_dataset(shards, data.dev_split, data, training=False, with_meta=True)


def feature_statistics(run_config, shards):
    """Feature mean/variance over a few un-augmented training batches (the same crops for a given seed)."""
    data = run_config.data.replace(balance="none")
    dataset = datasets.make_dataset(shards, data.train_split, data, training=True)
    batches = dataset.take(run_config.features.normalization_batches).map(lambda inputs, target: inputs)
    return measure_feature_statistics(run_config, batches)


def steps_per_execution(train_config, runtime=None):
    """Steps fused into one device call: many on TPU, where each call is a host round trip, else one."""
    if train_config.steps_per_execution is not None:
        return train_config.steps_per_execution
    return 32 if runtime is not None and runtime.kind == "tpu" else 1


def compile_model(model, run_config, steps_per_epoch, runtime=None):
    """Compiles for `runtime` (a `pipelines.train.runtime.Runtime`; None: one device, as the tabular runs)."""
    train = run_config.train
    loss = build_loss(train)  # train.loss; a margin loss needs the head build_end_to_end gave the model
    check_loss_fits(loss, model)
    model.compile(
        optimizer=build_optimizer(train, steps_per_epoch, model),
        loss=loss,
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
        steps_per_execution=steps_per_execution(train, runtime),
        # JAX runs uncompiled only as a debugging mode (slow, and not data-parallel): it always compiles.
        jit_compile=True if keras.backend.backend() == "jax" else train.jit_compile,
    )


def _callbacks(run, dev_dataset, patience, averaging=None):
    callbacks = [StopOnNonFiniteLoss()]  # first: a diverged batch stops everything before anything is saved
    if dev_dataset is not None:
        callbacks += [DevEER(dev_dataset), BestModelCheckpoint(run)]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping("val_eer", patience=patience, mode="min"))
    callbacks += [
        AtomicHistory(run.history_path),
        keras.callbacks.TensorBoard(run.logs_dir, write_graph=False),
        *([averaging] if averaging is not None else []),  # its state on disk before the backup counts the epoch
        # Last: an epoch counts as done for a resume only once its dev score, best model and history row exist.
        AtomicBackupAndRestore(run.backup_dir, delete_checkpoint=False),
    ]
    return callbacks


def open_training_shards(run_config):
    """The run's `ShardSet`, checked to hold a training split."""
    if not run_config.data.shards:
        raise ValueError("data.shards is not set: pass --shards DIR")
    shards = datasets.open_shards(run_config.data.shards)
    if shards.sample_rate != run_config.data.sample_rate:
        raise ConfigError(f"data.sample_rate={run_config.data.sample_rate} but the shards in {shards.directory} hold "
                          f"{shards.sample_rate} Hz audio: set data.sample_rate and features.sample_rate to "
                          f"{shards.sample_rate}, or rebuild with 'fakespeech build --sample-rate "
                          f"{run_config.data.sample_rate}'")
    if not shards.has_split(run_config.data.train_split):
        raise ValueError(f"{shards.directory} has no {run_config.data.train_split!r} split (data.train_split; it "
                         f"has {shards.splits}); build it with 'fakespeech build'")
    return shards


def train(run_config, run_dir, verbose=1):
    """Trains `run_config.model` on `run_config.data.shards`; resumes if `run_dir` holds this run, killed.

    Returns:
        The summary dict also written to `summary.json`.
    """
    run = RunDir(run_dir)
    run.check_reusable(run_config)
    check_ssl_settings(run_config)  # an SSL model without its pretrained checkpoint is refused here
    check_folders(run_config.augment)  # a missing noise / RIR folder refuses the run before any data is read
    shards = open_training_shards(run_config)
    if is_gmm_run(run_config):  # fitted by EM on whole utterances, not by gradient descent
        return train_gmm(run_config, run_dir, shards, verbose)
    train_config = run_config.train
    # First: a multi-host JAX job must join before anything computes, and a missing accelerator stops here.
    runtime = runtimes.choose_runtime(train_config.backend, train_config.strategy, train_config.tpu).activate()
    global_batch = runtime.global_batch(run_config.data.batch_size, train_config.global_batch_size)
    check_one_batch(run_config, shards, global_batch, runtime.num_replicas)
    policy = runtime.precision(train_config.precision)
    steps = training_steps(run_config, shards, global_batch)
    if verbose:
        print(f"{runtime.describe()}; precision: {policy}; global batch {global_batch} "
              f"({global_batch // runtime.num_replicas} per device); {steps} steps/epoch", flush=True)
    keras.utils.set_random_seed(train_config.seed)
    # Measured before the mixed-precision policy is set, so in float32.
    with datasets.naming_damaged_shards(shards):
        statistics = feature_statistics(run_config, shards) if uses_normalization(run_config) else None
    runtimes.apply_precision(policy)
    train_dataset = make_train_dataset(run_config, shards, global_batch)
    dev_dataset = make_dev_dataset(run_config, shards, global_batch)
    with runtime.scope():
        model = build_end_to_end(run_config, feature_statistics=statistics)
        runtimes.check_float32_logits(model)
        compile_model(model, run_config, steps, runtime)
    with run.lock():  # the first write: everything above could still refuse the configuration
        run.prepare(run_config)
        averaging = weight_averaging(run, run_config)
        history = _fit(model, run, run_config, shards, train_dataset, dev_dataset, steps, verbose, averaging)
        if averaging is not None and averaging.apply(model) is not None:
            _save_averaged(model, run, run_config, averaging, dev_dataset)
        elif dev_dataset is None or run.best() is None:
            # No dev split (no selection) or no epoch run (train.epochs=0, e.g. to evaluate pretrained weights):
            # the model as it stands is the run's model.
            run.save_model(model)
        summary = _summary(run, history, runtime, policy, global_batch, steps)
        run.save_summary(summary)
    return summary


def _fit(model, run, run_config, shards, train_dataset, dev_dataset, steps, verbose, averaging=None):
    if run_config.train.epochs == 0:  # Keras cannot fit zero epochs; 0 keeps the model as built (pretrained)
        return None
    callbacks = _callbacks(run, dev_dataset, run_config.train.early_stopping_patience, averaging)
    with datasets.naming_damaged_shards(shards):
        return model.fit(train_dataset, epochs=run_config.train.epochs, steps_per_epoch=steps, callbacks=callbacks,
                         verbose=verbose)


def weight_averaging(run, run_config):
    """The `WeightAveraging` callback of `train.weight_averaging`, or None."""
    train = run_config.train
    if train.weight_averaging == "none" or train.epochs == 0:
        return None
    return WeightAveraging(train.weight_averaging, run.averaging_path, start_epoch=first_averaged_epoch(train),
                           decay=train.ema_decay)


def _save_averaged(model, run, run_config, averaging, dev_dataset):
    """The averaged weights are the run's model; their dev EER (if there is a dev split) goes to the best record."""
    if dev_dataset is None:
        run.save_model(model)
        return
    logs = {}
    scorer = DevEER(dev_dataset)
    scorer.set_model(model)
    scorer.on_epoch_end(averaging.epoch, logs)
    run.save_best(model, {"monitor": "val_eer", "value": logs["val_eer"], "epoch": averaging.epoch,
                          "weights": run_config.train.weight_averaging,
                          "averaged_from_epoch": first_averaged_epoch(run_config.train)})


def _summary(run, history, runtime, policy, global_batch, steps):
    return {
        "model": run.model_path,
        "best": run.best(),
        "epochs_run": len(history.epoch) if history else 0,
        "last_epoch_logs": {k: float(v[-1]) for k, v in history.history.items() if v} if history else {},
        "strategy": runtime.describe(),
        "backend": runtime.backend,
        "devices": len(runtime.devices),
        "precision": policy,
        "global_batch": global_batch,
        "steps_per_epoch": steps,
    }
