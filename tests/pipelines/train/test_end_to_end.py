"""The whole flow on a generated corpus: build -> train -> evaluate on eval's unseen attacks; and resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from pipelines.commands.demo import main as demo_main
from pipelines.commands.train import main as train_main
from pipelines.config import resolve_run_config
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.evaluate.score_files import read_score_file
from pipelines.run_dir import RunDir
from pipelines.train.training import train
from pipelines.commands.build import main as build_main
from tfrecord_builder.synthetic import generate_asvspoof2019
from tfrecord_builder.synthetic.other_corpora import generate_in_the_wild

CLIP = 12000


def _small_config(shards, epochs, **train):
    return resolve_run_config(flags={
        "data": {"shards": str(shards), "clip_samples": CLIP, "batch_size": 16},
        "features": {"kind": "logmel", "n_mels": 32, "n_fft": 512, "win_length": 400, "hop_length": 160},
        "model": {"name": "lcnn", "params": {"base_filters": 8, "embedding_units": 32, "dropout": 0.1}},
        "train": {"epochs": epochs, "learning_rate": 3e-3, **train},
    })


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    corpus = generate_asvspoof2019(root / "corpus", counts={"train": (16, 48), "dev": (8, 24), "eval": (6, 26)},
                                   min_seconds=0.8, max_seconds=1.5, seed=3)
    out = root / "shards"
    assert build_main(["--data", str(corpus), "--out", str(out), "--num-shards", "2", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The README's main job, in-process: generated corpus -> shards -> training -> eval report."""
    out = tmp_path_factory.mktemp("demo")
    assert demo_main(["--out", str(out), "--epochs", "6"]) == 0
    return out


@pytest.mark.slow
def test_demo_trains_and_evaluates_on_unseen_attacks(demo_dir):
    run_dir = demo_dir / "run"
    for name in ("config.json", "model.keras", "history.csv", "model.best.json", "summary.json", "calibration.json"):
        assert (run_dir / name).is_file(), name
    assert os.listdir(run_dir / "logs")
    out = run_dir / "eval-eval"
    parsed = json.loads((out / "report.json").read_text())
    for plot in parsed["plots"].values():
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((demo_dir / "shards" / "manifest.json").read_text())
    lines = [line for line in (out / "scores_eval.txt").read_text().split("\n") if line]
    assert len(lines) == parsed["counts"]["total"] == manifest["splits"]["eval"]["num_examples"]
    assert {row["attack"] for row in parsed["per_attack"]} == {f"A{i:02d}" for i in range(7, 20)}
    # Chance is 50 %: a model that learned the spoofing traces is far below it, even on unseen attacks.
    assert parsed["pooled"]["eer"] < 0.3
    # The generated corpus ships (simulated) ASV scores, so the demo reports min t-DCF; 1 is a CM that does nothing.
    assert 0.0 < parsed["pooled"]["min_tdcf_2019"] < 1.0


@pytest.mark.slow
def test_a_run_evaluates_on_another_corpus(demo_dir, tmp_path):
    run_dir = demo_dir / "run"
    corpus = generate_in_the_wild(tmp_path / "itw")
    other = tmp_path / "itw_shards"
    assert build_main(["--corpus", "in-the-wild", "--data", str(corpus), "--out", str(other), "--quiet"]) == 0
    out = tmp_path / "cross"
    report = evaluate_run(str(run_dir), str(other), "eval", out_dir=str(out))
    scores = read_score_file(out / "scores_eval.txt")
    assert len(scores) == report["counts"]["total"] > 0 and report["per_attack"]
    # The EER of the written scores, recomputed independently from scikit-learn's ROC (bona fide positive); the
    # two may pick neighbouring operating points, one trial of each class apart.
    is_bona = (scores["key"] == "bonafide").to_numpy()
    false_accept, true_accept, _ = roc_curve(is_bona, scores["score"])
    crossing = np.argmin(np.abs((1 - true_accept) - false_accept))
    step = 1 / is_bona.sum() + 1 / (~is_bona).sum()
    assert report["pooled"]["eer"] == pytest.approx(((1 - true_accept[crossing]) + false_accept[crossing]) / 2,
                                                    abs=step)
    # The decision threshold is the one fitted on the dev split of the corpus the run trained on, not on this one.
    calibration = json.loads((run_dir / "calibration.json").read_text())
    assert calibration["shards"] == str(demo_dir / "shards")
    assert report["decision_at_dev_threshold"]["threshold"] == calibration["eer_threshold"]


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_completed_epoch(shards, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "pipelines.cli", "train", "--shards", str(shards), "--run-dir", str(run_dir),
               "--set", "train.epochs=4", "--set", "train.steps_per_epoch=20",
               "--set", f"data.clip_samples={CLIP}", "--set", "data.batch_size=16",
               "--set", "features.n_mels=32", "--set", "model.name=lcnn", "--set", "model.params.base_filters=8",
               "--set", "model.params.embedding_units=32"]
    history = run_dir / "history.csv"
    backup = run_dir / "backup" / "training_metadata.json"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and not backup.exists():
        time.sleep(0.2)
    if process.poll() is not None:
        pytest.fail(f"training ended before it could be killed:\n{process.stdout.read()[-2000:]}")
    process.send_signal(signal.SIGKILL)  # at or after the end of a backed-up epoch, maybe mid-write
    process.wait()
    completed = json.loads(backup.read_text())["epoch"]  # epochs the backup holds, whatever the kill hit

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "Epoch 1/4" not in resumed.stdout
    assert f"Epoch {completed + 1}/4" in resumed.stdout
    with open(history, newline="") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1, 2, 3]
    run = RunDir(run_dir)
    assert run.load_config().train.epochs == 4 and run.load_model().output.shape[-1] == 1


def test_a_run_directory_refuses_another_configuration(shards, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(_small_config(shards, epochs=1).to_dict()))
    with pytest.raises(ValueError, match="different configuration"):
        train(_small_config(shards, epochs=2), str(run_dir), verbose=0)


def test_a_typo_is_refused_before_anything_is_written_and_the_corrected_command_runs(shards, tmp_path, capsys):
    run_dir = tmp_path / "run"
    command = ["--shards", str(shards), "--run-dir", str(run_dir), "--quiet", "--set", "train.steps_per_epoch=2",
               "--set", f"data.clip_samples={CLIP}", "--batch-size", "8", "--set", "features.n_mels=16",
               "--set", "model.params.base_filters=4", "--set", "model.params.embedding_units=8", "--epochs", "1"]
    for mistake in (["--set", "train.schedule=cosin"], ["--batch-size", "-4"], ["--model", "nosuchmodel"]):
        assert train_main(command + mistake) == 2
        assert not run_dir.exists(), mistake
    assert "train.schedule: 'cosin' is not one of cosine, constant, step" in capsys.readouterr().err
    assert train_main(command) == 0
    assert RunDir(run_dir).load_config().train.schedule == "cosine"
