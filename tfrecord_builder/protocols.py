"""ASVspoof2019 countermeasure (CM) protocol files: one line per utterance, the source of truth for a build.

LA lines read `SPEAKER UTT - SYSTEM KEY`, PA lines `SPEAKER UTT ENVIRONMENT ATTACK KEY`. Builds follow the
protocols rather than folder listings because PA dev/eval folders also hold ASV enrolment audio.
"""

import collections
import pathlib

PROTOCOL_SUFFIX = {"train": "trn", "dev": "trl", "eval": "trl"}
KEYS = ("bonafide", "spoof")

ProtocolEntry = collections.namedtuple(
    "ProtocolEntry", ["speaker_id", "utt_id", "environment", "system_id", "key", "line_no"]
)
ProtocolProblem = collections.namedtuple("ProtocolProblem", ["file", "line", "reason"])


def protocol_dir(track_dir, track):
    """The folder of CM protocol files inside a track folder (`.../LA`)."""
    return pathlib.Path(track_dir) / f"ASVspoof2019_{track}_cm_protocols"


def protocol_file(track_dir, track, split):
    """The CM protocol file of one split, e.g. `ASVspoof2019.LA.cm.train.trn.txt`."""
    return protocol_dir(track_dir, track) / f"ASVspoof2019.{track}.cm.{split}.{PROTOCOL_SUFFIX[split]}.txt"


def parse_protocol(path, track):
    """Parses a protocol file leniently.

    Returns:
        `(entries, problems)`: the well-formed lines as `ProtocolEntry` and the others as `ProtocolProblem`,
        each with its 1-based line number. Blank lines are ignored.
    """
    path = pathlib.Path(path)
    entries, problems, seen = [], [], {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            entry, reason = _parse_line(line, line_no, track)
            if entry is not None and entry.utt_id in seen:
                entry, reason = None, f"utterance {entry.utt_id} is already listed on line {seen[entry.utt_id]}"
            if entry is None:
                problems.append(ProtocolProblem(str(path), line_no, reason))
            else:
                seen[entry.utt_id] = line_no
                entries.append(entry)
    return entries, problems


def read_protocol(path, track):
    """Parses a protocol file strictly: a malformed line raises a `ValueError` naming the file and line."""
    entries, problems = parse_protocol(path, track)
    if problems:
        first = problems[0]
        raise ValueError(f"{first.file}:{first.line}: {first.reason}")
    return entries


def _parse_line(line, line_no, track):
    fields = line.split()
    if len(fields) != 5:
        return None, f"expected 5 fields (SPEAKER UTT ENV SYSTEM KEY), got {len(fields)}: {line.strip()!r}"
    speaker_id, utt_id, environment, system_id, key = fields
    if key not in KEYS:
        return None, f"key must be one of {KEYS}, got {key!r}"
    if key == "spoof" and system_id == "-":
        return None, "a spoof line needs an attack id, got '-'"
    if not utt_id.startswith(f"{track}_"):
        return None, f"utterance id {utt_id!r} does not belong to track {track}"
    if track == "LA":
        # LA protocols leave the environment column empty ('-'); keep it that way in the examples.
        environment = "-"
    return ProtocolEntry(speaker_id, utt_id, environment, system_id, key, line_no), None


def count_entries(entries):
    """Counts per label and per attack: `({"bonafide": n, "spoof": n}, {"-": n, "A01": n, ...})`."""
    counts = {key: 0 for key in KEYS}
    attacks = collections.Counter()
    for entry in entries:
        counts[entry.key] += 1
        attacks[entry.system_id] += 1
    return counts, dict(sorted(attacks.items()))
