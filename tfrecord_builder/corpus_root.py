"""Finding the ASVspoof2019 corpus root in the layouts people download.

The corpus root is the folder that holds the track folder (`ROOT/LA/ASVspoof2019_LA_cm_protocols/...`). Users
may point at it, at the track folder itself, or at the Kaggle dataset root, which nests the track twice
(`KAGGLE/LA/LA/...`).
"""

import pathlib

from tfrecord_builder.protocols import protocol_dir

AUDIO_EXTENSIONS = (".flac", ".wav")


def find_corpus_root(path, track):
    """Returns the folder holding `track/ASVspoof2019_{track}_cm_protocols`, searched from `path`.

    Raises:
        FileNotFoundError: naming `path` and every place searched, when no protocol folder is found.
    """
    path = pathlib.Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"corpus path {path} is not a folder")
    candidates = [path, path.parent, path / track]  # official root, the track folder itself, Kaggle root
    for root in candidates:
        if protocol_dir(root / track, track).is_dir():
            return root
    searched = ", ".join(str(protocol_dir(root / track, track)) for root in candidates)
    raise FileNotFoundError(f"no {track} CM protocol folder found under {path} (looked for {searched})")


def track_dir(root, track):
    return pathlib.Path(root) / track


def asv_scores_path(track_folder, track, split):
    """The organisers' ASV score file of a split (`LA/ASVspoof2019_LA_asv_scores/...gi.trl.scores.txt`)."""
    return (pathlib.Path(track_folder) / f"ASVspoof2019_{track}_asv_scores"
            / f"ASVspoof2019.{track}.asv.{split}.gi.trl.scores.txt")


def audio_path(root, track, split, utt_id):
    """The audio file of an utterance: the FLAC of the official layout, or a WAV where a copy was converted."""
    folder = track_dir(root, track) / f"ASVspoof2019_{track}_{split}" / "flac"
    for extension in AUDIO_EXTENSIONS:
        candidate = folder / f"{utt_id}{extension}"
        if candidate.exists():
            return candidate
    return folder / f"{utt_id}{AUDIO_EXTENSIONS[0]}"
