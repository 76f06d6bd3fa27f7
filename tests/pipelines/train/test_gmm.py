"""`fakespeech train --preset lfcc_gmm` end to end on a generated corpus, against a scikit-learn refit of the frames."""

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter
from sklearn.mixture import GaussianMixture

from pipelines.commands.train import main as train_main
from pipelines.config import ConfigError, resolve_run_config
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.features import LFCC
from pipelines.run_dir import RunDir
from pipelines.train.gmm import VARIANCE_FLOOR, train_gmm
from pipelines.train.training import train
from tfrecord_builder.shards import write_shard_set

SAMPLES = 4000  # every utterance exactly one evaluation window: the pipeline scores whole utterances
COMPONENTS = 2
OVERRIDES = [f"data.clip_samples={SAMPLES}", "data.batch_size=4", f"model.params.components={COMPONENTS}",
             "train.epochs=20"]


def _utterance(rng, target):
    """Bona fide: low-passed noise; spoof: high-passed noise (spectrally apart, as a GMM on LFCCs should see)."""
    noise = rng.normal(size=SAMPLES)
    shaped = lfilter([1.0], [1.0, -0.9], noise) if target == 0 else lfilter([1.0, -0.9], [1.0], noise)
    return np.round(shaped / np.abs(shaped).max() * 12000).astype(np.int16)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    splits = {}
    for split, per_class in (("train", 6), ("dev", 4), ("eval", 4)):
        splits[split] = [{"samples": _utterance(rng, target), "id": f"{split}_{target}_{i}",
                          "system_id": "-" if target == 0 else "A01", "target": target}
                         for target in (0, 1) for i in range(per_class)]
    directory = str(tmp_path_factory.mktemp("gmm_shards"))
    write_shard_set(directory, splits, num_shards=1, sample_rate=16000)
    return directory, splits


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    directory, _ = corpus
    run_dir = str(tmp_path_factory.mktemp("runs") / "gmm")
    assert train_main(["--shards", directory, "--preset", "lfcc_gmm", "--run-dir", run_dir, "--quiet",
                       *sum((["--set", o] for o in OVERRIDES), [])]) == 0
    return run_dir


def _b2_frames(samples):
    """Static LFCCs of the preset's front end, then B2's deltas written out with scipy (the MATLAB filter)."""
    run_config = resolve_run_config("lfcc_gmm", overrides=OVERRIDES)
    f = run_config.features
    lfcc = LFCC(n_filters=f.n_filters, n_coefficients=f.n_coefficients, n_fft=f.n_fft, win_length=f.win_length,
                hop_length=f.hop_length, window=f.window, center=f.center, log_floor=f.log_floor)
    static = np.asarray(lfcc(samples.astype(np.float32)[None] / 32768.0), np.float64)[0]

    def deltas(x):
        padded = np.concatenate([x[:1], x, x[-1:]])
        return lfilter([1, 0, -1], 1, padded, axis=0)[2:]

    return np.concatenate([static, deltas(static), deltas(deltas(static))], axis=1)


def test_scores_are_sklearn_mixtures_mean_frame_llr(corpus, trained):
    _, splits = corpus
    frames = {t: np.concatenate([_b2_frames(u["samples"]) for u in splits["train"] if u["target"] == t])
              for t in (0, 1)}
    pooled = np.concatenate([frames[0], frames[1]])
    offset, scale = pooled.mean(0), pooled.std(0)
    mixtures = [GaussianMixture(COMPONENTS, covariance_type="diag", max_iter=20, reg_covar=VARIANCE_FLOOR,
                                random_state=0).fit((frames[t] - offset) / scale) for t in (0, 1)]
    report = evaluate_run(trained, split="eval")
    scores = pd.read_csv(f"{RunDir(trained).eval_dir('eval')}/scores_eval.txt", sep=" ", header=None,
                         names=["utt", "system", "key", "score"]).set_index("utt")["score"]
    for u in splits["eval"]:
        x = (_b2_frames(u["samples"]) - offset) / scale
        expected = np.mean(mixtures[0].score_samples(x) - mixtures[1].score_samples(x))
        # float32 features and log-likelihoods against a float64 refit: agreement to a few 1e-3 of a nat per frame.
        assert scores[u["id"]] == pytest.approx(expected, rel=1e-3, abs=5e-3)
    assert report["pooled"]["eer"] == 0.0  # low- vs high-passed noise: perfectly separated


def test_run_records_its_dev_eer_and_fit(trained):
    run = RunDir(trained)
    assert run.best() == {"monitor": "val_eer", "value": 0.0, "epoch": 0}
    assert run.load_config().model.name == "gmm"


def test_gradient_training_options_are_refused(corpus, tmp_path):
    directory, _ = corpus
    for override, key in (("augment.gain_probability=0.5", "augment.gain_probability"),
                          ("train.epochs=0", "train.epochs"),
                          ("features.normalization=global", "features.normalization")):
        run_config = resolve_run_config("lfcc_gmm", flags={"data": {"shards": directory}},
                                        overrides=[*OVERRIDES, override])
        with pytest.raises(ConfigError, match=key):
            train_gmm(run_config, str(tmp_path / "refused"), shards=None, verbose=0)
        assert not (tmp_path / "refused").exists()


def test_too_many_components_for_the_frames_is_a_clear_error(corpus, tmp_path):
    directory, _ = corpus
    run_config = resolve_run_config("lfcc_gmm", flags={"data": {"shards": directory}},
                                    overrides=[*OVERRIDES, "model.params.components=100000"])
    with pytest.raises(ValueError, match="model.params.components=100000"):
        train(run_config, str(tmp_path / "too_many"), verbose=0)
    assert not (tmp_path / "too_many" / "config.json").exists()
