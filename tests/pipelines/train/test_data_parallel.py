"""Data parallelism on JAX over 8 virtual CPU devices, and whole runs that cross backends.

`XLA_FLAGS=--xla_force_host_platform_device_count=8` gives JAX 8 CPU devices, which is how a TPU v3-8 / v5e-8 looks
to the runtime. Every case runs in fresh processes, one per backend (Keras fixes its backend at import):

- the first-step loss of a batch-normalised LCNN is the same on 8 devices as on one;
- `fakespeech train --backend jax` (started on TensorFlow, so it also re-runs itself on JAX) trains
  data-parallel over the 8 devices to the end;
- a run trained on JAX is evaluated, scored and exported on TensorFlow and a run trained on TensorFlow is evaluated
  and scored on JAX, with the scores each backend gives for the other's run equal to its own;
- two processes (hosts) of 4 devices each join one job through `jax.distributed` and train exactly as one process
  with 8 devices.
"""

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from backend_process import ROOT, backend_env, run_command, run_python
from tfrecord_builder.shards import write_shard_set

DEVICES = 8
SAMPLE_RATE = 16000
CLIP = 800
SETTINGS = [
    "--set", f"data.clip_samples={CLIP}", "--set", "features.n_fft=128", "--set", "features.win_length=128",
    "--set", "features.hop_length=64", "--set", "features.n_mels=8", "--set", "features.normalization_batches=2",
    "--set", 'model.params={"filters": [4, 8], "dense_units": 8, "dropout": 0.0}',
    "--set", "train.schedule=constant", "--set", "train.learning_rate=0.01",
]

_FIRST_STEP_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    import tensorflow as tf
    from pipelines.config import RunConfig
    from pipelines.train import runtime as runtimes
    from pipelines.train.end_to_end import build_end_to_end
    from pipelines.train.training import compile_model

    config = RunConfig.from_dict({
        "data": {"clip_samples": 2000, "batch_size": 2, "balance": "none"},
        "features": {"kind": "logmel", "n_mels": 16, "n_fft": 256, "win_length": 256, "hop_length": 128},
        "model": {"name": "lcnn", "params": {"preset": "tiny", "dropout": 0.0}},  # batch norm: global statistics
        "train": {"schedule": "constant", "learning_rate": 0.01},
    })
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2000)).astype("float32") * 0.1
    y = (np.arange(16) % 2).astype("float32").reshape(-1, 1)
    out, weights = {}, None
    for strategy in ("cpu", "mirrored"):
        runtime = runtimes.choose_runtime(strategy=strategy).activate()
        with runtime.scope():
            keras.utils.set_random_seed(0)
            model = build_end_to_end(config, with_augmentation=False)
            compile_model(model, config, steps_per_epoch=1, runtime=runtime)
        weights = weights or model.get_weights()
        model.set_weights(weights)
        history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
        out[strategy] = {"loss": float(history.history["loss"][0]), "devices": runtime.num_replicas,
                         "distribution": runtime.distribution}
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_first_step_loss_on_eight_devices_equals_the_one_device_loss():
    result = run_python(_FIRST_STEP_SCRIPT, "jax", devices=DEVICES)
    assert result["cpu"]["devices"] == 1
    assert result["mirrored"] == {**result["mirrored"], "devices": 8, "distribution": "DataParallel over 8 devices"}
    assert np.isfinite(result["cpu"]["loss"])
    assert abs(result["mirrored"]["loss"] - result["cpu"]["loss"]) < 1e-5


def _corpus(directory):
    """train 8 + 8, dev 4 + 4, eval 4 + 4 utterances of random int16 noise around the clip length."""
    rng = np.random.default_rng(3)

    def utterances(split, count):
        return [{"samples": rng.integers(-12000, 12000, size=int(rng.integers(600, 1200))).astype(np.int16),
                 "id": f"{split}_{i:03d}", "system_id": "-" if i % 2 == 0 else "A01", "target": i % 2}
                for i in range(count)]

    write_shard_set(str(directory), {"train": utterances("train", 16), "dev": utterances("dev", 8),
                                     "eval": utterances("eval", 8)}, {"train": 2, "dev": 1, "eval": 1},
                    sample_rate=SAMPLE_RATE)
    return str(directory)


def _audio(directory):
    directory.mkdir()
    rng = np.random.default_rng(5)
    paths = []
    for name, seconds in (("long.wav", 0.23), ("short.wav", 0.03)):  # several windows; less than one
        paths.append(str(directory / name))
        sf.write(paths[-1], 0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE)), SAMPLE_RATE, subtype="PCM_16")
    return paths


# Evaluates and scores runs on one backend; exports one. Prints {run: {"eval": {utt: score}, "predict": [...]}}.
_INFERENCE_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    import numpy as np
    import keras
    from pipelines import cli
    from pipelines.evaluate.evaluation import evaluate_run
    from pipelines.evaluate.score_files import read_score_file
    from pipelines.serve.export import export_run
    from pipelines.serve.prediction import predict_files
    from pipelines.train.runtime import current_runtime

    task = json.loads(sys.argv[1])
    out = {"runtime": current_runtime().describe()}
    for command in task.get("commands", []):  # commands expected to fail: exit code and message
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            out.setdefault("commands", []).append([cli.main(command), stderr.getvalue()])
    for run in task["runs"]:
        folder = run + "/eval-" + keras.backend.backend()
        evaluate_run(run, split="eval", out_dir=folder)
        scores = read_score_file(folder + "/scores_eval.txt")
        results = predict_files(run, task["audio"], pool="mean")
        out[run] = {"eval": dict(zip(scores.utt_id, scores.score)),
                    "predict": [[r["windows"], r["score"]] for r in results]}
    if task.get("export"):
        run = task["export"]
        info = export_run(run, "savedmodel", run + "/export-" + keras.backend.backend())
        import tensorflow as tf  # the SavedModel is a TensorFlow graph on either backend
        serve = tf.saved_model.load(info["path"]).signatures["serving_default"]
        from pipelines.serve.prediction import load_predictor, make_batch_scorer
        predictor = load_predictor(run)
        waveforms = np.random.default_rng(0).normal(size=(5, predictor.clip_samples)).astype("float32") * 0.1
        exported = serve(waveform=tf.constant(waveforms))["score"].numpy().reshape(-1)
        ours = make_batch_scorer(predictor.model, 5, predictor.clip_samples)(waveforms)
        out["export"] = {"format": info["format"], "max_difference": float(np.abs(exported - ours).max())}
    print(json.dumps(out))
    """
)


def _infer(backend, **task):
    return run_python(_INFERENCE_SCRIPT, backend, devices=DEVICES if backend == "jax" else None,
                      args=(json.dumps(task),))


def _assert_same_scores(mine, theirs):
    assert mine["eval"].keys() == theirs["eval"].keys() and len(mine["eval"]) == 8
    np.testing.assert_allclose([mine["eval"][k] for k in sorted(mine["eval"])],
                               [theirs["eval"][k] for k in sorted(mine["eval"])], atol=1e-4, rtol=1e-4)
    # 3680 samples in 800-sample windows without overlap: 5 windows; 480 samples: one, padded.
    assert [w for w, _ in mine["predict"]] == [w for w, _ in theirs["predict"]] == [5, 1]
    np.testing.assert_allclose([s for _, s in mine["predict"]], [s for _, s in theirs["predict"]], atol=1e-4,
                               rtol=1e-4)


@pytest.mark.slow
def test_jax_data_parallel_run_and_runs_that_cross_backends(tmp_path):
    shards, audio = _corpus(tmp_path / "shards"), _audio(tmp_path / "audio")
    on_jax, on_tf = str(tmp_path / "run-jax"), str(tmp_path / "run-tf")
    common = ["--shards", shards, "--model", "custom_cnn", "--epochs", "2", "--batch-size", "1", "--seed", "1",
              *SETTINGS]

    # Started on TensorFlow: the command runs itself again on JAX, over the 8 devices, to the end.
    trained = run_command(["train", "--backend", "jax", "--run-dir", on_jax, "--quiet", *common], "tensorflow",
                          devices=DEVICES)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "backend jax; devices: 8 x cpu; distribution: DataParallel over 8 devices" in trained.stdout
    assert "global batch 8 (1 per device)" in trained.stdout
    summary = json.loads((tmp_path / "run-jax" / "summary.json").read_text())
    assert (summary["backend"], summary["devices"], summary["global_batch"], summary["epochs_run"]) == \
        ("jax", 8, 8, 2)

    # On TensorFlow: train a run, then evaluate / score both runs and export the JAX one.
    trained = run_command(["train", "--backend", "tensorflow", "--run-dir", on_tf, "--quiet", *common],
                          "tensorflow")
    assert trained.returncode == 0, trained.stderr[-3000:]
    tf_side = _infer("tensorflow", runs=[on_jax, on_tf], audio=audio, export=on_jax)
    assert tf_side["export"]["max_difference"] < 1e-5

    # On JAX over 8 devices: the same, exporting the JAX run through a TensorFlow child process.
    bad = ["train", "--shards", shards, "--run-dir", str(tmp_path / "bad"), "--set", "train.global_batch_size=12"]
    jax_side = _infer("jax", runs=[on_jax, on_tf], audio=audio, export=on_jax, commands=[bad])
    assert jax_side["runtime"] == "backend jax; devices: 8 x cpu; distribution: DataParallel over 8 devices"
    assert jax_side["export"]["max_difference"] < 1e-5
    exit_code, message = jax_side["commands"][0]
    assert exit_code == 2 and "global_batch_size=12 does not divide over the 8 devices" in message
    assert not (tmp_path / "bad").exists()

    _assert_same_scores(jax_side[on_jax], tf_side[on_jax])
    _assert_same_scores(tf_side[on_tf], jax_side[on_tf])


_HOST_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    import tensorflow as tf
    from pipelines.train import runtime as runtimes

    runtime = runtimes.choose_runtime().activate()  # joins the job the JAX_* variables describe, if any
    keras.utils.set_random_seed(0)
    with runtime.scope():
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(3, activation="tanh")(inputs)))
        model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.arange(64, dtype="float32").reshape(16, 4) / 64
    y = np.sin(x.sum(axis=1, keepdims=True))
    # Every host reads the same global batches; Keras keeps each host's half of every batch.
    history = model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    print(json.dumps({"runtime": runtime.describe(), "processes": runtime.num_processes,
                      "loss": history.history["loss"][0], "scores": runtime.forward(model)(x).ravel().tolist()}))
    """
)


@pytest.mark.slow
def test_two_hosts_join_one_job_and_train_as_one_host_with_all_devices():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hosts = [subprocess.Popen([sys.executable, "-c", _HOST_SCRIPT], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              env=backend_env("jax", 4, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                              JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=index))
             for index in range(2)]
    one_host = run_python(_HOST_SCRIPT, "jax", devices=DEVICES)
    results = []
    for host in hosts:
        stdout, stderr = host.communicate(timeout=600)
        assert host.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert one_host["runtime"] == "backend jax; devices: 8 x cpu; distribution: DataParallel over 8 devices"
    for result in results:
        assert result["runtime"] == one_host["runtime"] + ", 2 hosts" and result["processes"] == 2
        assert abs(result["loss"] - one_host["loss"]) < 1e-5
        np.testing.assert_allclose(result["scores"], one_host["scores"], atol=1e-5)
