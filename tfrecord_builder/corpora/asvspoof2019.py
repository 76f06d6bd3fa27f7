"""ASVspoof2019 LA/PA: the CM protocol files list each split (see `tfrecord_builder.protocols`)."""

from tfrecord_builder.config import TRACKS
from tfrecord_builder.corpora.common import BuildError, CorpusEntry, Listing
from tfrecord_builder.corpus_root import audio_path, find_corpus_root, track_dir
from tfrecord_builder.protocols import parse_protocol, protocol_file

NAME = "asvspoof2019"


def find_root(path, track=None):
    """`(root, track)`: the folder holding `LA/` (or `PA/`); the track found first when `track` is None."""
    errors = []
    for candidate in [track] if track else TRACKS:
        try:
            return find_corpus_root(path, candidate), candidate
        except FileNotFoundError as exc:
            errors.append(str(exc))
    raise FileNotFoundError("; ".join(errors))


def read(root, config):
    """The protocol entries of `config.splits`; a missing or empty protocol file raises `BuildError` naming it."""
    splits, problems = {}, []
    for split in config.splits:
        path = protocol_file(track_dir(root, config.track), config.track, split)
        if not path.is_file():
            raise BuildError(f"no {config.track} {split} protocol under {root}: {path} does not exist")
        entries, split_problems = parse_protocol(path, config.track)
        if not entries and not split_problems:
            raise BuildError(f"{path}: the {split} protocol file is empty (no utterance lines); restore it, or "
                             f"leave {split} out of --splits")
        problems += split_problems
        splits[split] = [
            CorpusEntry(*entry, path=audio_path(root, config.track, split, entry.utt_id), group=entry.speaker_id,
                        listing=path)
            for entry in entries
        ]
    return Listing(track=config.track, splits=splits, problems=problems, split_info=None)
