"""`evaluate_run`: score a split with a trained run and write the ASVspoof report beside it."""

import os

from pipelines.data.datasets import naming_damaged_shards, open_shards
from pipelines.evaluate.calibration import fit_on_dev
from pipelines.evaluate.report import write_report
from pipelines.evaluate.score_files import read_asv_scores, write_score_file
from pipelines.evaluate.scoring import score_split
from pipelines.run_dir import RunDir
from pipelines.train.runtime import current_runtime
from tfrecord_builder.dataclass_config import ConfigError


def calibrate_on_dev(run, model, shards, data_config):
    """Fits the logistic calibration and the EER threshold on the dev split, stores them in the run, returns them."""
    with naming_damaged_shards(shards):
        dev_scores = score_split(model, shards, data_config.dev_split, data_config)
    state = fit_on_dev(dev_scores, shards=shards.directory, dev_split=data_config.dev_split)
    run.save_calibration(state)
    return state


def evaluate_run(run_dir, shards_dir=None, split="eval", asv_scores_path=None, eval_windows=None, out_dir=None):
    """Scores `split` of `shards_dir` (default: the shards the run trained on) and writes the report.

    The dev EER threshold and the calibrator come from where the run was trained, never from the corpus under
    test: fitted on the dev split of the run's shards (and stored in the run), or, for a run trained on no shards
    (a feature table), the run's stored `calibration.json`.

    Writes `scores_<split>.txt` (`UTT ATTACK KEY SCORE`, higher = more bona fide), `report.json`, `report.md`
    and the plots into `out_dir` (default `<run_dir>/eval-<split>`). Returns the report dict.
    """
    run = RunDir(run_dir)
    run_config = run.load_config()
    # Checked before the model is loaded and anything is scored: a missing split or ASV file fails at once.
    if not (shards_dir or run_config.data.shards):
        raise ConfigError(f"--shards is required: {run_dir} trained on no shards (data.shards is not set)")
    shards = open_shards(shards_dir or run_config.data.shards)
    shards.split_info(split)
    if shards.sample_rate != run_config.data.sample_rate:
        raise ValueError(f"{shards.directory} holds {shards.sample_rate} Hz audio but the run's model takes "
                         f"{run_config.data.sample_rate} Hz (data.sample_rate); build shards at that rate with "
                         f"'fakespeech build --sample-rate {run_config.data.sample_rate}'")
    asv_scores = read_asv_scores(asv_scores_path) if asv_scores_path else None
    with current_runtime().scope():  # the weights placed on the runtime's devices, where scoring runs
        model = run.load_model()
    data_config = run_config.data
    if eval_windows:
        data_config = data_config.replace(eval_windows=eval_windows)
    # The threshold and calibration come from the data the run trained on, also when another corpus is
    # evaluated (a cross-corpus test must not tune on the corpus it tests).
    calibration = None
    if not run_config.data.shards:
        calibration = run.load_calibration()  # fitted where it trained, e.g. the dev rows of its feature table
    elif split != data_config.dev_split:
        own_shards = open_shards(run_config.data.shards)
        if own_shards.has_split(data_config.dev_split):
            calibration = calibrate_on_dev(run, model, own_shards, data_config)
    with naming_damaged_shards(shards):
        scores = score_split(model, shards, split, data_config)
    out_dir = out_dir or run.eval_dir(split)
    os.makedirs(out_dir, exist_ok=True)
    write_score_file(os.path.join(out_dir, f"scores_{split}.txt"), scores)
    title = f"{run_config.model.name} on {split} ({shards.directory})"
    threshold, calibrator = (calibration.threshold, calibration.calibrator) if calibration else (None, None)
    return write_report(out_dir, scores, dev_threshold=threshold, calibrator=calibrator, asv_scores=asv_scores,
                        title=title)
