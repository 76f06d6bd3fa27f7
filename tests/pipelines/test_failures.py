"""Failures a user can cause end in one clear line and intact data (issue 12's training and prediction cases)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import run_fixtures as rf
from pipelines.commands.predict import main as predict_main
from pipelines.commands.train import main as train_main
from pipelines.run_dir import RunDir
from pipelines.train.callbacks import TrainingDiverged
from pipelines.train.training import _callbacks
from pipelines.commands.build import main as build_main
from tfrecord_builder.shards import ShardSet

CLIP = 8000
TINY = ["--set", f"data.clip_samples={CLIP}", "--batch-size", "8", "--set", "features.n_mels=16",
        "--set", "model.params.base_filters=4", "--set", "model.params.embedding_units=8", "--quiet"]


@pytest.fixture(scope="module")
def shards(la_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("failures") / "shards"
    assert build_main(["--data", str(la_corpus), "--out", str(out), "--num-shards", "2", "--quiet"]) == 0
    return out


def _train_command(shards, run_dir, *extra):
    return [sys.executable, "-m", "pipelines.cli", "train", "--shards", str(shards), "--run-dir", str(run_dir),
            *TINY, *extra]


def test_a_diverging_loss_stops_naming_the_epoch_and_step_and_keeps_the_last_good_epoch(tmp_path):
    run = RunDir(tmp_path / "run")
    os.makedirs(run.path)
    good = np.ones((4, 3), np.float32)
    # Three finite batches (epoch 1), then a batch whose inputs overflow to inf: the loss is no longer finite.
    batches = [good] * 3 + [np.full((4, 3), np.inf, np.float32)] * 3
    data = tf.data.Dataset.from_tensor_slices(np.stack(batches)).map(lambda x: (x, tf.zeros([4, 1])))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    with pytest.raises(TrainingDiverged, match="became (nan|inf) at epoch 2, step 1"):
        model.fit(data, epochs=2, steps_per_epoch=3, callbacks=_callbacks(run, None, 0), verbose=0)
    # The backup holds the one completed epoch, not the diverged one.
    assert json.loads(open(os.path.join(run.backup_dir, "training_metadata.json")).read())["epoch"] == 1
    with open(run.history_path) as file:
        assert [line.split(",")[0] for line in file.read().split()[1:]] == ["0"]


def test_a_second_training_into_the_same_run_dir_is_refused_naming_the_holder(shards, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from tfrecord_builder.folder_lock import FolderLock
        with FolderLock({str(run_dir)!r}, "fakespeech train"):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train_main(["--shards", str(shards), "--run-dir", str(run_dir), "--epochs", "1", *TINY]) == 1
        assert f"in use by another process: pid {holder.pid}" in capsys.readouterr().err
        assert not (run_dir / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_ctrl_c_during_training_prints_one_line_and_the_same_command_resumes(shards, tmp_path):
    run_dir = tmp_path / "run"
    command = _train_command(shards, run_dir, "--epochs", "3", "--set", "train.steps_per_epoch=6")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backup = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and not backup.exists():
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "fakespeech train: interrupted; run the same command to resume" in stderr
    assert "Traceback" not in stderr
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert RunDir(run_dir).best() is not None


def test_a_corrupted_shard_is_named_with_how_to_rebuild_it(shards, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in os.listdir(shards):
        if not name.startswith("."):
            (damaged / name).write_bytes((shards / name).read_bytes())
    victim = ShardSet(damaged).files("train")[0]
    data = bytearray(open(victim, "rb").read())
    data[len(data) // 2] ^= 0xFF  # same size: only reading it finds the damage
    open(victim, "wb").write(bytes(data))
    code = train_main(["--shards", str(damaged), "--run-dir", str(tmp_path / "run"), "--epochs", "1", *TINY])
    err = capsys.readouterr().err
    assert code == 1 and os.path.basename(victim) in err and "re-run 'fakespeech build'" in err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def run_and_audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    run_config, model = rf.build_tiny_model()
    run_dir = rf.write_run(str(folder / "run"), run_config, model)
    good = rf.write_audio(str(folder / "good.wav"), rf.tone_mix(0.3, rf.SAMPLE_RATE), rf.SAMPLE_RATE)
    bad = folder / "bad.wav"
    bad.write_bytes(b"RIFF not really audio")
    return run_dir, good, str(bad)


def test_predict_fails_when_any_input_failed_after_writing_the_others(run_and_audio, tmp_path):
    run_dir, good, bad = run_and_audio
    out = tmp_path / "scores.csv"
    assert predict_main([run_dir, good, bad, "--format", "csv", "--output", str(out), "--quiet"]) == 1
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith(good) and "error" not in rows[1] and rows[2].startswith(bad)


@pytest.mark.parametrize("output, message", [("{tmp}", "is a folder"), ("{tmp}/missing/x.csv", "does not exist")])
def test_a_bad_output_path_is_refused_before_scoring(run_and_audio, tmp_path, capsys, output, message):
    run_dir, good, _ = run_and_audio
    assert predict_main([run_dir, good, "--output", output.format(tmp=tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "scoring" not in err
