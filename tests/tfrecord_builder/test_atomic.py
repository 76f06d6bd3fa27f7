"""Every write goes through `tfrecord_builder.atomic`: a reader sees the old file or the whole new one."""

import os

import pytest

from tfrecord_builder import atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    atomic.write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as temp:
            open(temp, "w").write("half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["report.json"]


def test_a_folder_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    target = tmp_path / "savedmodel"
    target.mkdir()
    (target / "old.pb").write_text("old")
    with atomic.atomic_path(target) as temp:
        os.makedirs(temp)
        (tmp_path / os.path.basename(temp) / "new.pb").write_text("new")
        assert (target / "old.pb").exists()
    assert os.listdir(target) == ["new.pb"] and os.listdir(tmp_path) == ["savedmodel"]


def test_a_pending_file_gets_its_name_at_the_end(tmp_path):
    with atomic.pending_file(tmp_path, "train-00000-of-00001") as pending:
        open(pending.path, "wb").write(b"x" * 3)
        assert os.listdir(tmp_path) == [os.path.basename(pending.path)]
        pending.name = "train-00000-of-00001-3.tfrec"
    assert os.listdir(tmp_path) == ["train-00000-of-00001-3.tfrec"]


def test_leftovers_of_killed_writers_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    leftover = atomic.temp_path_for(tmp_path / "manifest.json")
    open(leftover, "w").write("{")
    atomic.remove_temp_files(tmp_path)
    assert os.listdir(tmp_path) == ["keep.txt"]
