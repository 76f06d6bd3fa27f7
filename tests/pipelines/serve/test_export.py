"""`export_run` / `fakespeech export`: the exported graphs reproduce the Keras model's logits and scores."""

import json
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

from pipelines.commands.export import main as export_main
from pipelines.serve.export import export_run

import run_fixtures as rf  # tests/pipelines is on pytest's pythonpath (setup.cfg)

# The SavedModel runs the same TF graph as Keras: only float32 reassociation can differ.
SAVED_MODEL_TOLERANCE = 1e-5
# TFLite has its own kernels (FFT, reductions, XNNPACK convolutions) for the same float32 maths.
TFLITE_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(calibrated run dir, keras model, waveforms (3, clip), the Keras model's logits on them)."""
    run_config, model = rf.build_tiny_model()
    run_dir = rf.write_run(str(tmp_path_factory.mktemp("run")), run_config, model, calibration_threshold=0.25)
    rng = np.random.default_rng(0)
    waveforms = np.stack([rf.tone_mix(rf.CLIP_SAMPLES / rf.SAMPLE_RATE, rf.SAMPLE_RATE, seed=s) for s in range(2)]
                         + [rng.uniform(-0.5, 0.5, rf.CLIP_SAMPLES)]).astype(np.float32)
    return run_dir, model, waveforms, model.predict(waveforms, verbose=0)


@pytest.mark.slow
def test_saved_model_matches_keras_model(run, tmp_path):
    run_dir, _, waveforms, logits = run
    out = str(tmp_path / "served")
    export_run(run_dir, "savedmodel", out)
    serve = tf.saved_model.load(out).signatures["serving_default"]
    outputs = serve(waveform=tf.constant(waveforms))
    np.testing.assert_allclose(outputs["logit"].numpy(), logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)
    np.testing.assert_allclose(outputs["score"].numpy(), -logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)


@pytest.mark.slow
def test_tflite_matches_keras_model(run, tmp_path):
    run_dir, _, waveforms, logits = run
    out = str(tmp_path / "model.tflite")
    info = export_run(run_dir, "tflite", out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice (LiteRT)
        interpreter = tf.lite.Interpreter(model_path=out)
    runner = interpreter.get_signature_runner("serving_default")
    outputs = runner(waveform=waveforms)
    np.testing.assert_allclose(outputs["logit"], logits, atol=TFLITE_TOLERANCE, rtol=0)
    np.testing.assert_allclose(outputs["score"], -logits, atol=TFLITE_TOLERANCE, rtol=0)
    assert isinstance(info["select_tf_ops"], bool)
    with open(out + ".json", encoding="utf-8") as file:
        assert json.load(file)["format"] == "tflite"


@pytest.mark.slow
def test_cli_writes_export_json_inside_and_replaces_an_earlier_export_when_asked(run, capsys):
    run_dir = run[0]
    out = os.path.join(run_dir, "export", "savedmodel")
    assert export_main([run_dir, "--format", "savedmodel"]) == 0
    assert out in capsys.readouterr().out
    assert export_main([run_dir, "--format", "savedmodel"]) == 2  # an earlier export is replaced only when asked
    assert "pass --overwrite" in capsys.readouterr().err
    assert export_main([run_dir, "--format", "savedmodel", "--overwrite"]) == 0
    assert "serving_default" in tf.saved_model.load(out).signatures
    with open(os.path.join(out, "export.json"), encoding="utf-8") as file:
        info = json.load(file)
    assert (info["sample_rate"], info["clip_samples"]) == (rf.SAMPLE_RATE, rf.CLIP_SAMPLES)
    assert (info["threshold"], info["threshold_source"]) == (0.25, "dev_eer")
    assert info["calibration"] == {"kind": "linear_llr", **rf.CALIBRATION}
    assert info["input"]["name"] == "waveform" and set(info["outputs"]) == {"logit", "score"}
    assert (info["format"], info["signature"]) == ("savedmodel", "serving_default")
    assert os.listdir(os.path.join(run_dir, "export")) == ["savedmodel"]  # nothing written above --out


@pytest.mark.parametrize("export_format", ["savedmodel", "tflite"])
def test_a_folder_of_other_files_is_refused_and_left_as_it_was(run, tmp_path, export_format):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    target = out if export_format == "savedmodel" else out / "notes.txt"
    for extra in ([], ["--overwrite"]):
        assert export_main([run[0], "--format", export_format, "--out", str(target), *extra]) == 2
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my notes"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_unknown_format_is_rejected_naming_the_flag(run):
    with pytest.raises(ValueError, match="--format"):
        export_run(run[0], "onnx")
