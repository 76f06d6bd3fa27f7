"""DEEP-VOICE (Kaggle): `KAGGLE/AUDIO/REAL/<speaker>-original.wav` and `KAGGLE/AUDIO/FAKE/<source>-to-<target>.wav`.

Each fake is a retrieval-based voice conversion of the source speaker's speech into the target's voice. The voice
heard is the target's, so the target is the fake's speaker, its attack id (the speaker faked) and its group: the
derived split keeps a speaker's real recording and every conversion into that speaker's voice together, and no
voice in dev or eval was faked in train. (The converted *content* of a speaker may still appear in another split:
no split of all pairs avoids that.) `KAGGLE/DATASET-balanced.csv` is the feature table read by
`fakespeech train --features-csv`, not by the builder.
"""

import pathlib

from tfrecord_builder.corpora.common import (
    CorpusEntry,
    Listing,
    audio_files,
    child,
    group_disjoint_splits,
    numbered,
    token,
)

NAME = "deep-voice"
CONVERSION = "-to-"


def _audio_root(folder):
    audio = child(folder, "AUDIO")
    if audio is not None and child(audio, "REAL") and child(audio, "FAKE"):
        return audio
    return None


def find_root(path, track=None):
    """`(kaggle_folder, None)`: the folder holding `AUDIO/REAL/` and `AUDIO/FAKE/`, searched from `path`."""
    path = pathlib.Path(path).expanduser().resolve()
    for kaggle in (path, child(path, "KAGGLE"), path.parent):
        if kaggle is not None and kaggle.is_dir() and _audio_root(kaggle) is not None:
            return kaggle, None
    raise FileNotFoundError(f"no DEEP-VOICE layout under {path} (looked for {'; '.join(looked_for(path))})")


def looked_for(path):
    return [f"{path}/AUDIO/{{REAL,FAKE}}/*.wav", f"{path}/KAGGLE/AUDIO/{{REAL,FAKE}}/*.wav"]


def _speakers(stem):
    """`(source, target)` of `biden-to-linus`; a real `linus-original` is `(linus, linus)`."""
    if CONVERSION in stem:
        source, target = stem.split(CONVERSION, 1)
        return token(source), token(target)
    name = token(stem.split("-")[0])
    return name, name


def read(root, config):
    entries = []
    for key, folder in (("bonafide", "REAL"), ("spoof", "FAKE")):
        for path in audio_files(child(_audio_root(root), folder)):
            _, target = _speakers(path.stem)
            utt_id = token(f"{folder.lower()}/{path.stem}")
            system = "-" if key == "bonafide" else target
            entries.append(CorpusEntry(target, utt_id, "-", system, key, 0, path, target, None))
    splits, info = group_disjoint_splits(numbered(entries), config.split_ratios, config.seed, "target speaker")
    return Listing(track=NAME, splits={s: splits[s] for s in config.splits}, problems=[], split_info=info)
