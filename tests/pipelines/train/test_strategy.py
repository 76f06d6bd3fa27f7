"""Strategy and precision selection, and the replica path: MirroredStrategy over two logical CPUs."""

import json
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from pipelines import strategy as strategies

# Runs in a fresh process: logical devices can only be configured before TensorFlow initialises them.
_FIRST_STEP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pipelines import strategy as strategies
    from pipelines.config import RunConfig
    from pipelines.end_to_end import build_end_to_end
    from pipelines.training import compile_model

    config = RunConfig.from_dict({
        "data": {"clip_samples": 4000, "batch_size": 8},
        "features": {"kind": "logmel", "n_mels": 16, "n_fft": 256, "win_length": 256, "hop_length": 128},
        "model": {"name": "custom_cnn", "params": {"filters": [4, 8], "dense_units": 16, "dropout": 0.0}},
        "train": {"schedule": "constant", "learning_rate": 0.01},
    })
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4000)).astype("float32") * 0.1
    y = np.array([[0], [1]] * 4, dtype="float32")
    losses, weights = {}, None
    for name in ("cpu", "mirrored"):
        strategy = strategies.resolve_strategy(name)
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = build_end_to_end(config, with_augmentation=False)
            compile_model(model, config, steps_per_epoch=1)
            if weights is None:
                weights = model.get_weights()
            model.set_weights(weights)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        history = model.fit(dataset, epochs=1, verbose=0)
        losses[name] = {"loss": float(history.history["loss"][0]), "replicas": strategy.num_replicas_in_sync}
    json.dump(losses, sys.stdout)
    """
)


@pytest.mark.slow
def test_mirrored_over_two_cpus_gives_the_single_device_first_step_loss():
    result = subprocess.run([sys.executable, "-c", _FIRST_STEP_SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = json.loads(result.stdout.strip().splitlines()[-1])
    assert losses["mirrored"]["replicas"] == 2
    assert losses["cpu"]["replicas"] == 1
    assert losses["mirrored"]["loss"] == pytest.approx(losses["cpu"]["loss"], rel=1e-4, abs=1e-5)


def test_auto_on_a_cpu_machine_is_one_cpu_device():
    strategy = strategies.resolve_strategy("auto")
    assert strategies.strategy_kind(strategy) == "cpu"
    assert strategy.num_replicas_in_sync == 1


def test_precision_follows_the_hardware_unless_overridden():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert strategies.resolve_precision("auto", strategy) == "float32"
    assert strategies.resolve_precision("mixed_bfloat16", strategy) == "mixed_bfloat16"


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="strategy"):
        strategies.resolve_strategy("quantum")
    with pytest.raises(ValueError, match="precision"):
        strategies.resolve_precision("int4", tf.distribute.OneDeviceStrategy("/cpu:0"))


def test_explicit_gpu_without_a_gpu_is_a_clear_error():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has a GPU; the error path needs one without")
    with pytest.raises(RuntimeError, match="no GPU"):
        strategies.resolve_strategy("gpu")


def test_tf_config_with_several_workers_is_detected(monkeypatch):
    cluster = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert strategies._multiworker_announced()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategies._multiworker_announced()
