"""`fakespeech predict` with no run: the shipped AASIST scores audio as the published model and as the train/evaluate
flow does, with its softmax P(spoof) or a calibration fitted by `fakespeech calibrate`."""

import importlib.util
import json
import math
import os
import pathlib

import numpy as np
import pytest
import soundfile as sf

from pipelines.commands.convert_weights import main as convert_weights_main
from pipelines.commands.calibrate import main as calibrate_main
from pipelines.commands.evaluate import main as evaluate_main
from pipelines.commands.predict import main as predict_main
from pipelines.commands.train import main as train_main
from tfrecord_builder.shards import write_shard_set

pytestmark = pytest.mark.slow  # the published-size AASIST scores a few windows (about 0.5 s each on 2 cores)

SHARED = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "aasist"
SCORE_TOLERANCE = 1e-5
RATE = 16000


def _reference():
    """(int16 waveforms (5, 64600), PyTorch logits (5, 2): spoof, bona fide) of the reference rows that are exact
    16-bit PCM (the sixth, Gaussian noise, is not)."""
    if not SHARED.is_dir():
        pytest.skip(f"the AASIST reference input and outputs are not present at {SHARED}")
    waveforms = np.load(SHARED / "reference_input.npy")[:5].astype(np.float64) * 32768
    assert np.array_equal(waveforms, np.round(waveforms)) and waveforms.max() < 32768
    return waveforms.astype(np.int16), np.load(SHARED / "reference_logits_AASIST.npy")[:5]


def _write_flac(path, samples):
    sf.write(str(path), samples, RATE, subtype="PCM_16")
    return str(path)


def _predict_json(argv, capsys):
    assert predict_main([*argv, "--format", "json", "--timeline", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_default_model_scores_as_the_published_pytorch_aasist(tmp_path, capsys):
    pcm, logits = _reference()
    paths = [_write_flac(tmp_path / f"ref{i}.flac", row) for i, row in enumerate(pcm)]
    document = _predict_json(paths, capsys)
    assert (document["model"], document["threshold"], document["threshold_source"]) == (
        "aasist_asvspoof2019_la", 0.0, "model_softmax")
    assert "softmax" in document["note"]
    softmax_spoof = np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)
    for result, (spoof, bonafide), p_spoof in zip(document["results"], logits, softmax_spoof):
        assert result["windows"] == 1  # exactly 64,600 samples
        assert result["score"] == pytest.approx(bonafide - spoof, rel=SCORE_TOLERANCE, abs=SCORE_TOLERANCE)
        assert result["p_spoof"] == pytest.approx(p_spoof, rel=SCORE_TOLERANCE, abs=1e-7)
        assert result["decision"] == ("spoof" if p_spoof > 0.5 else "bonafide")


def test_scores_equal_convert_weights_train_zero_epochs_and_evaluate(tmp_path, capsys):
    """The "done when" of issue 16: the same audio through the published weights' documented flow."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch (the `torch` extra) is not installed: convert-weights cannot read AASIST.pth")
    pcm, _ = _reference()
    eval_utterances = {  # one window, two windows (the second repeat-padded), shorter than a window
        "LA_E_0001": (pcm[0], 0, "-"),
        "LA_E_0002": (np.concatenate([pcm[1], pcm[2][:30000]]), 1, "A09"),
        "LA_E_0003": (pcm[3][:20000], 1, "A04"),
    }
    other = [{"samples": pcm[0][:40000], "id": "LA_D_0001", "system_id": "-", "target": 0},
             {"samples": pcm[4], "id": "LA_D_0002", "system_id": "A01", "target": 1}]
    shards = str(tmp_path / "shards")
    eval_fields = [{"samples": s, "id": utt, "system_id": a, "target": t} for utt, (s, t, a) in eval_utterances.items()]
    write_shard_set(shards, {"train": other, "dev": other, "eval": eval_fields}, sample_rate=RATE)
    weights, run = str(tmp_path / "aasist.weights.h5"), str(tmp_path / "run")
    assert convert_weights_main(["aasist", str(SHARED / "AASIST.pth"), weights]) == 0
    assert train_main(["--shards", shards, "--preset", "aasist", "--set", f"model.pretrained_weights={weights}",
                       "--epochs", "0", "--batch-size", "2", "--run-dir", run]) == 0
    assert evaluate_main(["--run", run, "--split", "eval", "--windows", "all"]) == 0
    with open(os.path.join(run, "eval-eval", "scores_eval.txt"), encoding="utf-8") as file:
        evaluated = {line.split()[0]: float(line.split()[3]) for line in file}
    paths = [_write_flac(tmp_path / f"{utt}.flac", samples) for utt, (samples, _, _) in eval_utterances.items()]
    capsys.readouterr()
    document = _predict_json(paths, capsys)
    predicted = {os.path.basename(r["path"])[:-5]: r for r in document["results"]}
    assert [predicted[utt]["windows"] for utt in eval_utterances] == [1, 2, 1]
    for utt, score in evaluated.items():
        assert predicted[utt]["score"] == pytest.approx(score, abs=SCORE_TOLERANCE)


def test_calibrate_then_predict_with_the_calibration_file(tmp_path, capsys):
    pcm, _ = _reference()
    paths = [_write_flac(tmp_path / f"dev{i}.flac", row) for i, row in enumerate(pcm)]
    scores_file = tmp_path / "dev_scores.txt"
    assert predict_main([*paths, "--format", "scores", "--output", str(scores_file), "--quiet"]) == 0
    scores = dict(line.split() for line in scores_file.read_text().splitlines())
    protocol = tmp_path / "protocol.txt"  # the first reference row is bona fide, the others spoofs (README)
    protocol.write_text("".join(f"LA_0000 dev{i} - {'-' if i == 0 else 'A04'} {'bonafide' if i == 0 else 'spoof'}\n"
                                for i in range(5)))
    calibration = str(tmp_path / "calibration.json")
    assert calibrate_main(["--scores", str(scores_file), "--protocol", str(protocol), "--out", calibration]) == 0
    assert calibrate_main(["--scores", str(scores_file), "--protocol", str(protocol), "--out", calibration]) == 2
    state = json.loads(open(calibration, encoding="utf-8").read())
    # Separable dev scores: the EER threshold is the highest spoof score (the last rejected trial).
    assert state["eer_threshold"] == pytest.approx(max(float(scores[f"dev{i}"]) for i in range(1, 5)))
    capsys.readouterr()
    document = _predict_json([paths[0], "--calibration", calibration], capsys)
    (result,) = document["results"]
    slope, offset, prior = (state["calibrator"][k] for k in ("slope", "offset", "prior_spoof"))
    llr = slope * result["score"] + offset + math.log((1 - prior) / prior)
    assert result["p_spoof"] == pytest.approx(1 / (1 + math.exp(llr)), rel=1e-9)
    assert (result["threshold"], result["threshold_source"]) == (pytest.approx(state["eer_threshold"]), "dev_eer")
    assert document["calibration"] == calibration and "note" not in document


def test_model_flag_picks_another_preset_and_refuses_unknown_names(tmp_path, capsys):
    path = _write_flac(tmp_path / "tone.flac", (3000 * np.sin(np.arange(RATE) / 5)).astype(np.int16))
    document = _predict_json(["--model", "aasist_l", path], capsys)
    assert document["model"] == "aasist_l_asvspoof2019_la" and document["results"][0]["windows"] == 1
    assert predict_main(["--model", "wav2vec_la", path, "--quiet"]) == 2
    assert "unknown pretrained model" in capsys.readouterr().err
    assert predict_main(["--quiet"]) == 2  # no audio and no stream
