"""Every kind of bad input stops the build with a message naming it (`fail`) or is skipped and recorded (`skip`)."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from tfrecord_builder.builder import BuildError, build_shards
from pipelines.commands.build import main as build_main
from tfrecord_builder.config import BuildConfig

PROTOCOL = "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt"


def _flac(utt):
    return f"LA/ASVspoof2019_LA_train/flac/{utt}.flac"


def _malformed_line(corpus, lines):
    with open(corpus / PROTOCOL, "a", encoding="utf-8") as f:
        f.write("LA_0079 LA_T_9999999 - bonafide\n")
    return PROTOCOL, len(lines) + 1, "expected 5 fields"


def _missing_audio(corpus, lines):
    utt = lines[2].split()[1]
    (corpus / _flac(utt)).unlink()
    return _flac(utt), 3, "missing audio file"


def _unreadable_audio(corpus, lines):
    utt = lines[4].split()[1]
    (corpus / _flac(utt)).write_bytes(b"fLaC this is not a flac stream")
    return _flac(utt), 5, "unreadable audio"


def _empty_audio(corpus, lines):
    utt = lines[1].split()[1]
    (corpus / _flac(utt)).unlink()
    wav = f"LA/ASVspoof2019_LA_train/flac/{utt}.wav"  # libsndfile cannot write a zero-frame FLAC; a WAV it can
    sf.write(corpus / wav, np.zeros(0, np.int16), 16000, subtype="PCM_16")
    return wav, 2, "empty audio"


BREAKAGES = [_malformed_line, _missing_audio, _unreadable_audio, _empty_audio]


@pytest.fixture
def corpus(la_corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(la_corpus, copy)
    return copy


def _config(corpus, out, **overrides):
    return BuildConfig(data=str(corpus), out=str(out), splits=("train",), num_shards=2, **overrides)


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__.strip("_"))
def test_fail_stops_naming_file_and_protocol_line(corpus, tmp_path, breakage):
    lines = (corpus / PROTOCOL).read_text().splitlines()
    file, line, reason = breakage(corpus, lines)
    with pytest.raises(BuildError, match=f"{reason}") as error:
        build_shards(_config(corpus, tmp_path / "out"), progress=False)
    assert file in str(error.value) and f":{line}" in str(error.value)
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__.strip("_"))
def test_skip_records_file_line_and_reason_and_builds_the_rest(corpus, tmp_path, breakage):
    lines = (corpus / PROTOCOL).read_text().splitlines()
    file, line, reason = breakage(corpus, lines)
    manifest = build_shards(_config(corpus, tmp_path / "out", on_error="skip"), progress=False)
    assert [(s["file"], s["line"]) for s in manifest["skipped"]] == [(file, line)]
    assert reason in manifest["skipped"][0]["reason"]
    well_formed = len(lines) - (breakage is not _malformed_line)
    assert manifest["splits"]["train"]["num_examples"] == well_formed


def test_cli_skip_prints_a_summary_and_fail_returns_1(corpus, tmp_path, capsys):
    file, line, _ = _missing_audio(corpus, (corpus / PROTOCOL).read_text().splitlines())
    args = ["--data", str(corpus), "--splits", "train", "--quiet"]
    assert build_main(args + ["--out", str(tmp_path / "a")]) == 1
    assert file in capsys.readouterr().err
    assert build_main(args + ["--out", str(tmp_path / "b"), "--on-error", "skip"]) == 0
    assert f"skipped 1 item(s):\n  {file}:{line}: missing audio file" in capsys.readouterr().out


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_no_protocol_under_root_names_the_root(tmp_path, on_error):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=f"no LA CM protocol folder found under {tmp_path / 'empty'}"):
        build_shards(_config(tmp_path / "empty", tmp_path / "out", on_error=on_error), progress=False)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_missing_split_protocol_names_the_file(corpus, tmp_path, on_error):
    (corpus / PROTOCOL).unlink()
    with pytest.raises(BuildError, match="ASVspoof2019.LA.cm.train.trn.txt does not exist"):
        build_shards(_config(corpus, tmp_path / "out", on_error=on_error), progress=False)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_output_of_another_config_is_refused_naming_the_setting(la_corpus, tmp_path, on_error):
    build_shards(_config(la_corpus, tmp_path / "out", seed=0), progress=False)
    with pytest.raises(BuildError, match=r"different config \(seed: 0 there, 1 now\)"):
        build_shards(_config(la_corpus, tmp_path / "out", seed=1, on_error=on_error), progress=False)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_output_with_unrecorded_shards_is_refused(la_corpus, tmp_path, on_error):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "train-00000-of-00001-3.tfrec").write_bytes(b"")
    with pytest.raises(BuildError, match="train-00000-of-00001-3.tfrec.*unknown build"):
        build_shards(_config(la_corpus, tmp_path / "out", on_error=on_error), progress=False)
