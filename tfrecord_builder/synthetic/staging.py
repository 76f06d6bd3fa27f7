"""Writing a generated corpus into a user's folder without touching anything make-corpus did not write.

`fakespeech make-corpus OUT` refuses a non-empty OUT unless `--overwrite`. A corpus is generated into a hidden
staging folder inside OUT and its files are then moved into place, so before anything in OUT changes the full
list of files to write is known: with `--overwrite`, a file of that list that exists in OUT must be one the record
of an earlier make-corpus there (`OUT/.fakespeech-corpus.json`) lists, else nothing is written and the file is
named. Files of the earlier corpus that the new one does not write are removed (only those), and the record is
rewritten. Pointed at a real ASVspoof2019 root, make-corpus therefore never replaces its protocols or audio.
"""

import contextlib
import json
import os
import pathlib
import shutil
import time

RECORD_FILE = ".fakespeech-corpus.json"
STAGING_PREFIX = ".make-corpus-staging-"


class OutputFolderError(ValueError):
    """OUT cannot take the corpus (not empty without --overwrite, or holding files make-corpus did not write)."""


def check_output_folder(out, overwrite):
    """Before any work: OUT is absent, empty, or `overwrite` is set; else `OutputFolderError` naming OUT."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out} exists and is not a folder")
    present = _visible_entries(out)
    if present and not overwrite:
        kind = "a corpus written by make-corpus" if (out / RECORD_FILE).is_file() else "files make-corpus did not write"
        example = ", ".join(sorted(p.name for p in present)[:3]) + (", ..." if len(present) > 3 else "")
        raise OutputFolderError(f"{out} is not empty: it holds {kind} ({example}); "
                                f"choose an empty folder, or pass --overwrite to replace a corpus make-corpus wrote "
                                f"there (files it did not write are never touched)")


def _visible_entries(out):
    if not out.is_dir():
        return []
    return [p for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX)]


def write_corpus(out, generate, description):
    """Runs `generate(staging_folder)` and moves what it wrote into `out` (see the module docstring).

    Returns:
        What `generate` returned (a path inside the staging folder), mapped into `out`.

    Raises:
        OutputFolderError: a file to write exists in `out` and the record of an earlier make-corpus does not list
            it; nothing in `out` has changed then.
    """
    out = pathlib.Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}"
    try:
        result = pathlib.Path(generate(staging))
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        previous = _read_record(out)
        foreign = [name for name in files if (out / name).exists() and name not in previous]
        if foreign:
            raise OutputFolderError(f"{out / foreign[0]} exists and make-corpus did not write it (it is not in "
                                    f"{out / RECORD_FILE}); nothing was changed: remove it yourself or choose "
                                    f"another folder")
        for name in files:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
        _remove_orphans(out, [name for name in previous if name not in set(files)])
        _write_record(out, files, description)
        return out / result.relative_to(staging)
    except BaseException:
        if created and not _visible_entries(out):
            shutil.rmtree(out, ignore_errors=True)  # we made the folder for this corpus; nothing else is in it
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # ours alone: created above under this process's id


def _remove_stale_staging(out):
    """Staging folders of make-corpus runs that died (their pid no longer runs)."""
    for path in out.glob(f"{STAGING_PREFIX}*"):
        pid = path.name[len(STAGING_PREFIX):]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_record(out):
    path = out / RECORD_FILE
    if not path.is_file():
        return []
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        files = record.get("files", []) if isinstance(record, dict) else []
        return [name for name in files if isinstance(name, str)]
    return []


def _remove_orphans(out, names):
    """Deletes files of the previous corpus the new one does not write, and folders they leave empty."""
    for name in names:
        path = out / name
        if path.is_file():
            path.unlink()
        for parent in path.parents:
            if parent == out or out not in parent.parents:
                break
            with contextlib.suppress(OSError):
                parent.rmdir()  # only succeeds when empty: a folder holding anything else stays


def _write_record(out, files, description):
    path = out / RECORD_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    record = {"written_by": "fakespeech make-corpus", "created": time.time(), **description, "files": files}
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
