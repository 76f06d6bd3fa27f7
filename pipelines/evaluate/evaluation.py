"""`evaluate_run`: score a split with a trained run and write the ASVspoof report beside it."""

import json
import os

import keras

from pipelines.calibration import Calibrator
from pipelines.config import RunConfig
from pipelines.config_base import write_json_atomic
from pipelines.report import fit_on_dev, write_report
from pipelines.score_files import read_asv_scores, write_score_file
from pipelines.scoring import score_split
from pipelines.training import CONFIG_FILE, MODEL_FILE, has_split

CALIBRATION_FILE = "calibration.json"


def load_run(run_dir, model_path=None):
    """The run's `RunConfig` and its model (`model_path`, default the run's `model.keras`)."""
    # Importing these registers the custom layers the saved model refers to.
    import augment  # noqa: F401
    import models  # noqa: F401
    from pipelines import features  # noqa: F401

    config_path = os.path.join(run_dir, CONFIG_FILE)
    model_path = model_path or os.path.join(run_dir, MODEL_FILE)
    for path in (config_path, model_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: is {run_dir} a directory written by 'fakespeech train'?")
    return RunConfig.load_json(config_path), keras.saving.load_model(model_path)


def calibrate_on_dev(run_dir, model, shards_dir, data_config, dev_split):
    """Fits the logistic calibration and the EER threshold on dev, stores them in the run, returns both."""
    dev_scores = score_split(model, shards_dir, dev_split, data_config)
    threshold, calibrator = fit_on_dev(dev_scores)
    state = {"shards": shards_dir, "dev_split": dev_split, "eer_threshold": float(threshold),
             "calibrator": calibrator.to_dict()}
    write_json_atomic(os.path.join(run_dir, CALIBRATION_FILE), state)
    return threshold, calibrator


def load_calibration(run_dir):
    """The stored dev threshold and calibrator, or (None, None) when the run has not been calibrated."""
    path = os.path.join(run_dir, CALIBRATION_FILE)
    if not os.path.exists(path):
        return None, None
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    return state["eer_threshold"], Calibrator.from_dict(state["calibrator"])


def evaluate_run(run_dir, shards_dir=None, split="eval", asv_scores_path=None, eval_windows=None, out_dir=None):
    """Scores `split` of `shards_dir` (default: the shards the run trained on) and writes the report.

    Writes `scores_<split>.txt` (`UTT ATTACK KEY SCORE`, higher = more bona fide), `report.json`, `report.md`
    and the plots into `out_dir` (default `<run_dir>/eval-<split>`). Returns the report dict.
    """
    run_config, model = load_run(run_dir)
    shards_dir = shards_dir or run_config.data.shards
    data_config = run_config.data
    if eval_windows:
        data_config = data_config.replace(eval_windows=eval_windows)
    threshold, calibrator = None, None
    # The threshold and calibration come from the dev split of the corpus the run trained on, also when
    # another corpus is evaluated (a cross-corpus test must not tune on the corpus it tests).
    own_shards = run_config.data.shards or shards_dir
    if split != data_config.dev_split and has_split(own_shards, data_config.dev_split):
        threshold, calibrator = calibrate_on_dev(run_dir, model, own_shards, data_config, data_config.dev_split)
    scores = score_split(model, shards_dir, split, data_config)
    out_dir = out_dir or os.path.join(run_dir, f"eval-{split}")
    os.makedirs(out_dir, exist_ok=True)
    write_score_file(os.path.join(out_dir, f"scores_{split}.txt"), scores)
    asv_scores = read_asv_scores(asv_scores_path) if asv_scores_path else None
    title = f"{run_config.model.name} on {split} ({shards_dir})"
    return write_report(out_dir, scores, dev_threshold=threshold, calibrator=calibrator,
                        asv_scores=asv_scores, title=title)

