"""`FolderLock`: one process at a time in a folder; the second is refused naming the first's pid; a dead
holder's lock is taken over. Holders are real processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tfrecord_builder import folder_lock
from tfrecord_builder.folder_lock import LOCK_FILE, FolderLock, FolderLockedError

HOLD = """
import sys
from tfrecord_builder.folder_lock import FolderLock
with FolderLock(sys.argv[1], "holding for a test"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path):
    """A process holding the lock on `tmp_path` until its stdin closes (or it is killed)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_second_holder_is_refused_naming_the_first_ones_pid_host_and_purpose(tmp_path, holder):
    with pytest.raises(FolderLockedError) as info:
        FolderLock(tmp_path, "fakespeech build").acquire()
    message = str(info.value)
    assert f"pid {holder.pid}" in message and socket.gethostname() in message and "holding for a test" in message
    assert info.value.holder["pid"] == holder.pid


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid  # kill -9 left its file behind
    with FolderLock(tmp_path, "fakespeech build") as lock:
        assert lock.took_over["pid"] == holder.pid
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_releasing_removes_only_the_lock_file_and_frees_the_folder(tmp_path, holder):
    (tmp_path / "shard.tfrec").write_bytes(b"data")
    holder.stdin.close()  # the holder leaves its `with` block
    holder.wait(timeout=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard.tfrec"]
    with FolderLock(tmp_path, "fakespeech build") as lock:
        assert lock.took_over is None


def test_without_flock_a_dead_pid_is_stale_and_a_live_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_lock, "fcntl", None)  # the fallback of Windows and file systems without flock
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"pid": dead.pid, "host": socket.gethostname(), "purpose": "crashed", "started": time.time()}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record))
    with FolderLock(tmp_path, "fakespeech build") as lock:
        assert lock.took_over["pid"] == dead.pid
        with pytest.raises(FolderLockedError, match=f"pid {os.getpid()}"):
            FolderLock(tmp_path, "second").acquire()
    assert not (tmp_path / LOCK_FILE).exists()
