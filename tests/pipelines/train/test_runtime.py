"""The runtime chooser: announcements read from the environment, backend checks, global batch, precision.

The replica path of TensorFlow (MirroredStrategy over two logical CPUs) runs in a fresh process, since logical
devices can only be configured before TensorFlow initialises them.
"""

import json
import textwrap

import keras
import numpy as np
import pytest

from backend_process import run_python
from platform_environments import COLAB_GPU, COLAB_TPU_VM, KAGGLE_TPU_VM, NO_DEVICES
from pipelines.config import RunConfig, TrainConfig
from pipelines.train import runtime as runtimes
from pipelines.train.training import train
from tfrecord_builder.dataclass_config import ConfigError

def test_tpu_vms_are_announced_with_their_evidence_and_the_local_resolver():
    kaggle = runtimes.announced_tpu(KAGGLE_TPU_VM, device_glob=NO_DEVICES)
    assert kaggle.address == "local"
    assert kaggle.evidence == ("TPU_PROCESS_ADDRESSES=local", "TPU_WORKER_HOSTNAMES=localhost")
    colab = runtimes.announced_tpu(COLAB_TPU_VM, device_glob=NO_DEVICES)
    assert colab.address == "local"
    assert colab.evidence == ("TPU_ACCELERATOR_TYPE=v5e-1", "TPU_WORKER_HOSTNAMES=localhost", "COLAB_TPU_1VM=1")


def test_empty_variables_announce_nothing():
    assert runtimes.announced_tpu(COLAB_GPU, device_glob=NO_DEVICES) is None
    assert runtimes.announced_tpu({}, device_glob=NO_DEVICES) is None


def test_accel_device_files_announce_a_tpu_vm(tmp_path):
    (tmp_path / "accel0").write_text("")
    announcement = runtimes.announced_tpu({}, device_glob=str(tmp_path / "accel*"))
    assert announcement.address == "local" and announcement.evidence == (str(tmp_path / "accel0"),)


def test_tpu_nodes_and_explicit_addresses_name_their_resolver_address():
    node = runtimes.announced_tpu({"COLAB_TPU_ADDR": "10.0.0.2:8470"}, device_glob=NO_DEVICES)
    assert node.address == "grpc://10.0.0.2:8470" and not node.is_vm
    assert runtimes.announced_tpu({"TPU_NAME": "my-node"}, device_glob=NO_DEVICES).address == "my-node"
    explicit = runtimes.announced_tpu(KAGGLE_TPU_VM, tpu="10.1.1.1:8470", device_glob=NO_DEVICES)
    assert explicit.address == "grpc://10.1.1.1:8470" and explicit.evidence[0] == "--tpu 10.1.1.1:8470"
    # A TPU VM may also carry TPU_NAME: its chips are local.
    vm = runtimes.announced_tpu({**KAGGLE_TPU_VM, "TPU_NAME": "kaggle"}, device_glob=NO_DEVICES)
    assert vm.address == "local"


def test_single_host_tpu_vms_are_not_multi_host_jobs():
    assert runtimes.multi_host_job(KAGGLE_TPU_VM) is None
    assert runtimes.multi_host_job(COLAB_TPU_VM) is None
    assert runtimes.multi_host_job({}) is None


def test_multi_host_environments_are_recognised():
    pod = runtimes.multi_host_job({"TPU_WORKER_HOSTNAMES": "t1k-w0,t1k-w1", "TPU_HOST_BOUNDS": "1,1,1"})
    assert pod.evidence == ("TPU_WORKER_HOSTNAMES=t1k-w0,t1k-w1",) and pod.arguments == {}
    assert runtimes.multi_host_job({"TPU_HOST_BOUNDS": "2,1,1"}).evidence == ("TPU_HOST_BOUNDS=2,1,1",)
    explicit = runtimes.multi_host_job({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
                                        "JAX_PROCESS_ID": "1"})
    assert explicit.arguments == {"coordinator_address": "10.0.0.1:1234", "num_processes": 2, "process_id": 1}
    keras_job = runtimes.multi_host_job({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h0:1234,h1:1234,h2:1234",
                                         "KERAS_DISTRIBUTION_PROCESS_ID": "2"})
    assert keras_job.arguments == {"coordinator_address": "h0:1234", "num_processes": 3, "process_id": 2}
    assert runtimes.multi_host_job({"SLURM_NTASKS": "4"}).evidence == ("SLURM_NTASKS=4",)
    assert runtimes.multi_host_job({"SLURM_NTASKS": "1", "JAX_NUM_PROCESSES": "1"}) is None


def test_tf_config_counts_workers_and_rejects_bad_json():
    cluster = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}, "task": {"type": "worker", "index": 0}}
    assert runtimes.tf_config_workers({"TF_CONFIG": json.dumps(cluster)}) == 3
    assert runtimes.tf_config_workers({}) == 0
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        runtimes.tf_config_workers({"TF_CONFIG": "{not json"})


def test_backend_checks_name_the_fix():
    active = keras.backend.backend()
    assert runtimes.check_backend("auto") == active == runtimes.check_backend(active)
    with pytest.raises(ConfigError, match="unknown backend 'torch'"):
        runtimes.check_backend("torch")
    other = "jax" if active == "tensorflow" else "tensorflow"
    with pytest.raises(ConfigError, match=f"KERAS_BACKEND={other} before Keras is imported") as error:
        runtimes.check_backend(other)
    assert f"imported with the {active!r} backend" in str(error.value)
    assert f"fakespeech train --backend {other}" in str(error.value)


def test_config_refuses_unknown_backends_and_strategies():
    with pytest.raises(ConfigError, match="train.backend: 'torch' is not one of auto, tensorflow, jax"):
        TrainConfig(backend="torch")
    with pytest.raises(ConfigError, match="train.strategy"):
        TrainConfig(strategy="quantum")
    with pytest.raises(ConfigError, match="train.global_batch_size"):
        TrainConfig(global_batch_size=0)


def _runtime(kind, devices, processes=1, capability=None):
    # A Runtime described by hand: the batch and precision rules read only these fields.
    return runtimes.Runtime(backend="jax", kind=kind, devices=tuple(f"d{i}" for i in range(devices)),
                            distribution=f"DataParallel over {devices} devices", num_processes=processes,
                            data_parallel=object() if devices > 1 else None, compute_capability=capability)


def test_global_batch_is_per_device_times_devices_and_must_divide():
    eight = _runtime("tpu", 8)
    assert eight.global_batch(16) == 128
    assert eight.global_batch(16, global_batch_size=64) == 64
    with pytest.raises(ConfigError, match="global_batch_size=12 does not divide over the 8 devices"):
        eight.global_batch(16, global_batch_size=12)
    with pytest.raises(ConfigError, match="global batch 6 does not divide over the 4 hosts"):
        _runtime("cpu", 1, processes=4).global_batch(6)


def test_precision_follows_the_hardware_unless_overridden():
    assert _runtime("tpu", 8).precision() == "mixed_bfloat16"
    assert _runtime("gpu", 1, capability=(7, 5)).precision() == "mixed_float16"
    assert _runtime("gpu", 1, capability=(8, 0)).precision() == "mixed_bfloat16"
    assert _runtime("cpu", 1).precision() == "float32"
    assert _runtime("cpu", 1).precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ConfigError, match="precision"):
        _runtime("cpu", 1).precision("int4")


def test_auto_uses_the_devices_keras_lists():
    runtime = runtimes.choose_runtime(environ={})
    listed = keras.distribution.list_devices()  # e.g. ["cpu:0"] on the development machine
    kind = "gpu" if any(name.lower().startswith("gpu") for name in listed) else "cpu"
    # Every listed device takes part, except TensorFlow on CPUs, which computes on one CPU device.
    count = len(listed) if kind == "gpu" or keras.backend.backend() == "jax" else 1
    assert (runtime.kind, runtime.num_replicas, runtime.backend) == (kind, count, keras.backend.backend())
    assert runtime.describe().startswith(f"backend {keras.backend.backend()}; devices: {count} x {kind}")


def test_unknown_strategy_is_refused():
    with pytest.raises(ConfigError, match="unknown strategy 'quantum'"):
        runtimes.choose_runtime(strategy="quantum")


def test_mixed_precision_models_keep_float32_logits():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((4,))
        float32_head = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(keras.layers.Dense(3)(inputs)))
        bfloat16_head = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="low")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    runtimes.check_float32_logits(float32_head)
    with pytest.raises(ValueError, match="'low' outputs \\['bfloat16'\\]"):
        runtimes.check_float32_logits(bfloat16_head)


def test_a_global_batch_larger_than_the_split_is_refused_before_anything_is_written(tiny_shards, tmp_path):
    config = RunConfig.from_dict({"data": {"shards": tiny_shards.directory, "clip_samples": 400, "batch_size": 16},
                                  "features": {"n_fft": 128, "win_length": 128, "hop_length": 64, "n_mels": 8},
                                  "train": {"strategy": "cpu"}})  # one device wherever the test runs
    with pytest.raises(ConfigError, match="holds 12 examples, fewer than one global batch of 16 \\(16 per device"):
        train(config, str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pipelines.config import RunConfig
    from pipelines.train import runtime as runtimes
    from pipelines.train.end_to_end import build_end_to_end
    from pipelines.train.training import compile_model

    config = RunConfig.from_dict({
        "data": {"clip_samples": 4000, "batch_size": 8},
        "features": {"kind": "logmel", "n_mels": 16, "n_fft": 256, "win_length": 256, "hop_length": 128},
        "model": {"name": "custom_cnn", "params": {"filters": [4, 8], "dense_units": 16, "dropout": 0.0}},
        "train": {"schedule": "constant", "learning_rate": 0.01},
    })
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4000)).astype("float32") * 0.1
    y = np.array([[0], [1]] * 4, dtype="float32")
    out, weights = {}, None
    for name in ("cpu", "mirrored"):
        runtime = runtimes.choose_runtime(strategy=name).activate()
        with runtime.scope():
            keras.utils.set_random_seed(0)
            model = build_end_to_end(config, with_augmentation=False)
            compile_model(model, config, steps_per_epoch=1, runtime=runtime)
            weights = weights or model.get_weights()
            model.set_weights(weights)
        # 7 rows: the forward pads them to a multiple of the replicas and drops the padding again.
        before = runtime.forward(model)(x[:7])
        reference = np.asarray(model(x[:7], training=False))
        history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0)
        out[name] = {"loss": float(history.history["loss"][0]), "replicas": runtime.num_replicas,
                     "forward_error": float(np.abs(before - reference).max()), "rows": len(before)}
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_mirrored_over_two_cpus_gives_the_single_device_loss_and_scores():
    result = run_python(_MIRRORED_SCRIPT, "tensorflow")
    assert (result["mirrored"]["replicas"], result["cpu"]["replicas"]) == (2, 1)
    assert result["mirrored"]["loss"] == pytest.approx(result["cpu"]["loss"], rel=1e-4, abs=1e-5)
    for name in ("cpu", "mirrored"):
        assert result[name]["rows"] == 7
        assert result[name]["forward_error"] < 1e-6
    assert np.isfinite(result["cpu"]["loss"])
