"""`RunDir`: the one owner of a run directory's layout and of what may be done with one.

A run directory holds:

| path | written by | what |
|---|---|---|
| `config.json` | train | the resolved `RunConfig` (paths made absolute) |
| `model.keras` | train | the run's model: the best by dev EER, else the last |
| `model.best.json` | train | `{"monitor", "value", "epoch"}` of that best model |
| `history.csv`, `logs/` | train | one row per epoch; TensorBoard |
| `backup/` | train | Keras BackupAndRestore state, for resuming a killed run |
| `backup/weight_average.npz` | train | the SWA/EMA average of `train.weight_averaging`, for resuming |
| `summary.json` | train | epochs run, strategy, precision, global batch |
| `calibration.json` | evaluate | dev EER threshold and score calibrator (`pipelines.evaluate.calibration`) |
| `eval-<split>/` | evaluate | scores, `report.json`, `report.md`, plots |
| `export/` | export | SavedModel / TFLite and `export.json` |

A run trained on a feature table (`train --features-csv`, `pipelines.train.tabular`) has no shards: its training
writes `calibration.json` (fitted on the table's dev rows) and `eval-table-test/` (the report of its test rows).

`prepare` is the one place that decides whether a run directory may be (re)used: an empty or missing folder
starts a run, a folder holding the same configuration resumes it, anything else is refused.
"""

import json
import os

import keras

import augment  # noqa: F401  (registers the augmentation layers a saved model may contain)
import models  # noqa: F401  (registers the model layers)
from pipelines import features  # noqa: F401  (registers the feature layers)
from pipelines.config.stages import RunConfig
from pipelines.evaluate.calibration import read_calibration, write_calibration
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError, read_json
from tfrecord_builder.folder_lock import FolderLock

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
BEST_FILE = "model.best.json"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
CALIBRATION_FILE = "calibration.json"
LOGS_DIR = "logs"
BACKUP_DIR = "backup"
EXPORT_DIR = "export"
AVERAGING_FILE = os.path.join(BACKUP_DIR, "weight_average.npz")  # the SWA/EMA state of train.weight_averaging


class RunDirError(ValueError):
    """A run directory whose files cannot be read as asked; the message names the folder or file."""


class RunDirConflict(ConfigError):
    """A `--run-dir` that holds something else than this run: a usage error, refused before anything is written."""


def _artefact(name):
    return property(lambda self: os.path.join(self.path, name), doc=f"`{name}` of the run directory")


class RunDir:
    """Paths and artefacts of one run directory (local; `gs://` for the files Keras and gfile write).

    Example:
        >>> run = RunDir("runs/lcnn")  # doctest: +SKIP
        >>> run_config, model = run.load_config(), run.load_model()  # doctest: +SKIP
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"RunDir({self.path!r})"

    config_path = _artefact(CONFIG_FILE)
    model_path = _artefact(MODEL_FILE)
    best_path = _artefact(BEST_FILE)
    history_path = _artefact(HISTORY_FILE)
    summary_path = _artefact(SUMMARY_FILE)
    calibration_path = _artefact(CALIBRATION_FILE)
    logs_dir = _artefact(LOGS_DIR)
    backup_dir = _artefact(BACKUP_DIR)
    export_dir = _artefact(EXPORT_DIR)
    averaging_path = _artefact(AVERAGING_FILE)

    def eval_dir(self, split):
        return os.path.join(self.path, f"eval-{split}")

    # ---- the configuration ----------------------------------------------------------------------------------

    def has_config(self):
        return os.path.isfile(self.config_path)

    def load_config(self):
        if not self.has_config():
            raise RunDirError(f"{self.config_path} not found: is {self.path} a run directory written by "
                              "'fakespeech train'?")
        held = read_json(self.config_path)
        try:
            return RunConfig.from_dict(held, where=self.config_path)
        except ConfigError as error:  # a stored file that no longer reads is damaged data, not a usage error
            raise RunDirError(f"{self.config_path}: not a configuration this fakespeech reads ({error})") from None

    def check_reusable(self, run_config):
        """Raises `RunDirConflict` unless the folder is missing, empty, or holds this very configuration (a resume).

        Writes nothing; returns True when the folder holds this run already.
        """
        if self.has_config():
            wanted = _as_json(run_config)
            try:  # read through RunConfig, so fields added since the run was written take their defaults
                held = _as_json(RunConfig.from_dict(read_json(self.config_path)))
            except ValueError:
                held = read_json(self.config_path)
            if held != wanted:
                raise RunDirConflict(f"{self.path} holds a run with a different configuration "
                                  f"({_differences(held, wanted)}); choose another --run-dir, or give the same "
                                  "settings to resume it")
            return True
        # Hidden names are our own lock and temporary files (or a desktop's); they do not make a folder a run.
        if os.path.isdir(self.path) and [name for name in os.listdir(self.path) if not name.startswith(".")]:
            raise RunDirConflict(f"{self.path} is not empty and holds no run ({CONFIG_FILE} missing); choose another "
                              "--run-dir")
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunDirConflict(f"{self.path} is a file, not a run directory; choose another --run-dir")
        return False

    def prepare(self, run_config):
        """Creates the run directory and its `config.json`, or confirms that it holds this run; True if new."""
        if self.check_reusable(run_config):
            return False
        os.makedirs(self.path, exist_ok=True)
        atomic.write_json(self.config_path, _as_json(run_config))
        return True

    def lock(self, purpose="fakespeech train"):
        """An exclusive lock on the folder (created if need be): a second writer is refused, naming this pid."""
        os.makedirs(self.path, exist_ok=True)
        return FolderLock(self.path, purpose)

    # ---- the model ----------------------------------------------------------------------------------------

    def load_model(self, model_path=None):
        path = model_path or self.model_path
        if not os.path.isfile(path):
            raise RunDirError(f"{path} not found: is {self.path} a run directory written by 'fakespeech train'?")
        try:
            return keras.saving.load_model(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RunDirError(f"{path}: not a loadable .keras model ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else 'no detail'}); the file may be "
                              "truncated or from another program: re-run the training (it resumes)") from None

    def save_model(self, model):
        with atomic.atomic_path(self.model_path, suffix=".keras") as temp:  # Keras infers the format from the suffix
            model.save(temp)

    def best(self):
        """`{"monitor", "value", "epoch"}` of the saved best model, or None."""
        if os.path.isfile(self.best_path) and os.path.isfile(self.model_path):
            return read_json(self.best_path)
        return None

    def save_best(self, model, state):
        """The model that improved `state["monitor"]`, then its record (so a record never outlives its model)."""
        self.save_model(model)
        atomic.write_json(self.best_path, state)

    def save_summary(self, summary):
        atomic.write_json(self.summary_path, summary)

    # ---- calibration ----------------------------------------------------------------------------------------

    def load_calibration(self):
        """The stored `CalibrationState`, or None when the run has not been calibrated."""
        if not os.path.isfile(self.calibration_path):
            return None
        return read_calibration(self.calibration_path)

    def save_calibration(self, state):
        write_calibration(self.calibration_path, state)


def _as_json(run_config):
    """The configuration as `config.json` holds it (tuples become lists), for comparison with a stored one."""
    return json.loads(json.dumps(run_config.to_dict(), default=str))


def _differences(held, wanted, prefix=""):
    """`train.epochs: 3 there, 5 now` for each key that differs (the first few)."""
    changed = []
    for key in sorted(set(held) | set(wanted)):
        old, new = held.get(key), wanted.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            nested = _differences(old, new, f"{prefix}{key}.")
            if nested:
                changed.append(nested)
        elif old != new:
            changed.append(f"{prefix}{key}: {old!r} there, {new!r} now")
    return ", ".join(changed[:5])

