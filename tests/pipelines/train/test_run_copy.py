"""Copying a run directory (what the notebooks do between a session's disk and a bucket), on local folders.

`gs://` goes through the same `tf.io.gfile` calls; no bucket is reachable from the test machine.
"""

import pytest

from pipelines.config import RunConfig
from pipelines.train.run_copy import copy_run, run_files
from tfrecord_builder.dataclass_config import ConfigError


def _run(folder, seed=0):
    """A run directory's kinds of files: config, model bytes, a nested backup, and a hidden lock."""
    (folder / "backup" / "chkpt").mkdir(parents=True)
    RunConfig.from_dict({"train": {"seed": seed}}).save_json(str(folder / "config.json"))
    (folder / "model.keras").write_bytes(bytes(range(256)) * 4)
    (folder / "backup" / "chkpt" / "state.weights.h5").write_bytes(b"\x00\x01weights")
    (folder / ".fakespeech.lock").write_text("12345")
    return folder


def test_copies_every_file_of_the_run_and_no_hidden_one(tmp_path):
    source = _run(tmp_path / "run")
    assert copy_run(str(source), str(tmp_path / "bucket" / "run")) == 3
    copied = tmp_path / "bucket" / "run"
    for name in ("config.json", "model.keras", "backup/chkpt/state.weights.h5"):
        assert (copied / name).read_bytes() == (source / name).read_bytes()
    assert not (copied / ".fakespeech.lock").exists()
    assert run_files(str(copied)) == ["backup/chkpt/state.weights.h5", "config.json", "model.keras"]


def test_copying_again_updates_the_same_run(tmp_path):
    source = _run(tmp_path / "run")
    copy_run(str(source), str(tmp_path / "copy"))
    (source / "model.keras").write_bytes(b"better")
    copy_run(str(source), str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "model.keras").read_bytes() == b"better"


def test_refuses_to_mix_runs_or_to_copy_what_is_no_run(tmp_path):
    copy_run(str(_run(tmp_path / "a", seed=0)), str(tmp_path / "copy"))
    with pytest.raises(ConfigError, match="holds another run"):
        copy_run(str(_run(tmp_path / "b", seed=1)), str(tmp_path / "copy"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no run"):
        copy_run(str(tmp_path / "a"), str(tmp_path / "notes"))
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="no config.json"):
        copy_run(str(tmp_path / "notes"), str(tmp_path / "elsewhere"))
