"""`fakespeech make-corpus OUT` never destroys what it did not write: a non-empty OUT needs --overwrite, and even
then only files an earlier make-corpus wrote there are replaced or removed."""

import hashlib
import shutil

import pytest

from pipelines.commands.make_corpus import main as make_corpus_main
from tfrecord_builder.synthetic.staging import RECORD_FILE

SMALL = ["--train", "2:2", "--splits", "train", "--min-seconds", "0.2", "--max-seconds", "0.3"]
PROTOCOL = "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt"


def _tree(folder):
    """{relative path: sha256} of every file under `folder`."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _flacs(folder):
    return {p.name for p in (folder / "LA" / "ASVspoof2019_LA_train" / "flac").glob("*.flac")}


def test_an_existing_corpus_is_refused_without_overwrite(tmp_path, capsys):
    assert make_corpus_main([str(tmp_path), *SMALL]) == 0
    before = _tree(tmp_path)
    assert make_corpus_main([str(tmp_path), *SMALL, "--seed", "7"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "--overwrite" in err
    assert _tree(tmp_path) == before


def test_a_downloaded_corpus_is_never_touched_even_with_overwrite(la_corpus, tmp_path, capsys):
    corpus = tmp_path / "ASVspoof2019"
    shutil.copytree(la_corpus, corpus)  # written without make-corpus: it has no make-corpus record, like a download
    before = _tree(corpus)
    assert make_corpus_main([str(corpus), *SMALL, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "make-corpus did not write it" in err and "nothing was changed" in err
    assert _tree(corpus) == before


def test_overwrite_replaces_an_earlier_make_corpus_and_keeps_the_users_files(tmp_path):
    assert make_corpus_main([str(tmp_path), *SMALL, "--seed", "1"]) == 0
    old_flacs = _flacs(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "LA" / "ASVspoof2019_LA_train" / "flac" / "my_recording.flac").write_bytes(b"mine too")
    assert make_corpus_main([str(tmp_path), *SMALL, "--seed", "2", "--overwrite"]) == 0
    new_ids = {line.split()[1] + ".flac" for line in (tmp_path / PROTOCOL).read_text().splitlines()}
    assert _flacs(tmp_path) == new_ids | {"my_recording.flac"}  # the old corpus's files are gone, not orphaned
    assert old_flacs - new_ids and not (old_flacs - new_ids) & _flacs(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "LA" / "ASVspoof2019_LA_train" / "flac" / "my_recording.flac").read_bytes() == b"mine too"


def test_a_folder_of_other_files_is_refused_and_overwrite_only_adds_to_it(tmp_path, capsys):
    (tmp_path / "thesis.pdf").write_bytes(b"%PDF")
    assert make_corpus_main([str(tmp_path), *SMALL]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.pdf"]
    assert make_corpus_main([str(tmp_path), *SMALL, "--overwrite"]) == 0
    assert (tmp_path / "thesis.pdf").read_bytes() == b"%PDF" and (tmp_path / PROTOCOL).is_file()
    assert "thesis.pdf" not in (tmp_path / RECORD_FILE).read_text()  # never claimed as make-corpus's


@pytest.mark.parametrize("corpus", ["folders", "in-the-wild"])
def test_other_layouts_are_refused_too(corpus, tmp_path, capsys):
    assert make_corpus_main([str(tmp_path), "--corpus", corpus]) == 0
    before = _tree(tmp_path)
    assert make_corpus_main([str(tmp_path), "--corpus", corpus, "--seed", "3"]) == 1
    assert "--overwrite" in capsys.readouterr().err and _tree(tmp_path) == before
    assert make_corpus_main([str(tmp_path), "--corpus", corpus, "--seed", "3", "--overwrite"]) == 0
    assert _tree(tmp_path) != before
