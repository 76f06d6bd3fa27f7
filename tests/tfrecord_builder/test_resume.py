"""An interrupted build, re-run, ends with exactly the manifest and shard bytes of an uninterrupted build."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from tfrecord_builder.builder import BuildError, build_shards, plan_build
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import find_corpus_root


def _config(corpus, out, **overrides):
    return BuildConfig(data=str(corpus), out=str(out), splits=("train", "dev"), num_shards=4, **overrides)


def _without_out(manifest):
    return {**manifest, "build_config": {k: v for k, v in manifest["build_config"].items() if k != "out"}}


def _shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tfrec"))}


def _last_train_flac(corpus, config):
    """The audio of an utterance in the last train shard, so earlier shards finish before the build reaches it."""
    plans, _ = plan_build(find_corpus_root(corpus, "LA"), config)
    last = [p for p in plans if p.split == "train"][-1]
    return corpus / "LA" / "ASVspoof2019_LA_train" / "flac" / f"{last.entries[0].utt_id}.flac"


@pytest.fixture
def corpus_and_clean_build(la_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(la_corpus, corpus)
    clean = build_shards(_config(corpus, tmp_path / "clean"), progress=False)
    return corpus, clean, _shard_bytes(tmp_path / "clean")


def test_resume_after_a_failure_midway_equals_a_clean_build(corpus_and_clean_build, tmp_path):
    corpus, clean, clean_bytes = corpus_and_clean_build
    out = tmp_path / "resumed"
    flac = _last_train_flac(corpus, _config(corpus, out))
    good = flac.read_bytes()
    flac.write_bytes(b"not audio")
    with pytest.raises(BuildError, match=flac.name):
        build_shards(_config(corpus, out), progress=False)
    assert len(list(out.glob("train-*.tfrec"))) == 3 and not (out / "manifest.json").exists()
    flac.write_bytes(good)
    resumed = build_shards(_config(corpus, out), progress=False)
    assert _without_out(resumed) == _without_out(clean)
    assert _shard_bytes(out) == clean_bytes


def test_damaged_shard_is_rebuilt_and_intact_ones_are_kept(corpus_and_clean_build, tmp_path):
    corpus, clean, clean_bytes = corpus_and_clean_build
    out = tmp_path / "clean"
    damaged = out / clean["splits"]["dev"]["shards"][1]["file"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    kept = out / clean["splits"]["train"]["shards"][0]["file"]
    kept_mtime = kept.stat().st_mtime_ns
    assert build_shards(_config(corpus, out), progress=False) == clean
    assert _shard_bytes(out) == clean_bytes
    assert kept.stat().st_mtime_ns == kept_mtime


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX) to stall the build at a known file")
def test_resume_after_the_process_is_killed_equals_a_clean_build(corpus_and_clean_build, tmp_path):
    corpus, clean, clean_bytes = corpus_and_clean_build
    out = tmp_path / "killed"
    flac = _last_train_flac(corpus, _config(corpus, out))
    good = flac.read_bytes()
    flac.unlink()
    os.mkfifo(flac)  # opening a FIFO blocks until a writer appears: the build stalls there, shards before it done
    command = ["-c", "import sys; from pipelines.commands.build import main as build_main; sys.exit(build_main(sys.argv[1:]))"]
    args = ["--data", str(corpus), "--out", str(out), "--splits", "train,dev", "--num-shards", "4", "--quiet"]
    process = subprocess.Popen([sys.executable, *command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("train-*.tfrec"))) < 3 and time.monotonic() < deadline:
            assert process.poll() is None, "the build ended before it was killed"
            time.sleep(0.1)
        assert len(list(out.glob("train-*.tfrec"))) == 3
        time.sleep(0.5)
        assert process.poll() is None, "the build should be blocked on the FIFO, not finished"
    finally:
        process.kill()
        process.wait()
    assert not (out / "manifest.json").exists()
    flac.unlink()
    flac.write_bytes(good)
    resumed = build_shards(_config(corpus, out), progress=False)
    assert _without_out(resumed) == _without_out(clean)
    assert _shard_bytes(out) == clean_bytes
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
