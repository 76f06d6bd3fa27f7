"""The one runtime chooser: which Keras backend, which devices, how they share a batch, and which precision.

`choose_runtime(backend, strategy, tpu)` returns a `Runtime` for either backend:

- JAX: `keras.distribution.DataParallel` over all devices (TPU chips, GPUs, or CPUs, e.g. the 8 virtual CPUs of
  `XLA_FLAGS=--xla_force_host_platform_device_count=8`); several hosts join one job through
  `jax.distributed.initialize()` when the environment describes them (`multi_host_job`).
- TensorFlow: `TPUStrategy` (a TPU VM: `tpu="local"`; a TPU node: a `grpc://` address or a node name), then
  `MultiWorkerMirroredStrategy` from a `TF_CONFIG` naming several workers, `MirroredStrategy` over several GPUs,
  one GPU, else the CPU.

An accelerator the environment announces (`announced_tpu`, `announced_gpu`) but the backend cannot use stops the
run with an `AcceleratorError` saying what was found, what failed and what to install or set; only
`strategy="cpu"` trains on the CPU regardless. The strategies, for both backends:

| strategy | JAX | TensorFlow |
|---|---|---|
| auto | the announced TPU, else every device of the default platform | TPU, TF_CONFIG workers, GPUs, CPU |
| tpu | every TPU chip | TPUStrategy |
| multiworker | every device of every host (`jax.distributed`) | MultiWorkerMirroredStrategy (TF_CONFIG) |
| mirrored | every local device | MirroredStrategy (GPUs, else the logical CPUs) |
| gpu | one GPU | one GPU |
| cpu | one CPU | one CPU |

The Keras backend is fixed when Keras is first imported (`KERAS_BACKEND`); `check_backend` refuses a requested
backend that differs from it. tf.data stays the host-side input pipeline on both backends.
"""

import contextlib
import dataclasses
import glob
import json
import os
import socket
import weakref

import keras
import numpy as np
import tensorflow as tf

from pipelines.config.stages import BACKENDS, PRECISIONS, STRATEGIES
from tfrecord_builder.dataclass_config import ConfigError

SUPPORTED_BACKENDS = ("tensorflow", "jax")
# Variables through which TPU VMs announce their chips (Kaggle and Colab TPU runtimes set them; only non-empty
# values count: Colab's GPU runtime carries an empty COLAB_TPU_1VM).
TPU_VM_VARIABLES = ("TPU_ACCELERATOR_TYPE", "TPU_PROCESS_ADDRESSES", "TPU_WORKER_HOSTNAMES", "COLAB_TPU_1VM")
# Variables that name a remote TPU node (an older Colab runtime, a GCP TPU node).
TPU_NODE_VARIABLES = ("COLAB_TPU_ADDR", "TPU_NAME")
TPU_DEVICE_GLOB = "/dev/accel*"
GPU_DEVICE_GLOB = "/dev/nvidia[0-9]*"
TPU_CONNECT_TIMEOUT_S = 10.0  # a gRPC connection to an unreachable TPU node otherwise waits forever
INSTALL_TPU = 'pip install "fakespeech[tpu]"'
STRATEGY_VARIABLE = "FAKESPEECH_STRATEGY"  # the strategy of evaluate and predict, which have no --strategy


class AcceleratorError(ConfigError):
    """An announced or requested accelerator that cannot be used; the message says what to install or set."""


def accelerator_error(found, failed, fix):
    fix = fix.replace("--strategy cpu", f"--strategy cpu ({STRATEGY_VARIABLE}=cpu for evaluate and predict)")
    return AcceleratorError(f"found {found}, but {failed}. {fix}")


# ---- what the environment announces -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TpuAnnouncement:
    """A TPU the environment (or `--tpu`) names: the evidence, and the address TensorFlow's resolver is given."""

    evidence: tuple  # e.g. ("TPU_ACCELERATOR_TYPE=v5litepod-8", "/dev/accel0")
    address: str  # "local" (a TPU VM), "grpc://host:port" or a TPU node name

    @property
    def is_vm(self):
        return self.address == "local"

    def describe(self):
        return ", ".join(self.evidence)


def _grpc(address):
    return address if "://" in address or ":" not in address else f"grpc://{address}"


def announced_tpu(environ=None, tpu=None, device_glob=TPU_DEVICE_GLOB):
    """The TPU the environment or an explicit `tpu` address announces, or None.

    A TPU VM (Kaggle, Colab's TPU runtime, a Cloud TPU VM) shows its chips as `/dev/accel*` and through
    `TPU_VM_VARIABLES`: its resolver address is "local". An older TPU node is reached over gRPC: `COLAB_TPU_ADDR`
    (host:port) or `TPU_NAME` (a node name the resolver looks up). An explicit `tpu` wins.
    """
    environ = os.environ if environ is None else environ
    vm = [f"{name}={environ[name]}" for name in TPU_VM_VARIABLES if environ.get(name)]
    vm += sorted(glob.glob(device_glob))
    node = [f"{name}={environ[name]}" for name in TPU_NODE_VARIABLES if environ.get(name)]
    if tpu:
        return TpuAnnouncement((f"--tpu {tpu}", *vm, *node), "local" if tpu == "local" else _grpc(tpu))
    if vm:
        return TpuAnnouncement(tuple(vm + node), "local")
    if environ.get("COLAB_TPU_ADDR"):
        return TpuAnnouncement(tuple(node), _grpc(environ["COLAB_TPU_ADDR"]))
    if environ.get("TPU_NAME"):
        return TpuAnnouncement(tuple(node), environ["TPU_NAME"])
    return None


def announced_gpu(device_glob=GPU_DEVICE_GLOB):
    """The NVIDIA device files of this machine (the driver is loaded: a GPU is there), possibly empty."""
    return tuple(sorted(glob.glob(device_glob)))


@dataclasses.dataclass(frozen=True)
class MultiHostJob:
    """Several hosts described by the environment: the evidence and `jax.distributed.initialize` arguments."""

    evidence: tuple
    arguments: dict  # empty: JAX detects the cluster itself (TPU pods, SLURM, Open MPI)


def _count(value):
    return len([part for part in str(value).split(",") if part.strip()])


def _product(bounds):
    try:
        return int(np.prod([int(part) for part in bounds.split(",")]))
    except ValueError:
        return 1


def multi_host_job(environ=None):
    """The multi-host job the environment describes, or None for one host.

    Recognised: an explicit JAX coordinator (`JAX_COORDINATOR_ADDRESS` + `JAX_NUM_PROCESSES` > 1 +
    `JAX_PROCESS_ID`), Keras' `KERAS_DISTRIBUTION_JOB_ADDRESSES` (several), a TPU pod slice (several
    `TPU_WORKER_HOSTNAMES` or `TPU_PROCESS_ADDRESSES`, or `TPU_HOST_BOUNDS` over more than one host), SLURM
    (`SLURM_NTASKS` > 1) and Open MPI (`OMPI_COMM_WORLD_SIZE` > 1). Kaggle's and Colab's single-host TPU VMs set
    `TPU_WORKER_HOSTNAMES=localhost`, `TPU_HOST_BOUNDS=1,1,1`: one host.
    """
    environ = os.environ if environ is None else environ
    if environ.get("JAX_COORDINATOR_ADDRESS") and int(environ.get("JAX_NUM_PROCESSES", "1") or 1) > 1:
        evidence = tuple(f"{k}={environ[k]}" for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES",
                                                       "JAX_PROCESS_ID") if k in environ)
        arguments = {"coordinator_address": environ["JAX_COORDINATOR_ADDRESS"],
                     "num_processes": int(environ["JAX_NUM_PROCESSES"])}
        if environ.get("JAX_PROCESS_ID", "") != "":
            arguments["process_id"] = int(environ["JAX_PROCESS_ID"])
        return MultiHostJob(evidence, arguments)
    if _count(environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "")) > 1:
        addresses = environ["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(",")
        arguments = {"coordinator_address": addresses[0].strip(), "num_processes": len(addresses)}
        if environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "") != "":
            arguments["process_id"] = int(environ["KERAS_DISTRIBUTION_PROCESS_ID"])
        return MultiHostJob((f"KERAS_DISTRIBUTION_JOB_ADDRESSES={environ['KERAS_DISTRIBUTION_JOB_ADDRESSES']}",),
                            arguments)
    pod = [f"{name}={environ[name]}" for name in ("TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES")
           if _count(environ.get(name, "")) > 1]
    if _product(environ.get("TPU_HOST_BOUNDS", "1")) > 1:
        pod.append(f"TPU_HOST_BOUNDS={environ['TPU_HOST_BOUNDS']}")
    if pod:
        return MultiHostJob(tuple(pod), {})
    for name in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        if environ.get(name, "").isdigit() and int(environ[name]) > 1:
            return MultiHostJob((f"{name}={environ[name]}",), {})
    return None


def tf_config_workers(environ=None):
    """The number of workers (chief included) `TF_CONFIG` names; 0 without one."""
    environ = os.environ if environ is None else environ
    try:
        cluster = json.loads(environ.get("TF_CONFIG", "") or "{}").get("cluster", {})
    except (json.JSONDecodeError, AttributeError) as err:
        raise ConfigError(f"TF_CONFIG is not a JSON object with a 'cluster' ({err})") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


# ---- the backend ------------------------------------------------------------------------------------------


def active_backend():
    return keras.backend.backend()


def check_backend(requested="auto"):
    """The backend a run computes on: the one Keras was imported with, checked against `requested`.

    Raises:
        ConfigError: for an unknown name, a Keras backend fakespeech does not train on, or a mismatch.
    """
    if requested not in BACKENDS:
        raise ConfigError(f"unknown backend {requested!r}; choose from {', '.join(BACKENDS)}")
    active = active_backend()
    if active not in SUPPORTED_BACKENDS:
        raise ConfigError(f"Keras runs on the {active!r} backend (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}); "
                          f"fakespeech runs on {' or '.join(SUPPORTED_BACKENDS)}: set KERAS_BACKEND=jax or "
                          "KERAS_BACKEND=tensorflow before Python imports Keras")
    if requested not in ("auto", active):
        raise ConfigError(
            f"the backend {requested!r} was asked for, but Keras was imported with the {active!r} backend "
            f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '')!r}) and cannot switch inside a process: set "
            f"KERAS_BACKEND={requested} before Keras is imported (a notebook: os.environ['KERAS_BACKEND'] = "
            f"'{requested}' in its first cell, then restart the kernel), or run 'fakespeech train --backend "
            f"{requested}', which does that for you"
        )
    return active


# ---- the runtime ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Runtime:
    """Where a run computes. Build models inside `scope()`; `forward(model)` runs batched inference on it.

    Attributes:
        backend: "tensorflow" or "jax".
        kind: "tpu", "gpu" or "cpu": what the devices are.
        devices: the devices that compute, all hosts (JAX `Device`s, TensorFlow device names).
        distribution: how they share the work, in words ("DataParallel over 8 devices", "TPUStrategy", ...).
        num_processes: hosts (processes) in the job.
        strategy: the `tf.distribute.Strategy` (TensorFlow), else None.
        data_parallel: the `keras.distribution.DataParallel` (JAX over several devices), else None.
        device_details: the first device's description (e.g. "TPU v5 lite"), or "".
        compute_capability: (major, minor) of the first GPU, when known.
    """

    backend: str
    kind: str
    devices: tuple
    distribution: str
    num_processes: int = 1
    strategy: object = None
    data_parallel: object = None
    device_details: str = ""
    compute_capability: tuple = None
    _forwards: weakref.WeakKeyDictionary = dataclasses.field(
        default_factory=weakref.WeakKeyDictionary, repr=False, compare=False)

    @property
    def num_replicas(self):
        """Devices that each take a slice of a batch."""
        if self.strategy is not None:
            return self.strategy.num_replicas_in_sync
        return len(self.devices) if self.data_parallel is not None else 1

    def scope(self):
        """The context to build or load models in: variables are then placed for this runtime."""
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def activate(self):
        """Makes this the process's runtime (JAX: the global Keras distribution); returns self."""
        global _ACTIVE
        if self.backend == "jax":
            keras.distribution.set_distribution(self.data_parallel)
        _ACTIVE = self
        return self

    def global_batch(self, per_device_batch=None, global_batch_size=None):
        """The batch over all devices: `global_batch_size`, or `per_device_batch` x the devices.

        Raises:
            ConfigError: when the global batch does not divide over the devices or the hosts (numbers named).
        """
        replicas = self.num_replicas
        if global_batch_size is None:
            global_batch_size = per_device_batch * replicas
        elif global_batch_size % replicas:
            raise ConfigError(f"train.global_batch_size={global_batch_size} does not divide over the {replicas} "
                              f"devices of {self.distribution}; use a multiple of {replicas}")
        if global_batch_size % self.num_processes:
            raise ConfigError(f"the global batch {global_batch_size} does not divide over the {self.num_processes} "
                              f"hosts of the job; use a multiple of {self.num_processes}")
        return global_batch_size

    def precision(self, requested="auto"):
        """The Keras dtype policy: bfloat16 on TPU; on GPU bfloat16 from compute capability 8 (Ampere) on, else
        float16 (with loss scaling); float32 on CPU. An explicit policy is kept. Logits stay float32 (the heads'
        `Dense(..., dtype="float32")`)."""
        if requested not in PRECISIONS:
            raise ConfigError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
        if requested != "auto":
            return requested
        if self.kind == "tpu":
            return "mixed_bfloat16"
        if self.kind == "gpu":
            return "mixed_bfloat16" if (self.compute_capability or (0,))[0] >= 8 else "mixed_float16"
        return "float32"

    def describe(self):
        """`backend jax; devices: 8 x tpu (TPU v5 lite); distribution: DataParallel over 8 devices[, N hosts]`."""
        details = f" ({self.device_details})" if self.device_details and self.device_details != self.kind else ""
        hosts = f", {self.num_processes} hosts" if self.num_processes > 1 else ""
        return (f"backend {self.backend}; devices: {len(self.devices)} x {self.kind}{details}; "
                f"distribution: {self.distribution}{hosts}")

    def forward(self, model):
        """`f(batch) -> float32 (batch, ...) numpy` running `model` in inference mode, split over the devices.

        Any batch size is accepted: rows are padded up to a multiple of the devices and dropped again. Cached per
        model, so repeated calls (every epoch's dev scoring) reuse the traced/compiled function.
        """
        if model not in self._forwards:
            if self.backend == "jax":
                self._forwards[model] = _jax_forward(model, self.devices, self.data_parallel is not None)
            else:
                self._forwards[model] = _tensorflow_forward(model, self.strategy)
        return self._forwards[model]


def apply_precision(policy_name):
    """Sets the global Keras dtype policy; `compile` then wraps the optimizer in loss scaling for mixed_float16."""
    keras.mixed_precision.set_global_policy(policy_name)
    return policy_name


def check_float32_logits(model):
    """Raises ValueError unless every output of `model` is float32 (a mixed-precision loss needs float32 logits)."""
    dtypes = [str(output.dtype) for output in model.outputs]
    if any(dtype != "float32" for dtype in dtypes):
        raise ValueError(f"model {model.name!r} outputs {dtypes}; its head must compute the logit in float32 "
                         "(Dense(..., dtype='float32')) for mixed precision")


_ACTIVE = None


def current_runtime():
    """The process's runtime: the one `activate`d (by `train`), else one chosen now for inference on this host.

    `FAKESPEECH_STRATEGY` (e.g. `cpu`) sets the strategy of that inference runtime; evaluate and predict have no
    `--strategy` flag.
    """
    if _ACTIVE is None:
        choose_runtime(strategy=os.environ.get(STRATEGY_VARIABLE) or "auto", multi_host=False).activate()
    return _ACTIVE


def _pad_rows(batch, multiple):
    rows = len(batch)
    padded = -(-rows // multiple) * multiple
    if padded == rows:
        return batch, rows
    return np.concatenate([batch, np.zeros((padded - rows, *batch.shape[1:]), batch.dtype)]), rows


def _tensorflow_forward(model, strategy):
    replicas = strategy.num_replicas_in_sync

    @tf.function
    def step(values):
        outputs = strategy.run(lambda x: tf.cast(model(x, training=False), tf.float32), args=(values,))
        return strategy.gather(outputs, axis=0)  # replica slices back in batch order

    def forward(batch):
        batch, rows = _pad_rows(np.asarray(batch, np.float32), replicas)
        per_replica = len(batch) // replicas

        def slice_for(context):  # each replica takes its contiguous slice of the batch
            start = context.replica_id_in_sync_group * per_replica
            return tf.constant(batch[start : start + per_replica])

        values = strategy.experimental_distribute_values_from_function(slice_for)
        return step(values).numpy()[:rows]

    return forward


def _jax_forward(model, devices, data_parallel):
    import jax  # the JAX backend's own dependency, present whenever this backend runs

    if data_parallel:
        mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
        data_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    else:
        data_sharding = replicated = jax.sharding.SingleDeviceSharding(devices[0])

    @jax.jit
    def call(trainable, non_trainable, batch):
        logits, _ = model.stateless_call(trainable, non_trainable, batch, training=False)
        return jax.lax.with_sharding_constraint(logits.astype("float32"), replicated)

    def forward(batch):
        batch, rows = _pad_rows(np.asarray(batch, np.float32), len(devices))
        # Placing the weights is free when they already are (a model built or loaded under this runtime).
        trainable = [jax.device_put(v.value, replicated) for v in model.trainable_variables]
        non_trainable = [jax.device_put(v.value, replicated) for v in model.non_trainable_variables]
        return np.asarray(call(trainable, non_trainable, jax.device_put(batch, data_sharding)))[:rows]

    return forward


def choose_runtime(backend="auto", strategy="auto", tpu=None, environ=None, multi_host=True,
                   tpu_resolver=None):
    """Chooses (but does not activate) the runtime for `strategy` on the backend Keras runs on.

    Args:
        backend: "auto" or the backend the caller expects (checked against Keras', see `check_backend`).
        strategy: one of `STRATEGIES` (see the module docstring).
        tpu: an explicit TPU address: "local", "grpc://host:port" or a TPU node name (TensorFlow).
        environ: the environment to read announcements from (default `os.environ`).
        multi_host: join a multi-host job the environment describes (training); False for inference.
        tpu_resolver: the callable that makes TensorFlow's cluster resolver (default
            `tf.distribute.cluster_resolver.TPUClusterResolver`; tests pass a recording wrapper).

    Raises:
        ConfigError: an unknown backend or strategy; `AcceleratorError` for an accelerator that is announced or
            asked for but cannot be used.
    """
    backend = check_backend(backend)
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    environ = os.environ if environ is None else environ
    if backend == "jax":
        return _jax_runtime(strategy, tpu, environ, multi_host)
    return _tensorflow_runtime(strategy, tpu, environ, multi_host,
                               tpu_resolver or tf.distribute.cluster_resolver.TPUClusterResolver)


# ---- JAX ------------------------------------------------------------------------------------------------


def _hide_gpus_from_tensorflow():
    """tf.data only feeds the host: keep TensorFlow from reserving the GPU memory JAX computes in."""
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow already initialised its devices: too late, and harmless without GPUs
        pass


def _join_multi_host_job(job):
    import jax  # the JAX backend's own dependency

    try:
        jax.distributed.initialize(**job.arguments)
    except RuntimeError as err:
        if "once" in str(err):  # already initialised in this process (e.g. by the notebook)
            return
        raise accelerator_error(f"a multi-host job ({', '.join(job.evidence)})",
                                f"jax.distributed.initialize() failed ({_first_line(err)})",
                                "Start every host with the same command, before JAX computes anything, or pass "
                                "--strategy mirrored (this host's devices only)") from None


def _first_line(err):
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def _jax_devices(platform, found, fix):
    import jax  # the JAX backend's own dependency

    try:
        return jax.devices(platform)
    except RuntimeError as err:
        raise accelerator_error(found, f"JAX {jax.__version__} cannot use it ({_first_line(err)})", fix) from None


def _jax_runtime(strategy, tpu, environ, multi_host):
    import jax  # the JAX backend's own dependency

    _hide_gpus_from_tensorflow()
    announcement = announced_tpu(environ, tpu)
    job = multi_host_job(environ) if multi_host and strategy in ("auto", "tpu", "multiworker") else None
    if strategy == "multiworker" and job is None:
        raise ConfigError("--strategy multiworker: the environment describes one host; set JAX_COORDINATOR_ADDRESS, "
                          "JAX_NUM_PROCESSES and JAX_PROCESS_ID on every host (or run on a TPU pod / SLURM)")
    if job is not None:
        _join_multi_host_job(job)
    if strategy == "cpu":
        devices = jax.devices("cpu")[:1]
        jax.config.update("jax_default_device", devices[0])
    elif strategy == "tpu" or (strategy == "auto" and announcement is not None):
        found = f"a TPU ({announcement.describe()})" if announcement else "--strategy tpu"
        if announcement is not None and not announcement.is_vm:
            raise accelerator_error(found, "JAX runs on TPU VMs only, not on a TPU node reached over gRPC",
                                    "Use a TPU VM runtime (Kaggle and Colab TPUs are TPU VMs), or --backend "
                                    "tensorflow with tensorflow-tpu for a TPU node, or --strategy cpu")
        devices = _jax_devices("tpu", found, f"Install JAX's TPU runtime: {INSTALL_TPU} (jax[tpu], which brings "
                               "libtpu), restart the Python process, and make sure no other process holds the "
                               "TPU; or pass --strategy cpu to train on the CPU")
    elif strategy == "gpu":
        devices = _jax_devices("gpu", "--strategy gpu", 'Install JAX for CUDA: pip install "jax[cuda12]"; or '
                               "--strategy cpu")[:1]
    else:
        devices = jax.devices()
        gpus = announced_gpu()
        if gpus and devices[0].platform == "cpu":
            raise accelerator_error(f"a GPU ({', '.join(gpus)})", f"JAX {jax.__version__} sees only CPU devices",
                                    'Install JAX for CUDA: pip install "jax[cuda12]"; or pass --strategy cpu')
        if strategy != "multiworker" and job is None:
            devices = jax.local_devices()
    kind = devices[0].platform
    data_parallel = keras.distribution.DataParallel(devices=devices) if len(devices) > 1 else None
    capability = getattr(devices[0], "compute_capability", None)
    return Runtime(
        backend="jax",
        kind=kind if kind in ("tpu", "gpu") else "cpu",
        devices=tuple(devices),
        distribution=f"DataParallel over {len(devices)} devices" if data_parallel else "one device",
        num_processes=jax.process_count() if job is not None else 1,
        data_parallel=data_parallel,
        device_details=devices[0].device_kind,
        compute_capability=tuple(int(p) for p in str(capability).split(".")) if capability else None,
    )


# ---- TensorFlow ---------------------------------------------------------------------------------------------


def _check_reachable(master, found):
    """A TPU node's gRPC endpoint must accept a connection: TensorFlow would otherwise wait for it forever."""
    host_port = master.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=TPU_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as err:
        raise accelerator_error(found, f"its address {master} cannot be reached ({_first_line(err)})",
                                "Check that the TPU node is running and that --tpu / COLAB_TPU_ADDR names it; on "
                                "a TPU VM, --tpu local; or pass --strategy cpu") from None


_TF_TPU_FIX = (f"TensorFlow's TPU builds end with tensorflow-tpu 2.20.0 (this is TensorFlow {tf.__version__}): "
               f"train on JAX, {INSTALL_TPU} and KERAS_BACKEND=jax (or fakespeech train --backend jax); or pass "
               "--strategy cpu to train on the CPU")


def tpu_strategy(announcement, tpu_resolver):
    """Connects TensorFlow to the announced TPU and returns its `TPUStrategy`; `AcceleratorError` on failure."""
    found = f"a TPU ({announcement.describe()})"
    try:
        resolver = tpu_resolver(tpu=announcement.address)
        if not announcement.is_vm:
            _check_reachable(resolver.master(), found)
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except AcceleratorError:
        raise
    except Exception as err:  # the resolver raises ValueError, URLError, NotFoundError, RuntimeError...
        raise accelerator_error(found, f"TensorFlow could not initialise it with "
                                f"TPUClusterResolver(tpu={announcement.address!r}) ({_first_line(err)})",
                                _TF_TPU_FIX) from None


def _tensorflow_runtime(strategy, tpu, environ, multi_host, tpu_resolver):
    announcement = announced_tpu(environ, tpu)
    if strategy == "tpu" or (strategy == "auto" and announcement is not None):
        announcement = announcement or TpuAnnouncement(("--strategy tpu",), "local")
        tpu_devices = tuple(d.name for d in tf.config.list_logical_devices("TPU"))
        return _tf_runtime(tpu_strategy(announcement, tpu_resolver), "tpu", tpu_devices or ("TPU",))
    if strategy == "multiworker" or (strategy == "auto" and multi_host and tf_config_workers(environ) > 1):
        if tf_config_workers(environ) < 1:
            raise ConfigError("--strategy multiworker needs TF_CONFIG naming the cluster's workers")
        dist = tf.distribute.MultiWorkerMirroredStrategy()
        gpus = tf.config.list_logical_devices("GPU")
        return _tf_runtime(dist, "gpu" if gpus else "cpu", tuple(dist.extended.worker_devices),
                           num_processes=tf_config_workers(environ))
    gpus = tf.config.list_logical_devices("GPU")
    if strategy == "cpu":
        return _tf_runtime(tf.distribute.OneDeviceStrategy("/cpu:0"), "cpu", ("/cpu:0",))
    if not gpus and announced_gpu() and strategy in ("auto", "gpu", "mirrored"):
        raise accelerator_error(f"a GPU ({', '.join(announced_gpu())})", "TensorFlow sees no GPU",
                                "Install TensorFlow with CUDA: pip install \"tensorflow[and-cuda]\" (or use JAX: "
                                "pip install \"jax[cuda12]\" and KERAS_BACKEND=jax); or pass --strategy cpu")
    if strategy == "mirrored":
        # Without GPUs this mirrors over the logical CPUs, which is how the tests exercise the replica path.
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return _tf_runtime(tf.distribute.MirroredStrategy(devices=devices), "gpu" if gpus else "cpu",
                           tuple(devices))
    if strategy == "auto" and len(gpus) > 1:
        return _tf_runtime(tf.distribute.MirroredStrategy(), "gpu", tuple(d.name for d in gpus))
    if strategy == "gpu" or (strategy == "auto" and gpus):
        if not gpus:
            raise AcceleratorError("--strategy gpu: TensorFlow sees no GPU")
        return _tf_runtime(tf.distribute.OneDeviceStrategy(gpus[0].name), "gpu", (gpus[0].name,))
    return _tf_runtime(tf.distribute.OneDeviceStrategy("/cpu:0"), "cpu", ("/cpu:0",))


def _tf_runtime(strategy, kind, devices, num_processes=1):
    capability = None
    if kind == "gpu":
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        capability = details.get("compute_capability")
    name = type(strategy).__name__
    replicas = strategy.num_replicas_in_sync
    return Runtime(
        backend="tensorflow",
        kind=kind,
        devices=tuple(devices),
        distribution=f"{name} over {replicas} replicas" if replicas > 1 else f"{name}",
        num_processes=num_processes,
        strategy=strategy,
        compute_capability=tuple(capability) if capability else None,
    )
