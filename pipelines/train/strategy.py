"""Picks the tf.distribute strategy and the mixed-precision policy for the hardware at hand.

Order for `strategy="auto"`: TPU (an explicit `--tpu` address, or a TPU announced by the environment as on
Kaggle and Colab), multi-worker (a `TF_CONFIG` naming several workers), `MirroredStrategy` over several GPUs,
one GPU, else the CPU.
"""

import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("auto", "tpu", "multiworker", "mirrored", "gpu", "cpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
_TPU_ENV_VARS = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE", "KAGGLE_TPU")


def _tpu_announced():
    return any(os.environ.get(name) for name in _TPU_ENV_VARS) or os.path.exists("/dev/accel0")


def _multiworker_announced():
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1


def _connect_tpu(address):
    # On TPU VMs (Kaggle) the resolver wants "local"; on Colab's older TPU nodes it reads COLAB_TPU_ADDR itself.
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address or None)
    if address not in (None, "local"):
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def resolve_strategy(name="auto", tpu=None):
    """Returns the `tf.distribute.Strategy` for `name` (one of `STRATEGIES`)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    if name == "tpu" or (name == "auto" and (tpu or _tpu_announced())):
        try:
            return _connect_tpu(tpu)
        except (ValueError, tf.errors.OpError, RuntimeError) as err:
            if name == "tpu":
                raise RuntimeError(f"--strategy tpu: could not connect to a TPU ({err})") from err
    if name == "multiworker" or (name == "auto" and _multiworker_announced()):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        # Without GPUs this mirrors over the logical CPUs, which is how the tests exercise the replica path.
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if name == "gpu" or (name == "auto" and gpus):
        if not gpus:
            raise RuntimeError("--strategy gpu: TensorFlow sees no GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def strategy_kind(strategy):
    """"tpu", "gpu" or "cpu": the accelerator kind the strategy runs on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    try:
        devices = strategy.extended.worker_devices or ()
    except RuntimeError:  # the default (no-op) strategy has no device list: it runs where TF places ops
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    return "gpu" if any("GPU" in d.upper() for d in devices) else "cpu"


def resolve_precision(precision, strategy):
    """The Keras dtype policy name: bfloat16 on TPU, float16 on GPU, float32 on CPU unless overridden."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return {"tpu": "mixed_bfloat16", "gpu": "mixed_float16", "cpu": "float32"}[strategy_kind(strategy)]


def apply_precision(policy_name):
    """Sets the global Keras policy; `compile` then wraps the optimizer in loss scaling for mixed_float16."""
    keras.mixed_precision.set_global_policy(policy_name)
    return policy_name


def describe(strategy):
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) on {strategy_kind(strategy)}"
