"""`export_run`: a trained run as a TensorFlow SavedModel or a TFLite flatbuffer, feature front end included.

The Keras model already holds the feature front end, so the exported graph takes what `fakespeech predict` feeds
the model: a float32 waveform `waveform` of shape (batch, clip_samples) at the run's sample rate, in [-1, 1)
(int16 PCM / 32768), mono, already cleaned and padded as `pipelines.prediction` does. It returns two float32
tensors of shape (batch, 1): `logit` (of spoof) and `score` = -logit (higher = more bona fide).

- SavedModel: signature `serving_default` (the same function as the `serve` endpoint), batch size dynamic.
- TFLite: converted from that SavedModel with TFLite builtin ops only when they cover the graph; otherwise (e.g. an
  STFT op with no builtin kernel) the converter falls back to `SELECT_TF_OPS`, which needs an interpreter linked
  with the Flex delegate (the `tensorflow` pip package's `tf.lite.Interpreter` is). `export.json` records which.

Each export carries its description, what a deployment needs besides the graph (sample rate, clip length, input
and output names, the dev threshold and calibration when the run has them): `export.json` inside the SavedModel
folder, `<file>.json` beside a TFLite file. That description is also how an earlier export is recognised:
`--out` may be new, an empty folder, or (with `overwrite`) an earlier export of the same format, which is then
replaced whole; anything else is refused, so an export never deletes a file it did not write.

Under the JAX backend (a run trained on a TPU VM) the export runs in a child Python on TensorFlow: the `.keras`
file is the same on both backends, and SavedModel / TFLite are TensorFlow formats.
"""

import json
import os
import subprocess
import sys
import tempfile

import keras
import tensorflow as tf

from pipelines.run_dir import RunDir
from pipelines.serve.prediction import load_predictor
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError, read_json

# A SavedModel is a TensorFlow graph: under another Keras backend (a run on JAX) the portable `.keras` file is
# exported by a child Python whose Keras runs on TensorFlow, which prints the export's description.
_TENSORFLOW_CHILD = (
    "import json, sys\n"
    "from pipelines.serve.export import export_run\n"
    "print(json.dumps(export_run(*json.loads(sys.argv[1]))))\n"
)
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORMATS = ("savedmodel", "tflite")
EXPORT_INFO_FILE = "export.json"
INPUT_NAME = "waveform"


def default_output(run_dir, export_format):
    run = RunDir(run_dir if os.path.isdir(run_dir) else os.path.dirname(os.path.abspath(run_dir)))
    return os.path.join(run.export_dir, "savedmodel" if export_format == "savedmodel" else "model.tflite")


def serving_function(model, clip_samples):
    """`waveform (batch, clip_samples) -> {"logit", "score"}`, each (batch, 1) float32."""

    @tf.function(input_signature=[tf.TensorSpec([None, clip_samples], tf.float32, name=INPUT_NAME)])
    def serve(waveform):
        logit = tf.cast(model(waveform, training=False), tf.float32)  # (batch, 1)
        return {"logit": logit, "score": -logit}

    return serve


def write_saved_model(model, clip_samples, path, info=None):
    """Writes the SavedModel (and `info` as its `export.json`) into a temporary folder beside `path`, then swaps it in."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.atomic_path(path) as staging:
        # Keras' ExportArchive tracks Keras 3 variables so that the TFLite converter freezes them; a plain
        # tf.Module holding the model left them as uninitialised resource variables in the flatbuffer.
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serving_function(model, clip_samples))
        archive.write_out(staging, verbose=False)
        if info is not None:
            atomic.write_json(os.path.join(staging, EXPORT_INFO_FILE), info)
    return path


def convert_to_tflite(saved_model_dir):
    """(flatbuffer bytes, uses_select_tf_ops): builtins when they suffice, else with the TF-ops fallback."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # The converter's ConverterError (missing builtin kernel) is not public API, so any failure gets one retry
    # with the TF-ops fallback; a second failure propagates.
    try:
        return converter.convert(), False
    except Exception:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        return converter.convert(), True


def tflite_flatbuffer(model, clip_samples, staging):
    """(flatbuffer bytes, uses_select_tf_ops), converted through a SavedModel written under `staging`."""
    return convert_to_tflite(write_saved_model(model, clip_samples, os.path.join(staging, "savedmodel")))


def info_path(out, export_format):
    """Where the description of an export lives: inside a SavedModel folder, beside a TFLite file."""
    return os.path.join(out, EXPORT_INFO_FILE) if export_format == "savedmodel" else f"{out}.json"


def export_info(predictor, export_format):
    """The description written with an export (see the module docstring)."""
    threshold, threshold_source = predictor.decision_threshold
    return {
        "format": export_format,
        "run": os.path.abspath(predictor.source),
        "model": predictor.run_config.model.name,
        "sample_rate": predictor.sample_rate,
        "clip_samples": predictor.clip_samples,
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, predictor.clip_samples],
                  "range": "[-1, 1): int16 PCM / 32768, mono, at sample_rate"},
        "outputs": {"logit": "logit of spoof, (batch, 1)", "score": "-logit, higher = more bona fide, (batch, 1)"},
        "data": predictor.run_config.data.to_dict(),
        "threshold": threshold,
        "threshold_source": threshold_source,
        "calibration": predictor.calibrator.to_dict() if predictor.calibrator is not None else None,
    }


def _is_earlier_export(out, export_format):
    try:
        return read_json(info_path(out, export_format)).get("format") == export_format
    except (OSError, ValueError, AttributeError):
        return False


def check_output(out, export_format, overwrite=False):
    """Refuses an `--out` that holds anything but an earlier export of this format (and that one unless asked)."""
    if not os.path.lexists(out):
        return
    is_folder = os.path.isdir(out)
    if export_format == "savedmodel" and is_folder and not os.listdir(out):
        return
    if (export_format == "savedmodel") != is_folder:
        wanted = "a folder" if export_format == "savedmodel" else "a file"
        raise ConfigError(f"--out {out}: exists and is not {wanted}; a {export_format} export needs {wanted}")
    if not _is_earlier_export(out, export_format):
        raise ConfigError(f"--out {out}: holds files fakespeech did not write (no {os.path.basename(info_path(out, export_format))} "
                          f"of a {export_format} export); choose a new or empty --out")
    if not overwrite:
        raise ConfigError(f"--out {out}: holds an earlier {export_format} export; pass --overwrite to replace it")


def export_run(run_dir_or_model, export_format="savedmodel", out=None, overwrite=False):
    """Exports a run (a run directory or a `.keras` file with `config.json` beside it).

    Args:
        run_dir_or_model: what `fakespeech predict` accepts as MODEL.
        export_format: "savedmodel" or "tflite".
        out: the SavedModel folder or `.tflite` file (default `<run>/export/savedmodel` or
            `<run>/export/model.tflite`).
        overwrite: replace an earlier export of the same format at `out` (never anything else).

    Returns:
        The export's description (see `export_info`), with `path` and `info_path` added.
    """
    if export_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {export_format!r}")
    out = out or default_output(os.fspath(run_dir_or_model), export_format)
    check_output(out, export_format, overwrite)
    if keras.backend.backend() != "tensorflow":
        return export_under_tensorflow(run_dir_or_model, export_format, out, overwrite)
    predictor = load_predictor(run_dir_or_model)
    info = export_info(predictor, export_format)
    if export_format == "savedmodel":
        info["signature"] = "serving_default"
        write_saved_model(predictor.model, predictor.clip_samples, out, info)
    else:
        with tempfile.TemporaryDirectory() as staging:
            flatbuffer, info["select_tf_ops"] = tflite_flatbuffer(predictor.model, predictor.clip_samples, staging)
        # The description first: a kill between the two writes leaves a recognisable (replaceable) export.
        atomic.write_json(info_path(out, export_format), info)
        atomic.write_bytes(out, flatbuffer)
    return {**info, "path": out, "info_path": info_path(out, export_format)}


def export_under_tensorflow(run_dir_or_model, export_format, out, overwrite):
    """`export_run` in a child Python on the TensorFlow backend; returns its result. ValueError when it fails."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "PYTHONPATH": os.pathsep.join(p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p)}
    arguments = json.dumps([os.fspath(run_dir_or_model), export_format, os.fspath(out), bool(overwrite)])
    result = subprocess.run([sys.executable, "-c", _TENSORFLOW_CHILD, arguments], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise ValueError(f"exporting {run_dir_or_model} under the TensorFlow backend failed: "
                         f"{lines[-1] if lines else f'exit code {result.returncode}'}")
    return json.loads(result.stdout.strip().splitlines()[-1])
