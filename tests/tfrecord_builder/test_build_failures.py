"""`fakespeech build` under the failures a user causes: empty listings, a read-only folder, a full disk, Ctrl-C,
two builds into one folder, kill -9 with workers. Each ends in one clear line and a folder the rerun resumes.

Real processes throughout (`python -m pipelines.cli build`, what the `fakespeech` console script runs); the
read-only folder and the full disk are real mounts (a read-only bind mount, a small tmpfs) made inside a private
mount namespace (`unshare -m`), so they vanish with the test's shell and never touch the machine's mounts.
"""

import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tfrecord_builder.builder import build_shards, plan_build
from pipelines.commands.build import main as build_main
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import find_corpus_root
from tfrecord_builder.folder_lock import LOCK_FILE

REPO = pathlib.Path(__file__).resolve().parents[2]
SPLITS = ("train", "dev")
ARGS = ["--splits", "train,dev", "--num-shards", "4", "--quiet"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
TRAIN_PROTOCOL = "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt"
DEV_PROTOCOL = "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.dev.trl.txt"


def _command(corpus, out, *extra):
    return [sys.executable, "-m", "pipelines.cli", "build", "--data", str(corpus), "--out", str(out), *ARGS, *extra]


def _config(corpus, out):
    return BuildConfig(data=str(corpus), out=str(out), splits=SPLITS, num_shards=4)


def _shard_sums(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(pathlib.Path(out).glob("*.tfrec"))}


def _our_lines(stderr):
    """stderr without TensorFlow's start-up log lines: what fakespeech itself printed."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(("WARNING: All log", "I0000",
                                                                                          "E0000", "W0000"))]


@pytest.fixture
def corpus(la_corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(la_corpus, copy)
    return copy


@pytest.fixture
def clean_sums(corpus, tmp_path):
    build_shards(_config(corpus, tmp_path / "clean"), progress=False)
    return _shard_sums(tmp_path / "clean")


# --- empty listings --------------------------------------------------------------------------------------------


def test_an_empty_protocol_file_is_an_error_naming_it(corpus, tmp_path, capsys):
    (corpus / DEV_PROTOCOL).write_text("")
    assert build_main(["--data", str(corpus), "--out", str(tmp_path / "out"), *ARGS]) == 1
    err = capsys.readouterr().err
    assert str(corpus / DEV_PROTOCOL) in err and "empty" in err
    assert not list((tmp_path / "out").glob("*.tfrec"))


def _only_malformed_lines(corpus, protocol):
    lines = (corpus / protocol).read_text().splitlines()
    (corpus / protocol).write_text("".join(" ".join(line.split()[:4]) + "\n" for line in lines))  # drop KEY


def test_an_empty_split_beside_others_is_a_warning(corpus, tmp_path, capsys):
    _only_malformed_lines(corpus, DEV_PROTOCOL)
    assert build_main(["--data", str(corpus), "--out", str(tmp_path / "out"), *ARGS, "--on-error", "skip"]) == 0
    assert "warning: split dev is empty" in capsys.readouterr().err


def test_nothing_built_at_all_is_an_error(corpus, tmp_path, capsys):
    _only_malformed_lines(corpus, DEV_PROTOCOL)
    status = build_main(["--data", str(corpus), "--out", str(tmp_path / "out"), "--splits", "dev", "--quiet",
                         "--on-error", "skip"])
    err = capsys.readouterr().err
    assert status == 1 and "warning: split dev is empty" in err and "nothing was built" in err


# --- read-only folder and full disk: real mounts in a private mount namespace ---------------------------------


def _in_private_mounts(script, tmp_path):
    """Runs a bash `script` in its own mount namespace; skips when this machine cannot make one."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs root and util-linux unshare/mount to make a real read-only or full file system")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=64k",
                            "tmpfs", str(tmp_path)], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a private mount namespace here: {probe.stderr.strip()}")
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script], cwd=REPO, env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def _quoted(command):
    return " ".join(f"'{part}'" for part in command)


def _out_and_results(tmp_path, name):
    """An empty output folder `name` for the build and a folder for what the shell script records."""
    out, results = tmp_path / name, tmp_path / "results"
    out.mkdir()
    results.mkdir()
    return out, results


def _build_lines(corpus, out, results, suffix=""):
    """Shell lines that build into `out`, recording stdout, stderr and exit status in `results` (names + suffix)."""
    return (f"{_quoted(_command(corpus, out))} > '{results}/stdout{suffix}' 2> '{results}/stderr{suffix}'\n"
            f"echo $? > '{results}/status{suffix}'")


@pytest.mark.slow
def test_a_read_only_output_folder_is_one_line_naming_it_and_the_rerun_builds(corpus, tmp_path, clean_sums):
    out, results = _out_and_results(tmp_path, "readonly")
    _in_private_mounts(f"""
        mount --bind '{out}' '{out}' && mount -o remount,bind,ro '{out}'
        {_build_lines(corpus, out, results)}
    """, tmp_path)
    lines = _our_lines((results / "stderr").read_text())
    assert (results / "status").read_text().strip() == "1"
    assert len(lines) == 1 and str(out) in lines[0] and "Read-only file system" in lines[0], lines
    assert build_main(["--data", str(corpus), "--out", str(out), *ARGS]) == 0  # the folder is writable again
    assert _shard_sums(out) == clean_sums


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_it_and_the_rerun_resumes(corpus, tmp_path, clean_sums):
    out, results = _out_and_results(tmp_path, "full")
    _in_private_mounts(f"""
        mount -t tmpfs -o size=400k tmpfs '{out}'
        {_build_lines(corpus, out, results)}
        ls -a '{out}' > '{results}/after_failure'
        mount -o remount,size=64m '{out}'
        {_build_lines(corpus, out, results, suffix="2")}
        cd '{out}' && sha256sum *.tfrec > '{results}/sums'
    """, tmp_path)
    lines = _our_lines((results / "stderr").read_text())
    assert (results / "status").read_text().strip() == "1"
    assert len(lines) == 1 and str(out) in lines[0] and "No space left on device" in lines[0], lines
    assert "run the same command to resume" in lines[0]
    kept = [name for name in (results / "after_failure").read_text().split() if name.endswith(".tfrec")]
    assert kept, "the shards finished before the disk filled are kept"
    assert (results / "status2").read_text().strip() == "0", (results / "stderr2").read_text()
    sums = dict(reversed(line.split()) for line in (results / "sums").read_text().splitlines())
    assert sums == clean_sums


# --- processes: Ctrl-C, two builds at once, kill -9 with workers ----------------------------------------------


def _stall_at_last_train_shard(corpus):
    """Replaces the first file of the last train shard with a FIFO: opening it blocks, so the build stalls there
    with the earlier shards done. Returns a function that puts the audio back."""
    plans, _ = plan_build(find_corpus_root(corpus, "LA"), _config(corpus, corpus.parent / "unused"))
    last = [p for p in plans if p.split == "train"][-1]
    flac = corpus / "LA" / "ASVspoof2019_LA_train" / "flac" / f"{last.entries[0].utt_id}.flac"
    good = flac.read_bytes()
    flac.unlink()
    os.mkfifo(flac)

    def restore():
        flac.unlink()
        flac.write_bytes(good)

    return restore


def _wait_for(condition, what, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the build ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _children(pid):
    """Pids of the live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's bookkeeping is left


def _assert_exit_soon(pids, seconds=15):
    """The processes end within `seconds` (the resource tracker leaves once the last worker has closed its pipe)."""
    deadline = time.monotonic() + seconds
    while [pid for pid in pids if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "processes of the build outlived it"


needs_posix = pytest.mark.skipif(not hasattr(os, "mkfifo") or not pathlib.Path("/proc/self/stat").exists(),
                                 reason="needs os.mkfifo and /proc (Linux) to stall a build and see its processes")


@pytest.mark.slow
@needs_posix
def test_ctrl_c_prints_one_line_exits_130_and_the_rerun_resumes(corpus, tmp_path, clean_sums):
    out = tmp_path / "out"
    restore = _stall_at_last_train_shard(corpus)
    process = subprocess.Popen(_command(corpus, out, "--workers", "2"), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list(out.glob("train-*.tfrec"))) >= 3, "three train shards", process)
        workers = _children(process.pid)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert _our_lines(stderr) == ["fakespeech build: interrupted; run the same command to resume"]
    _assert_exit_soon(workers)
    assert not (out / LOCK_FILE).exists() and not [p for p in out.iterdir() if ".tmp-" in p.name]
    restore()
    assert build_main(["--data", str(corpus), "--out", str(out), *ARGS]) == 0
    assert _shard_sums(out) == clean_sums


@pytest.mark.slow
@needs_posix
def test_a_second_build_into_the_same_folder_is_refused_naming_the_first_ones_pid(corpus, tmp_path, capsys,
                                                                                     clean_sums):
    out = tmp_path / "out"
    restore = _stall_at_last_train_shard(corpus)
    first = subprocess.Popen(_command(corpus, out), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (out / LOCK_FILE).is_file() and str(first.pid) in (out / LOCK_FILE).read_text(),
                  "the first build's lock", first)
        assert build_main(["--data", str(corpus), "--out", str(out), *ARGS]) == 1
        err = capsys.readouterr().err
        assert f"pid {first.pid}" in err and "fakespeech build" in err
    finally:
        first.kill()  # kill -9: its lock file stays behind, stale
        first.wait()
    restore()
    assert build_main(["--data", str(corpus), "--out", str(out), *ARGS]) == 0
    assert _shard_sums(out) == clean_sums


@pytest.mark.slow
@needs_posix
def test_kill_9_of_a_build_with_workers_leaves_no_process_behind(corpus, tmp_path):
    out = tmp_path / "out"
    _stall_at_last_train_shard(corpus)
    process = subprocess.Popen(_command(corpus, out, "--workers", "2"), cwd=REPO, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list(out.glob("train-*.tfrec"))) >= 3 and len(_children(process.pid)) >= 2,
                  "the workers to stall", process)
        children = _children(process.pid)  # the two workers and multiprocessing's resource tracker
    finally:
        process.kill()
        process.wait()
    _assert_exit_soon(children)
