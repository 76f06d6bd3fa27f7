"""`train(run_config, run_dir)`: the whole training run under an automatic distribution strategy.

The run directory holds `config.json` (the resolved `RunConfig`), `model.keras` (the best model by dev EER),
`history.csv`, `logs/` (TensorBoard), `backup/` (for resuming a killed run) and `summary.json`.
"""

import json
import os

import keras
import tensorflow as tf

from pipelines import datasets, strategy as strategies
from pipelines.augmentation import build_batch_mixer, build_waveform_augmenter
from pipelines.callbacks import AtomicBackupAndRestore, AtomicHistory, BestModelCheckpoint, DevEER
from pipelines.config_base import write_json_atomic
from pipelines.end_to_end import build_end_to_end, measure_feature_statistics, uses_normalization

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"


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
    raise ValueError(f"train.schedule must be cosine, constant or step, got {train_config.schedule!r}")


def build_optimizer(train_config, steps_per_epoch):
    schedule = build_schedule(train_config, steps_per_epoch)
    if train_config.optimizer == "adam":
        # Adam's weight_decay is decoupled in Keras 3 as well; AASIST's recipe uses it with Adam.
        return keras.optimizers.Adam(schedule, weight_decay=train_config.weight_decay or None)
    if train_config.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=train_config.weight_decay)
    raise ValueError(f"train.optimizer must be adam or adamw, got {train_config.optimizer!r}")


def loss_weights(run_config, shards_dir):
    """Per-class sample weights `(bona fide, spoof)`, or None when the loss is unweighted."""
    if run_config.train.spoof_loss_weight is not None:
        return 1.0, float(run_config.train.spoof_loss_weight)
    if run_config.data.balance != "weights":
        return None
    weights = datasets.class_weights(shards_dir, run_config.data.train_split)
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


def training_steps(run_config, shards_dir, global_batch):
    if run_config.train.steps_per_epoch:
        return run_config.train.steps_per_epoch
    if run_config.data.balance == "sample":
        raise ValueError("data.balance=sample gives an endless dataset: set train.steps_per_epoch")
    data = run_config.data.replace(batch_size=global_batch)
    return max(1, datasets.steps_per_epoch(shards_dir, run_config.data.train_split, data))


def make_train_dataset(run_config, shards_dir, global_batch):
    data = run_config.data.replace(batch_size=global_batch)
    dataset = datasets.make_dataset(
        shards_dir, data.train_split, data, training=True,
        waveform_augment=build_waveform_augmenter(run_config.augment, run_config.data.sample_rate),
        batch_mixer=build_batch_mixer(run_config.augment),
    )
    dataset = _with_sample_weights(dataset, loss_weights(run_config, shards_dir))
    # Repeating keeps fit from running dry when steps_per_epoch exceeds one pass (or counts rounded up).
    return dataset.repeat() if data.balance != "sample" else dataset


def make_dev_dataset(run_config, shards_dir, global_batch):
    if not has_split(shards_dir, run_config.data.dev_split):
        return None
    data = run_config.data.replace(batch_size=global_batch)
    return datasets.make_dataset(shards_dir, data.dev_split, data, training=False, with_meta=True)


def feature_statistics(run_config, shards_dir):
    """Feature mean/variance over a few un-augmented training batches (the same crops for a given seed)."""
    data = run_config.data.replace(balance="none")
    dataset = datasets.make_dataset(shards_dir, data.train_split, data, training=True)
    batches = dataset.take(run_config.features.normalization_batches).map(lambda inputs, target: inputs)
    return measure_feature_statistics(run_config, batches)


def has_split(shards_dir, split):
    return bool(tf.io.gfile.glob(os.path.join(shards_dir, f"{split}-*.tfrec")))


def steps_per_execution(train_config, strategy):
    """Steps fused into one device call: many on TPU, where each call is a host round trip, else one."""
    if train_config.steps_per_execution is not None:
        return train_config.steps_per_execution
    return 32 if strategies.strategy_kind(strategy) == "tpu" else 1


def compile_model(model, run_config, steps_per_epoch, strategy=None):
    train = run_config.train
    model.compile(
        optimizer=build_optimizer(train, steps_per_epoch),
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=train.label_smoothing),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
        steps_per_execution=steps_per_execution(train, strategy or tf.distribute.get_strategy()),
        jit_compile=train.jit_compile,
    )


def _callbacks(run_dir, dev_dataset, patience):
    callbacks = []
    if dev_dataset is not None:
        callbacks += [DevEER(dev_dataset), BestModelCheckpoint(os.path.join(run_dir, MODEL_FILE))]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping("val_eer", patience=patience, mode="min"))
    callbacks += [
        AtomicHistory(os.path.join(run_dir, "history.csv")),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False),
        # Last: an epoch counts as done for a resume only once its dev score, best model and history row exist.
        AtomicBackupAndRestore(os.path.join(run_dir, "backup"), delete_checkpoint=False),
    ]
    return callbacks


def check_run_dir(run_dir, run_config):
    """A run directory is reused only by the same configuration (that is how a killed run resumes)."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != json.loads(json.dumps(run_config.to_dict(), default=str)):
            raise ValueError(
                f"{run_dir} holds a run with a different configuration ({path}); "
                "choose another --run-dir or delete it"
            )


def train(run_config, run_dir, verbose=1):
    """Trains `run_config.model` on `run_config.data.shards`; resumes if `run_dir` holds a killed run.

    Returns:
        The summary dict also written to `summary.json`.
    """
    shards_dir = run_config.data.shards
    if not shards_dir:
        raise ValueError("data.shards is not set: pass --shards DIR")
    if not has_split(shards_dir, run_config.data.train_split):
        raise ValueError(f"no {run_config.data.train_split}-*.tfrec shards in {shards_dir} "
                         "(data.shards / data.train_split); build them with 'fakespeech build'")
    os.makedirs(run_dir, exist_ok=True)
    check_run_dir(run_dir, run_config)
    run_config.save_json(os.path.join(run_dir, CONFIG_FILE))
    keras.utils.set_random_seed(run_config.train.seed)

    strategy = strategies.resolve_strategy(run_config.train.strategy, run_config.train.tpu)
    # Measured before the mixed-precision policy is set, so in float32.
    statistics = feature_statistics(run_config, shards_dir) if uses_normalization(run_config) else None
    policy = strategies.apply_precision(strategies.resolve_precision(run_config.train.precision, strategy))
    global_batch = run_config.data.batch_size * strategy.num_replicas_in_sync
    steps = training_steps(run_config, shards_dir, global_batch)
    if verbose:
        print(f"strategy: {strategies.describe(strategy)}; precision: {policy}; global batch {global_batch}; "
              f"{steps} steps/epoch")

    train_dataset = make_train_dataset(run_config, shards_dir, global_batch)
    dev_dataset = make_dev_dataset(run_config, shards_dir, global_batch)
    with strategy.scope():
        model = build_end_to_end(run_config, feature_statistics=statistics)
        compile_model(model, run_config, steps, strategy)
    history = None
    if run_config.train.epochs > 0:  # Keras cannot fit zero epochs; 0 saves the model as built (pretrained)
        history = model.fit(
            train_dataset, epochs=run_config.train.epochs, steps_per_epoch=steps,
            callbacks=_callbacks(run_dir, dev_dataset, run_config.train.early_stopping_patience), verbose=verbose,
        )
    model_path = os.path.join(run_dir, MODEL_FILE)
    if dev_dataset is None or not os.path.exists(model_path):
        # No dev split (no selection) or no epoch run (train.epochs=0, e.g. to evaluate pretrained weights):
        # the model as it stands is the run's model.
        model.save(f"{model_path}.tmp.keras")
        os.replace(f"{model_path}.tmp.keras", model_path)
    summary = _summary(run_dir, history, strategy, policy, global_batch, steps)
    write_json_atomic(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _summary(run_dir, history, strategy, policy, global_batch, steps):
    best_path = os.path.join(run_dir, "model.best.json")
    best = None
    if os.path.exists(best_path):
        with open(best_path, encoding="utf-8") as f:
            best = json.load(f)
    return {
        "model": os.path.join(run_dir, MODEL_FILE),
        "best": best,
        "epochs_run": len(history.epoch) if history else 0,
        "last_epoch_logs": {k: float(v[-1]) for k, v in history.history.items() if v} if history else {},
        "strategy": strategies.describe(strategy),
        "precision": policy,
        "global_batch": global_batch,
        "steps_per_epoch": steps,
    }
