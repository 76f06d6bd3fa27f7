"""SSL runs in serving: `fakespeech export` (SavedModel, TFLite) and `predict_files` reproduce the Keras model of a
tiny `ssl_aasist` run (the `ssl_aasist` training preset at the test size, untrained but seeded)."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.commands.export import main as export_main
from pipelines.config import resolve_run_config
from pipelines.serve.export import export_run
from pipelines.serve.prediction import predict_files
from pipelines.train.end_to_end import build_end_to_end

import run_fixtures as rf  # tests/pipelines is on pytest's pythonpath (setup.cfg)

CLIP = 4000  # 12 frames of the tiny SSL backbone
SAVED_MODEL_TOLERANCE = 1e-5  # the same TF graph as Keras
TFLITE_TOLERANCE = 1e-3  # TFLite's own kernels for the same float32 maths (as tests/pipelines/serve/test_export.py)


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory):
    """(run dir, waveforms (3, CLIP), the Keras model's logits on them)."""
    run_config = resolve_run_config("ssl_aasist", overrides=[f"data.clip_samples={CLIP}", "model.params.preset=tiny"])
    keras.utils.set_random_seed(0)
    model = build_end_to_end(run_config, with_augmentation=False)
    run_dir = rf.write_run(str(tmp_path_factory.mktemp("ssl_run")), run_config, model)
    rng = np.random.default_rng(0)
    waveforms = np.stack([rf.tone_mix(CLIP / rf.SAMPLE_RATE, rf.SAMPLE_RATE, seed=s) for s in range(2)]
                         + [rng.uniform(-0.5, 0.5, CLIP)]).astype(np.float32)
    return run_dir, waveforms, model.predict(waveforms, verbose=0)


@pytest.mark.slow
def test_saved_model_of_an_ssl_run_matches_keras(ssl_run, tmp_path, capsys):
    run_dir, waveforms, logits = ssl_run
    out = str(tmp_path / "served")

    assert export_main([run_dir, "--format", "savedmodel", "--out", out]) == 0

    assert f"wrote savedmodel to {out}" in capsys.readouterr().out
    outputs = tf.saved_model.load(out).signatures["serving_default"](waveform=tf.constant(waveforms))
    np.testing.assert_allclose(outputs["logit"].numpy(), logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)
    np.testing.assert_allclose(outputs["score"].numpy(), -logits, atol=SAVED_MODEL_TOLERANCE, rtol=0)


@pytest.mark.slow
def test_tflite_of_an_ssl_run_matches_keras_with_builtin_ops(ssl_run, tmp_path):
    run_dir, waveforms, logits = ssl_run
    out = str(tmp_path / "model.tflite")

    info = export_run(run_dir, "tflite", out)

    assert info["select_tf_ops"] is False  # the backbone's ops all have TFLite builtin kernels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice (LiteRT)
        interpreter = tf.lite.Interpreter(model_path=out)
    outputs = interpreter.get_signature_runner("serving_default")(waveform=waveforms)
    np.testing.assert_allclose(outputs["logit"], logits, atol=TFLITE_TOLERANCE, rtol=0)


def test_predict_scores_an_ssl_run_as_its_keras_model(ssl_run, tmp_path):
    run_dir, waveforms, _ = ssl_run
    pcm = np.round(waveforms[0] * 32767).astype(np.int16)
    path = rf.write_audio(str(tmp_path / "clip.wav"), pcm, rf.SAMPLE_RATE, subtype="PCM_16")
    model = keras.saving.load_model(f"{run_dir}/model.keras")
    logit = model.predict(pcm[None].astype(np.float32) / 32768.0, verbose=0)

    (result,) = predict_files(run_dir, [path], batch_size=2)

    assert result["windows"] == 1
    np.testing.assert_allclose(result["score"], -logit[0, 0], atol=1e-5)
