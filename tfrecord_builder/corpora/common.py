"""What every corpus reader returns, and the pieces several of them share.

A reader turns a corpus root into a `Listing`: the utterances of each split as `CorpusEntry`s, the malformed
listing lines it met, and (for corpora without official splits) how the split was derived. The builder does the
rest the same way for every corpus.
"""

import collections
import hashlib
import json
import pathlib
import re

from tfrecord_builder.config import DEFAULT_SPLIT_RATIOS, SPLITS
from tfrecord_builder.protocols import ProtocolProblem

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
BONAFIDE_NAMES = ("real", "bonafide", "bona-fide", "bona_fide", "bona fide", "genuine")
SPOOF_NAMES = ("fake", "spoof", "spoofed", "deepfake")
# Above this many groups the manifest records a checksum of the assignment instead of the assignment itself.
MAX_LISTED_GROUPS = 1000

# `ProtocolEntry`'s fields (the sharding code reads `utt_id`, `key`, `system_id`, `line_no`) plus where the audio
# is, the group a derived split keeps together, and the listing file that named it (None for a folder listing).
CorpusEntry = collections.namedtuple(
    "CorpusEntry",
    ["speaker_id", "utt_id", "environment", "system_id", "key", "line_no", "path", "group", "listing"],
)
Listing = collections.namedtuple("Listing", ["track", "splits", "problems", "split_info"])


class BuildError(ValueError):
    """Bad input or an output folder that cannot be used; the message names the file, line or setting."""


def label_key(text):
    """`bonafide` or `spoof` for a class name such as `REAL`, `bona-fide` or `fake`; None when unknown."""
    lowered = text.strip().lower()
    if lowered in BONAFIDE_NAMES:
        return "bonafide"
    if lowered in SPOOF_NAMES:
        return "spoof"
    return None


def token(text):
    """An id safe in whitespace-separated score files (`UTT ATTACK KEY SCORE`)."""
    return re.sub(r"\s+", "_", str(text).strip()) or "-"


def child(folder, name):
    """The entry of `folder` called `name`, ignoring case (downloads differ: `AUDIO/REAL` vs `audio/real`)."""
    folder = pathlib.Path(folder)
    exact = folder / name
    if exact.exists():
        return exact
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            if entry.name.lower() == name.lower():
                return entry
    return None


def audio_files(folder, recursive=False):
    """The audio files in `folder`, sorted by relative path so every listing is deterministic."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        (p for p in pathlib.Path(folder).glob(pattern) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES),
        key=lambda p: p.relative_to(folder).as_posix(),
    )


def problem(path, line, reason):
    return ProtocolProblem(str(path), line, reason)


def group_disjoint_splits(entries, ratios, seed, group_by):
    """Deals whole groups (speakers, chapters...) to train/dev/eval, so no group is in two splits.

    Groups are ordered by a seeded hash of their name and laid end to end, weighted by their utterance count;
    a group goes to the split its midpoint falls in. A split with a positive share left empty by a small corpus
    takes the last group of the split holding most groups. The result depends only on the groups, their sizes,
    `ratios` and `seed`.

    Returns:
        `({split: [entries]}, split_info)`: the entries per split in listing order, and the manifest record of
        the method, the shares, the group counts and the assignment (or its checksum when there are many groups).
    """
    ratios = tuple(DEFAULT_SPLIT_RATIOS if ratios is None else ratios)
    sizes = collections.Counter(entry.group for entry in entries)
    order = sorted(sizes, key=lambda g: (hashlib.sha256(f"{seed}:{g}".encode()).hexdigest(), g))
    assignment = _assign(order, sizes, ratios)
    splits = {split: [e for e in entries if assignment[e.group] == split] for split in SPLITS}
    ordered = {g: assignment[g] for g in sorted(assignment)}
    info = {
        "split_method": "group-disjoint hash",
        "group_by": group_by,
        "split_ratios": list(ratios),
        "seed": seed,
        "groups": {split: sum(s == split for s in assignment.values()) for split in SPLITS},
        "group_assignment_sha256": hashlib.sha256(json.dumps(ordered).encode()).hexdigest(),
    }
    if len(ordered) <= MAX_LISTED_GROUPS:
        info["group_assignment"] = ordered
    return splits, info


def _assign(order, sizes, ratios):
    total = sum(sizes.values())
    bounds = [sum(ratios[: i + 1]) / sum(ratios) for i in range(len(SPLITS))]
    assignment, start = {}, 0
    for group in order:
        middle = (start + sizes[group] / 2) / total
        assignment[group] = SPLITS[next((i for i, b in enumerate(bounds) if middle < b), len(SPLITS) - 1)]
        start += sizes[group]
    for split, ratio in sorted(zip(SPLITS, ratios), key=lambda pair: -SPLITS.index(pair[0])):
        members = collections.Counter(assignment.values())
        if ratio > 0 and members[split] == 0:
            donor = max(SPLITS, key=lambda s: members[s])
            if members[donor] > 1:
                assignment[[g for g in order if assignment[g] == donor][-1]] = split
    return assignment


def check_ratios_unused(corpus, ratios):
    if ratios is not None:
        raise ValueError(f"split_ratios does not apply to {corpus}: it has official splits")


def numbered(entries):
    """Gives entries listed from folders consecutive positions as `line_no` (the sharding code orders by it)."""
    return [entry._replace(line_no=i) for i, entry in enumerate(entries, start=1)]


def without_duplicates(entries, problems):
    """Keeps the first entry of each utterance id; a later one becomes a problem naming the first line."""
    seen, kept = {}, []
    for entry in entries:
        if entry.utt_id in seen:
            problems.append(problem(entry.listing, entry.line_no,
                                    f"utterance {entry.utt_id} is already listed on line {seen[entry.utt_id]}"))
        else:
            seen[entry.utt_id] = entry.line_no
            kept.append(entry)
    return kept, problems
