"""`export_run`: a trained run as a TensorFlow SavedModel or a TFLite flatbuffer, feature front end included.

The Keras model already holds the feature front end, so the exported graph takes what `fakespeech predict` feeds
the model: a float32 waveform `waveform` of shape (batch, clip_samples) at the run's sample rate, in [-1, 1)
(int16 PCM / 32768), mono, already cleaned and padded as `pipelines.prediction` does. It returns two float32
tensors of shape (batch, 1): `logit` (of spoof) and `score` = -logit (higher = more bona fide).

- SavedModel: signature `serving_default` (the same function as the `serve` endpoint), batch size dynamic.
- TFLite: converted from that SavedModel with TFLite builtin ops only when they cover the graph; otherwise (e.g. an
  STFT op with no builtin kernel) the converter falls back to `SELECT_TF_OPS`, which needs an interpreter linked
  with the Flex delegate (the `tensorflow` pip package's `tf.lite.Interpreter` is). `export.json` records which.

`export.json`, written beside the export, holds what a deployment needs besides the graph: sample rate, clip
length, input and output names, the dev threshold and calibration when the run has them, and under `exports`
the formats written there (a SavedModel and a TFLite file of the same run share one `export.json`).
"""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from pipelines.score_files import atomic_write_bytes, atomic_write_text

FORMATS = ("savedmodel", "tflite")
EXPORT_INFO_FILE = "export.json"
INPUT_NAME = "waveform"


def default_output(run_dir, export_format):
    base = run_dir if os.path.isdir(run_dir) else os.path.dirname(os.path.abspath(run_dir))
    return os.path.join(base, "export", "savedmodel" if export_format == "savedmodel" else "model.tflite")


def serving_function(model, clip_samples):
    """`waveform (batch, clip_samples) -> {"logit", "score"}`, each (batch, 1) float32."""

    @tf.function(input_signature=[tf.TensorSpec([None, clip_samples], tf.float32, name=INPUT_NAME)])
    def serve(waveform):
        logit = tf.cast(model(waveform, training=False), tf.float32)  # (batch, 1)
        return {"logit": logit, "score": -logit}

    return serve


def write_saved_model(model, clip_samples, path):
    """Writes the SavedModel into a temporary folder beside `path`, then swaps it in."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}-")
    try:
        # Keras' ExportArchive tracks Keras 3 variables so that the TFLite converter freezes them; a plain
        # tf.Module holding the model left them as uninitialised resource variables in the flatbuffer.
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serving_function(model, clip_samples))
        archive.write_out(staging, verbose=False)
        os.chmod(staging, 0o755)  # mkdtemp made it private; a SavedModel folder is shared like any output
        _replace_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _replace_directory(new, path):
    """Renames `new` to `path`; an existing `path` is moved aside first and deleted once the new one is in place."""
    old = None
    if os.path.exists(path):
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)), prefix=f".{os.path.basename(path)}-old-")
        os.rmdir(old)
        os.replace(path, old)
    os.replace(new, path)
    if old and os.path.isdir(old):
        shutil.rmtree(old, ignore_errors=True)
    elif old:
        os.remove(old)


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


def write_tflite(model, clip_samples, path):
    with tempfile.TemporaryDirectory() as staging:
        saved_model_dir = write_saved_model(model, clip_samples, os.path.join(staging, "savedmodel"))
        flatbuffer, select_tf_ops = convert_to_tflite(saved_model_dir)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, flatbuffer)
    return select_tf_ops


def export_info(predictor, exports):
    """The `export.json` dict; `exports` maps each format written beside it to its file and options."""
    threshold, threshold_source = predictor.decision_threshold
    return {
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
        "exports": exports,
    }


def _earlier_exports(info_path, run):
    """The `exports` of an existing export.json of the same run (a SavedModel and a TFLite file may share it)."""
    try:
        with open(info_path, encoding="utf-8") as file:
            earlier = json.load(file)
    except (OSError, ValueError):
        return {}
    return dict(earlier.get("exports", {})) if earlier.get("run") == run else {}


def export_run(run_dir_or_model, export_format="savedmodel", out=None):
    """Exports a run (a run directory or a `.keras` file with `config.json` beside it).

    Args:
        run_dir_or_model: what `fakespeech predict` accepts as MODEL.
        export_format: "savedmodel" or "tflite".
        out: the SavedModel folder or `.tflite` file (default `<run>/export/savedmodel` or
            `<run>/export/model.tflite`).

    Returns:
        The `export.json` dict (also written beside `out`), with `path` added.
    """
    from pipelines.prediction import load_predictor

    if export_format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {export_format!r}")
    predictor = load_predictor(run_dir_or_model)
    out = out or default_output(os.fspath(run_dir_or_model), export_format)
    entry = {"file": os.path.basename(os.path.normpath(out))}
    if export_format == "savedmodel":
        write_saved_model(predictor.model, predictor.clip_samples, out)
        entry["signature"] = "serving_default"
    else:
        entry["select_tf_ops"] = write_tflite(predictor.model, predictor.clip_samples, out)
    info_path = os.path.join(os.path.dirname(os.path.abspath(os.path.normpath(out))), EXPORT_INFO_FILE)
    exports = {**_earlier_exports(info_path, os.path.abspath(predictor.source)), export_format: entry}
    info = export_info(predictor, exports)
    atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")
    return {**info, "path": out, "info_path": info_path}
