"""Streaming: windows scored as audio arrives equal `predict`'s offline windows, and memory stays flat."""

import io
import json
import sys
import tracemalloc

import keras
import numpy as np
import pytest
import soundfile as sf

from pipelines.commands.predict import main as predict_main
from pipelines.config import RunConfig
from pipelines.serve.detector import Detector
from pipelines.serve.stream import PcmFormat, pcm_chunks, wav_stream_format
from pipelines.train.end_to_end import build_end_to_end

import run_fixtures as rf  # tests/pipelines is on pytest's pythonpath (setup.cfg)

RATE = 16000
SCORE_TOLERANCE = 1e-5  # the same windows through batch-1 and batch-32 calls: float32 round-off only
# 10 minutes of 16-bit audio are 38 MB as float32; a stream holds one window (64 kB here) and a chunk.
STREAM_MEMORY_BOUND = 2 * 1024 * 1024


def _tiny_run(directory, pad_mode="repeat"):
    """A run of an untrained conv1d on log-mels with 1-second windows: cheap to call once per window."""
    run_config = RunConfig.from_dict({
        "data": {"sample_rate": RATE, "clip_samples": RATE, "pad_mode": pad_mode},
        "features": {"kind": "logmel", "sample_rate": RATE, "n_fft": 512, "win_length": 400, "hop_length": 400,
                     "n_mels": 16},
        "model": {"name": "conv1d", "params": {"filters": [8, 8], "dropout": 0.0}},
    })
    keras.utils.set_random_seed(0)
    model = build_end_to_end(run_config, with_augmentation=False)
    return rf.write_run(str(directory), run_config, model, calibration_threshold=0.05)


@pytest.fixture(scope="module")
def detectors(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream_runs")
    return {mode: Detector(run=_tiny_run(root / mode, mode)) for mode in ("repeat", "zero")}


def _audio(seconds, seed=0, channels=1):
    """Tones that change every half second, in noise: every window of the stream looks different."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(int(np.ceil(seconds * 2))):
        t = np.arange(RATE // 2) / RATE
        blocks.append(0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(len(t)))
    mono = np.concatenate(blocks)[: int(round(seconds * RATE))]
    return mono if channels == 1 else np.stack([mono, 0.5 * mono], axis=1)


def _offline(detector, path, hop=None):
    (result,) = detector.predict([path], hop=hop)
    return result


def _streamed(detector, path, hop=None, chunk_frames=3000):
    with open(path, "rb") as stream:
        items = list(detector.score_stream(pcm_chunks(stream, wav_stream_format(stream), chunk_frames), hop=hop))
    return items[:-1], items[-1]["summary"]


def _assert_same_windows(windows, offline):
    assert [w["window"] for w in windows] == list(range(offline["windows"]))
    np.testing.assert_allclose([w["start"] for w in windows], [e["start"] for e in offline["timeline"]])
    np.testing.assert_allclose([w["end"] for w in windows], [e["end"] for e in offline["timeline"]])
    np.testing.assert_allclose([w["score"] for w in windows], [e["score"] for e in offline["timeline"]],
                               atol=SCORE_TOLERANCE, rtol=0)


def test_ten_minute_stream_keeps_memory_flat_and_equals_offline_windows(detectors, tmp_path):
    detector = detectors["repeat"]
    path = str(tmp_path / "ten_minutes.wav")
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as file:  # written a minute at a time
        for minute in range(10):
            file.write(_audio(60.0 + (0.37 if minute == 9 else 0.0), seed=minute))  # ends inside a window
    stream = detector.stream()
    scores, baseline = [], None
    tracemalloc.start()
    with open(path, "rb") as wav:
        for index, chunk in enumerate(pcm_chunks(wav, wav_stream_format(wav), chunk_frames=4000)):
            scores.extend(window["score"] for window in stream.push(chunk))
            if index == 4 * 60:  # after the first minute (0.25 s chunks): the scorer is traced, buffers full
                baseline = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
    last, summary = stream.finish()
    scores.extend(window["score"] for window in last)
    growth = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    assert growth < STREAM_MEMORY_BOUND, f"traced memory grew by {growth:,} bytes over nine minutes of stream"
    offline = _offline(detector, path)
    assert len(scores) == offline["windows"] == 601
    np.testing.assert_allclose(scores, [e["score"] for e in offline["timeline"]], atol=SCORE_TOLERANCE, rtol=0)
    assert summary["score"] == pytest.approx(offline["score"], abs=SCORE_TOLERANCE)
    assert summary["decision"] == offline["decision"]


@pytest.mark.parametrize("pad_mode, seconds, hop", [
    ("repeat", 0.3, None),  # shorter than one window: the stream repeats from its start
    ("repeat", 2.5, None),  # ends inside the third window
    ("repeat", 3.0, None),  # ends on a window boundary: no padded window
    ("repeat", 2.7, 0.25),  # overlapping windows
    ("zero", 2.5, 0.5),
])
def test_stream_windows_equal_offline_windows(detectors, tmp_path, pad_mode, seconds, hop):
    path = rf.write_audio(str(tmp_path / "clip.wav"), _audio(seconds, seed=5), RATE, subtype="PCM_16")
    detector = detectors[pad_mode]
    windows, summary = _streamed(detector, path, hop=hop, chunk_frames=777)
    offline = _offline(detector, path, hop=hop)
    _assert_same_windows(windows, offline)
    assert summary["score"] == pytest.approx(offline["score"], abs=SCORE_TOLERANCE)
    assert summary["p_spoof"] == pytest.approx(offline["p_spoof"], abs=SCORE_TOLERANCE)


def test_cli_streams_raw_stereo_pcm_from_standard_input(detectors, tmp_path, monkeypatch, capsys):
    stereo = _audio(2.6, seed=9, channels=2)
    pcm = np.round(stereo * 32767).astype("<i2")
    path = rf.write_audio(str(tmp_path / "stereo.wav"), pcm, RATE, subtype="PCM_16")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    run = detectors["repeat"].name
    assert predict_main(["--run", run, "--stream", "-", "--stream-format", "raw", "--channels", "2",
                         "--format", "json"]) == 0
    header, *windows, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert header["stream"] == "-" and header["model"] == run
    _assert_same_windows(windows, _offline(detectors["repeat"], path))
    assert summary["summary"]["windows"] == len(windows) == 3


def test_shipped_aasist_streams_a_wav_like_predict(shipped, tmp_path):
    path = rf.write_audio(str(tmp_path / "nine_seconds.wav"), _audio(9.0, seed=2), RATE, subtype="PCM_16")
    windows, summary = _streamed(shipped, path, chunk_frames=16000)
    offline = _offline(shipped, path)
    _assert_same_windows(windows, offline)
    assert summary["p_spoof"] == pytest.approx(offline["p_spoof"], abs=1e-6)


def test_a_stream_off_the_model_rate_is_refused_naming_both_rates(detectors, tmp_path, monkeypatch, capsys):
    path = rf.write_audio(str(tmp_path / "cd.wav"), _audio(1.0), 44100, subtype="PCM_16")
    assert predict_main(["--run", detectors["repeat"].name, "--stream", path]) == 1
    assert "44100 Hz" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--hop may not exceed"):
        detectors["repeat"].stream(window=0.5, hop=0.75)


def test_wav_header_parser_reads_what_soundfile_writes(tmp_path):
    path = rf.write_audio(str(tmp_path / "f.wav"), _audio(0.5, channels=2), 22050, subtype="FLOAT")
    with open(path, "rb") as stream:
        assert wav_stream_format(stream) == PcmFormat(22050, "f32le", 2)
