"""TPU detection against the environments of Kaggle and Colab TPU VMs and of TPU nodes, on a machine without a TPU.

The resolver is TensorFlow's real `TPUClusterResolver`, wrapped only to record how it is called; it fails for real
here (no TPU, an unreachable address), which is the failure a misconfigured TPU runtime gives. Every announced TPU
that cannot be initialised must stop the run with what was found, what failed and what to do, unless the user asks
for the CPU; on JAX the failure is JAX's own (no libtpu).
"""

import contextlib
import socket
import textwrap

import pytest
import tensorflow as tf

from backend_process import run_python
from pipelines.train import runtime as runtimes
from platform_environments import COLAB_TPU_VM, KAGGLE_TPU_VM, NO_DEVICES


class RecordingResolver:
    """Calls TensorFlow's TPUClusterResolver, remembering the keyword arguments of each call."""

    def __init__(self):
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return tf.distribute.cluster_resolver.TPUClusterResolver(**kwargs)


def _closed_port():
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize("environ, evidence", [(KAGGLE_TPU_VM, "TPU_PROCESS_ADDRESSES=local"),
                                               (COLAB_TPU_VM, "TPU_ACCELERATOR_TYPE=v5e-1")], ids=["kaggle", "colab"])
def test_tpu_vm_uses_the_local_resolver_and_fails_loudly(environ, evidence):
    resolver = RecordingResolver()
    announcement = runtimes.announced_tpu(environ, device_glob=NO_DEVICES)
    with pytest.raises(runtimes.AcceleratorError) as error:
        runtimes.tpu_strategy(announcement, resolver)
    assert resolver.calls == [{"tpu": "local"}]
    message = str(error.value)
    assert evidence in message  # what was found
    assert "TPUClusterResolver(tpu='local')" in message  # what failed, with TensorFlow's own error
    assert 'pip install "fakespeech[tpu]"' in message and "KERAS_BACKEND=jax" in message  # what to do
    assert "--strategy cpu" in message


def test_tpu_node_address_that_cannot_be_reached_fails_within_seconds():
    port = _closed_port()
    resolver = RecordingResolver()
    announcement = runtimes.announced_tpu({"COLAB_TPU_ADDR": f"127.0.0.1:{port}"}, device_glob=NO_DEVICES)
    with pytest.raises(runtimes.AcceleratorError, match=f"grpc://127.0.0.1:{port} cannot be reached") as error:
        runtimes.tpu_strategy(announcement, resolver)
    assert resolver.calls == [{"tpu": f"grpc://127.0.0.1:{port}"}]
    assert f"COLAB_TPU_ADDR=127.0.0.1:{port}" in str(error.value)


def test_named_tpu_node_that_cannot_be_resolved_fails_loudly():
    resolver = RecordingResolver()
    announcement = runtimes.announced_tpu({"TPU_NAME": "no-such-tpu-node"}, device_glob=NO_DEVICES)
    with pytest.raises(runtimes.AcceleratorError, match="TPUClusterResolver\\(tpu='no-such-tpu-node'\\)"):
        runtimes.tpu_strategy(announcement, resolver)
    assert resolver.calls == [{"tpu": "no-such-tpu-node"}]


# Runs on one backend with the announcing variables really set (JAX and TensorFlow read them themselves).
_CHOOSE_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, os, sys
    import tensorflow as tf
    from pipelines.commands import train as train_command
    from pipelines.train import runtime as runtimes

    calls = []
    def resolver(**kwargs):
        calls.append(kwargs)
        return tf.distribute.cluster_resolver.TPUClusterResolver(**kwargs)

    out = {}
    for strategy in ("auto", "tpu", "cpu"):
        try:
            out[strategy] = runtimes.choose_runtime(strategy=strategy, tpu_resolver=resolver).describe()
        except runtimes.AcceleratorError as error:
            out[strategy] = "AcceleratorError: " + str(error)
    out["calls"] = calls
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        out["exit"] = train_command.main(["--shards", sys.argv[1], "--run-dir", sys.argv[2], "--quiet"])
    out["stderr"] = stderr.getvalue()
    out["run_dir_written"] = os.path.exists(sys.argv[2])
    for name in [name for name in os.environ if name.startswith("TPU_")]:
        del os.environ[name]
    os.environ["COLAB_TPU_ADDR"] = "127.0.0.1:" + sys.argv[3]  # an older Colab runtime: a TPU node
    try:
        out["node"] = runtimes.choose_runtime(tpu_resolver=resolver).describe()
    except runtimes.AcceleratorError as error:
        out["node"] = "AcceleratorError: " + str(error)
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_announced_tpu_never_falls_back_to_the_cpu_silently(backend, tiny_shards, tmp_path):
    port = _closed_port()
    result = run_python(_CHOOSE_SCRIPT, backend, args=(tiny_shards.directory, tmp_path / "run", port),
                        **KAGGLE_TPU_VM)
    for strategy in ("auto", "tpu"):
        assert result[strategy].startswith("AcceleratorError: found a TPU (TPU_PROCESS_ADDRESSES=local")
        assert 'pip install "fakespeech[tpu]"' in result[strategy]
    if backend == "tensorflow":
        assert result["calls"] == [{"tpu": "local"}, {"tpu": "local"}, {"tpu": f"grpc://127.0.0.1:{port}"}]
        assert "TPUClusterResolver(tpu='local')" in result["auto"]
        assert f"grpc://127.0.0.1:{port} cannot be reached" in result["node"]
    else:
        assert "JAX" in result["auto"] and "libtpu" in result["auto"]  # JAX's own reason
        assert "JAX runs on TPU VMs only" in result["node"]
    assert result["node"].startswith(f"AcceleratorError: found a TPU (COLAB_TPU_ADDR=127.0.0.1:{port})")
    assert result["cpu"].startswith(f"backend {backend}; devices: 1 x cpu")  # asked for: the CPU
    # The command: a usage error (exit 2), one line naming the TPU, and nothing written.
    assert result["exit"] == 2
    assert result["stderr"].startswith("fakespeech train: error: found a TPU (TPU_PROCESS_ADDRESSES=local")
    assert len(result["stderr"].strip().splitlines()) == 1
    assert not result["run_dir_written"]


