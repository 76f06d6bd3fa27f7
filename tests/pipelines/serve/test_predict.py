"""`predict_files` and `fakespeech predict` on files of several formats, rates and channel counts."""

import csv
import io
import json
import math
import os
import warnings

import numpy as np
import pytest
import soundfile as sf

from pipelines.commands.predict import main as predict_main
from pipelines.serve.prediction import ShortAudioWarning, load_predictor, predict_files

import run_fixtures as rf  # tests/pipelines is on pytest's pythonpath (setup.cfg)


# The same band-limited signal written at 44.1 kHz stereo and at 16 kHz mono differs after polyphase resampling
# and int16 rounding by about 1e-3 of full scale (more near the ends, where the resampling filter sees zeros);
# through the untrained model that moves window scores by about 1e-2, so 0.05 separates "the same audio" from a
# broken downmix or resampling (which moves scores by whole units).
RESAMPLED_SCORE_TOLERANCE = 0.05
# Scores from packed, padded batches against the Keras model called on hand-cut windows: float32 round-off only.
SCORE_TOLERANCE = 1e-5
DURATION = 0.35  # seconds: 3.5 default (0.1 s) windows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(calibrated run dir, uncalibrated run dir, keras model): the same tiny untrained model in both."""
    run_config, model = rf.build_tiny_model()
    root = tmp_path_factory.mktemp("runs")
    calibrated = rf.write_run(str(root / "calibrated"), run_config, model, calibration_threshold=-9.3)
    uncalibrated = rf.write_run(str(root / "uncalibrated"), run_config, model)
    return calibrated, uncalibrated, model


@pytest.fixture(scope="module")
def predictor(runs):
    """The calibrated run loaded once: its traced functions are reused across calls."""
    return load_predictor(runs[0])


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """name -> path: good files in four formats, a short one, and three bad ones."""
    root = tmp_path_factory.mktemp("audio")
    files = {
        "stereo_44k": rf.write_audio(str(root / "stereo_44k.wav"), rf.tone_mix(DURATION, 44100, channels=2), 44100),
        "mono_16k": rf.write_audio(str(root / "mono_16k.wav"), rf.tone_mix(DURATION, 16000), 16000),
        "flac": rf.write_audio(str(root / "speech.flac"), rf.tone_mix(0.25, 16000, seed=1), 16000),
        "ogg": rf.write_audio(str(root / "speech.ogg"), rf.tone_mix(0.25, 22050, seed=2), 22050),
        "short": rf.write_audio(str(root / "short.wav"), rf.tone_mix(0.03, 16000, seed=3), 16000),
        "no_frames": rf.write_audio(str(root / "no_frames.wav"), np.zeros(0), 16000),
    }
    files["empty"] = str(root / "empty.wav")
    open(files["empty"], "wb").close()
    files["text"] = str(root / "notes.txt")
    with open(files["text"], "w", encoding="utf-8") as file:
        file.write("not audio\n")
    return files


@pytest.fixture(scope="module")
def scored(runs, audio):
    """Every file scored in one call with batch size 3, so batches span files and the last one is padded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = predict_files(runs[0], list(audio.values()), batch_size=3)
    return {name: result for name, result in zip(audio, results)}, caught


def _hand_windows(waveform, window, hop):
    """Windows cut by hand: starts 0, hop, ... until the audio is covered; tiled from the start to fill."""
    starts = [0]
    while starts[-1] + window < len(waveform):
        starts.append(starts[-1] + hop)
    covered = np.resize(waveform, starts[-1] + window)  # np.resize repeats the array cyclically
    return np.stack([covered[s : s + window] for s in starts]), np.array(starts)


def _timeline_scores(result):
    return np.array([entry["score"] for entry in result["timeline"]])


def test_window_scores_equal_keras_model_on_hand_cut_windows(runs, audio, scored):
    results, _ = scored
    for name in ("mono_16k", "flac"):
        pcm, rate = sf.read(audio[name], dtype="int16")
        windows, _ = _hand_windows(pcm.astype(np.float32) / 32768.0, rf.CLIP_SAMPLES, rf.CLIP_SAMPLES)
        expected = -runs[2].predict(windows, verbose=0)[:, 0]
        np.testing.assert_allclose(_timeline_scores(results[name]), expected, atol=SCORE_TOLERANCE, rtol=0)


def test_stereo_44k_is_downmixed_and_resampled_like_mono_16k(scored):
    results, _ = scored
    stereo, mono = results["stereo_44k"], results["mono_16k"]
    assert (stereo["source_rate"], stereo["channels"]) == (44100, 2)
    assert stereo["windows"] == mono["windows"] == math.ceil(DURATION * rf.SAMPLE_RATE / rf.CLIP_SAMPLES)
    np.testing.assert_allclose(_timeline_scores(stereo), _timeline_scores(mono), atol=RESAMPLED_SCORE_TOLERANCE)


def test_flac_and_ogg_are_scored(scored):
    results, _ = scored
    for name in ("flac", "ogg"):
        assert "error" not in results[name]
        assert results[name]["windows"] == math.ceil(0.25 * rf.SAMPLE_RATE / rf.CLIP_SAMPLES)
        assert np.isfinite(results[name]["score"])
    assert results["ogg"]["source_rate"] == 22050


def test_short_file_is_padded_with_a_warning_naming_it(audio, scored):
    results, caught = scored
    short_warnings = [w for w in caught if issubclass(w.category, ShortAudioWarning)]
    assert [audio["short"] in str(w.message) for w in short_warnings] == [True]
    assert audio["short"] in results["short"]["warning"]
    assert results["short"]["windows"] == 1
    assert results["short"]["timeline"][0]["end"] == pytest.approx(0.03, abs=1 / rf.SAMPLE_RATE)


def test_bad_files_are_reported_and_the_others_scored(audio, scored):
    results, _ = scored
    for name in ("empty", "no_frames", "text"):
        assert set(results[name]) == {"path", "error"}
        assert results[name]["path"] == audio[name]
    assert "empty audio" in results["no_frames"]["error"]
    assert "unreadable" in results["text"]["error"]
    assert all("error" not in results[name] for name in ("stereo_44k", "mono_16k", "flac", "ogg", "short"))


def test_calibrated_probability_and_decision_at_the_stored_threshold(scored):
    results, _ = scored
    for name in ("mono_16k", "flac", "ogg"):
        result = results[name]
        llr = rf.CALIBRATION["slope"] * result["score"] + rf.CALIBRATION["offset"]  # prior 0.5: no prior term
        assert result["p_spoof"] == pytest.approx(1.0 / (1.0 + math.exp(llr)), abs=1e-12)
        assert (result["threshold"], result["threshold_source"]) == (-9.3, "dev_eer")
        assert result["decision"] == ("bonafide" if result["score"] >= -9.3 else "spoof")


def test_timeline_windows_follow_window_and_hop(predictor, runs, audio):
    window, hop = 0.05, 0.02
    (result,) = predict_files(predictor, [audio["mono_16k"]], window=window, hop=hop, batch_size=4)
    pcm, _ = sf.read(audio["mono_16k"], dtype="int16")
    window_samples, hop_samples = round(window * rf.SAMPLE_RATE), round(hop * rf.SAMPLE_RATE)
    windows, starts = _hand_windows(pcm.astype(np.float32) / 32768.0, window_samples, hop_samples)
    assert result["windows"] == len(result["timeline"]) == len(starts)
    np.testing.assert_allclose([e["start"] for e in result["timeline"]], starts / rf.SAMPLE_RATE)
    ends = np.minimum(starts + window_samples, len(pcm)) / rf.SAMPLE_RATE
    np.testing.assert_allclose([e["end"] for e in result["timeline"]], ends)
    # Windows shorter than the clip are tiled (from their start) to the model's clip length.
    clips = np.stack([np.resize(w, rf.CLIP_SAMPLES) for w in windows])
    expected = -runs[2].predict(clips, verbose=0)[:, 0]
    np.testing.assert_allclose(_timeline_scores(result), expected, atol=SCORE_TOLERANCE, rtol=0)


@pytest.mark.parametrize("pool, reduce", [("max", np.max), ("min", np.min), ("p25", lambda s: np.percentile(s, 25))])
def test_pooled_score_is_numpy_of_the_timeline(predictor, audio, scored, pool, reduce):
    results, _ = scored
    assert results["mono_16k"]["score"] == pytest.approx(np.mean(_timeline_scores(results["mono_16k"])), abs=1e-12)
    (result,) = predict_files(predictor, [audio["mono_16k"]], pool=pool, batch_size=3)
    assert result["pool"] == pool
    assert result["score"] == pytest.approx(reduce(_timeline_scores(result)), abs=1e-12)


def test_folders_are_searched_recursively_for_audio(predictor, tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    paths = [rf.write_audio(str(nested / "x.flac"), rf.tone_mix(0.1, 16000), 16000),
             rf.write_audio(str(tmp_path / "y.wav"), rf.tone_mix(0.1, 16000), 16000)]
    (tmp_path / "readme.txt").write_text("skipped: not an audio extension")
    results = predict_files(predictor, [str(tmp_path), str(tmp_path / "missing.wav")])
    assert [r["path"] for r in results] == sorted(paths) + [str(tmp_path / "missing.wav")]
    assert "error" in results[-1] and all("error" not in r for r in results[:-1])


def test_mp3(predictor, tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot read MP3")
    path = rf.write_audio(str(tmp_path / "speech.mp3"), rf.tone_mix(0.25, 16000), 16000)
    (result,) = predict_files(predictor, [path])
    assert "error" not in result and np.isfinite(result["score"])


def test_invalid_arguments_name_the_flag(predictor, audio):
    with pytest.raises(ValueError, match="--pool"):
        predict_files(predictor, [audio["mono_16k"]], pool="p101")
    with pytest.raises(ValueError, match="--window"):
        predict_files(predictor, [audio["mono_16k"]], window=1.0)


def test_uncalibrated_run_omits_probability_and_uses_logit_zero(runs, audio, capsys):
    code = predict_main([os.path.join(runs[1], "model.keras"), audio["flac"], "--format", "json", "--quiet"])
    out, err = capsys.readouterr()
    document = json.loads(out)
    (result,) = document["results"]
    assert code == 0 and "p_spoof" not in result and not document["calibrated"]
    assert (result["threshold"], result["threshold_source"]) == (0.0, "logit_zero")
    assert result["decision"] == ("bonafide" if result["score"] >= 0.0 else "spoof")
    assert "not calibrated" in err


def test_cli_json_output_file_with_timeline(runs, audio, tmp_path, capsys):
    out_path = str(tmp_path / "scores.json")
    paths = [audio["mono_16k"], audio["text"]]
    code = predict_main([runs[0], *paths, "--format", "json", "--timeline", "--output", out_path, "--quiet"])
    with open(out_path, encoding="utf-8") as file:
        document = json.load(file)
    scored_result, error_result = document["results"]
    assert code == 1 and [r["path"] for r in document["results"]] == paths  # 1: one input failed
    assert len(scored_result["timeline"]) == scored_result["windows"]
    assert error_result["error"] and audio["text"] in capsys.readouterr().err


def test_cli_csv_has_a_row_per_window_with_timeline(runs, audio, capsys):
    code = predict_main([runs[0], audio["mono_16k"], audio["empty"], "--format", "csv", "--timeline", "--quiet"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    windows = [row for row in rows if row["path"] == audio["mono_16k"]]
    assert code == 1 and [int(row["window"]) for row in windows] == list(range(len(windows)))  # the empty file failed
    assert len(windows) == math.ceil(DURATION * rf.SAMPLE_RATE / rf.CLIP_SAMPLES)
    assert float(windows[0]["score"]) == pytest.approx(np.mean([float(r["window_score"]) for r in windows]), abs=1e-12)
    (error_row,) = [row for row in rows if row["path"] == audio["empty"]]
    assert error_row["error"] and not error_row["score"]


def test_cli_table_and_exit_code_one_when_nothing_scored(runs, audio, capsys):
    assert predict_main([runs[0], audio["mono_16k"], "--quiet"]) == 0
    table = capsys.readouterr().out
    assert audio["mono_16k"] in table and "dev EER threshold" in table
    assert predict_main([runs[0], audio["text"], audio["empty"], "--quiet"]) == 1


def test_predictor_from_keras_file_reads_calibration_beside_it(runs):
    predictor = load_predictor(os.path.join(runs[0], "model.keras"))
    assert predictor.decision_threshold == (-9.3, "dev_eer")
    assert predictor.clip_samples == rf.CLIP_SAMPLES
