"""FoR (Fake-or-Real): `for-norm|for-2seconds|for-rerecorded|for-original/{training,validation,testing}/{real,fake}/`.

The corpus has official splits: training -> train, validation -> dev, testing -> eval. It names no speakers and no
generating systems, so a fake's attack id is the version it comes from. One version is built at a time; the
Kaggle copy nests each version once more (`for-norm/for-norm/...`, `for-2sec/for-2seconds/...`).
"""

import pathlib

from tfrecord_builder.config import FOR_VERSIONS
from tfrecord_builder.corpora.common import (
    CorpusEntry,
    Listing,
    audio_files,
    check_ratios_unused,
    child,
    numbered,
    token,
)

NAME = "for"
SPLIT_FOLDERS = {"train": "training", "dev": "validation", "eval": "testing"}
CLASS_FOLDERS = {"bonafide": "real", "spoof": "fake"}


def _is_version_folder(folder):
    split = child(folder, SPLIT_FOLDERS["train"]) or child(folder, SPLIT_FOLDERS["eval"])
    return split is not None and any(child(split, name) for name in CLASS_FOLDERS.values())


def _versions_under(path):
    """version name -> folder, for `path` itself and folders one or two levels down."""
    found = {}
    candidates = [path] + sorted(p for p in path.iterdir() if p.is_dir())
    candidates += sorted(q for p in candidates[1:] for q in p.iterdir() if q.is_dir())
    for folder in candidates:
        if _is_version_folder(folder):
            name = folder.name.lower() if folder.name.lower() in FOR_VERSIONS else "for"
            found.setdefault(name, folder)
    return found


def find_root(path, track=None):
    """`(version_folder, version)`: the folder holding `training/real` etc.

    Raises:
        FileNotFoundError: no version folder, the asked-for one is absent, or several are present and none was
            chosen.
    """
    path = pathlib.Path(path).expanduser().resolve()
    versions = _versions_under(path) if path.is_dir() else {}
    if not versions:
        raise FileNotFoundError(f"no FoR version folder under {path} (looked for {'; '.join(looked_for(path))})")
    if track is not None:
        if track not in versions:  # a folder not named after a version is only found without --track
            raise FileNotFoundError(f"no {track} folder under {path}; found {sorted(versions)}")
        return versions[track], track
    if len(versions) > 1:
        raise FileNotFoundError(f"several FoR versions under {path}: {sorted(versions)}; choose one with --track")
    (name, folder), = versions.items()
    return folder, name if name in FOR_VERSIONS else None


def looked_for(path):
    return [f"{path}/[*/[*/]]{{{','.join(FOR_VERSIONS)}}}/{{training,validation,testing}}/{{real,fake}}/"]


def read(root, config):
    check_ratios_unused(NAME, config.split_ratios)
    track = config.track or (root.name.lower() if root.name.lower() in FOR_VERSIONS else "for")
    splits = {}
    for split in config.splits:
        entries = []
        for key, class_name in CLASS_FOLDERS.items():
            folder = child(child(root, SPLIT_FOLDERS[split]) or root / SPLIT_FOLDERS[split], class_name)
            for path in audio_files(folder) if folder else []:
                utt_id = path.relative_to(root).as_posix()
                entries.append(CorpusEntry("-", token(utt_id), "-", "-" if key == "bonafide" else track,
                                           key, 0, path, utt_id, None))
        splits[split] = numbered(entries)
    info = {"split_method": "official", "split_folders": {s: SPLIT_FOLDERS[s] for s in config.splits}}
    return Listing(track=track, splits=splits, problems=[], split_info=info)
