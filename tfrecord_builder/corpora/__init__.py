"""Corpus readers: each turns one download layout into per-split `CorpusEntry` lists for the builder.

A reader is a module with `NAME`, `find_root(path, track) -> (root, track)` (raising `FileNotFoundError` naming
what it looked for) and `read(root, config) -> Listing`. `locate` picks the reader
of `config.corpus`, or with `auto` the first whose layout is found, in `READERS` order: the generic `folders`
comes last because FoR and DEEP-VOICE trees also hold real/fake folders.
"""

import pathlib

from tfrecord_builder.corpora import asvspoof2019, deep_voice, fake_or_real, folders, in_the_wild, wavefake
from tfrecord_builder.corpora.common import BuildError, CorpusEntry, Listing

READERS = {module.NAME: module for module in (asvspoof2019, fake_or_real, deep_voice, wavefake, in_the_wild, folders)}

__all__ = ["READERS", "BuildError", "CorpusEntry", "Listing", "detect", "get_reader", "locate"]


def get_reader(name):
    if name not in READERS:
        raise ValueError(f"unknown corpus {name!r}; choose from {', '.join(READERS)} or auto")
    return READERS[name]


def detect(path, track=None):
    """`(reader, root, track)` of the first layout found under `path`.

    Raises:
        FileNotFoundError: listing, per corpus, what was looked for, when no layout matches.
    """
    path = pathlib.Path(path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"corpus path {path} does not exist")
    reasons = []
    for name, reader in READERS.items():
        if track is not None and name not in ("asvspoof2019", "for"):
            continue  # only these two have tracks to choose
        try:
            root, found_track = reader.find_root(path, track)
            return reader, root, found_track
        except (FileNotFoundError, ValueError) as exc:
            reasons.append(f"  {name}: {exc}")
    raise FileNotFoundError(f"no known corpus layout under {path}; looked for:\n" + "\n".join(reasons))


def locate(config):
    """`(reader, root, config)` with `config.corpus` and `config.track` resolved to what was found."""
    if config.corpus == "auto":
        reader, root, track = detect(config.data, config.track)
    else:
        reader = get_reader(config.corpus)
        root, track = reader.find_root(config.data, config.track)
    return reader, pathlib.Path(root), config.replace(corpus=reader.NAME, track=track)
