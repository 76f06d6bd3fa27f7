"""Score files, CM protocols and ASV score files in the ASVspoof text formats.

- Score file (what `fakespeech evaluate` writes): `UTT ATTACK KEY SCORE`, attack "-" for bona fide, higher score =
  more bona fide. A bare `UTT SCORE` file from another system is read too; its attacks and keys then come from a
  CM protocol.
- CM protocol: ASVspoof 2019 LA `SPEAKER UTT - SYSTEM KEY`, PA `SPEAKER UTT ENV ATTACK KEY`, and the ASVspoof 2021
  `trial_metadata.txt` (more columns). The utterance is column 2, the key is the first later column that reads
  "bonafide" or "spoof", and the attack is the column just before it.
- ASV score file (organisers' ASV scores): `CM_KEY ASV_KEY SCORE`, ASV_KEY one of target / nontarget / spoof.

Every parse error names the file and the line.
"""

import numpy as np
import pandas as pd

from tfrecord_builder import atomic

COLUMNS = ["utt_id", "system_id", "key", "score"]
KEYS = ("bonafide", "spoof")
ASV_KEYS = ("target", "nontarget", "spoof")


def _lines(path):
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a text file (byte {error.start} is not UTF-8); expected whitespace-separated "
                         "columns") from None
    if "\x00" in text:
        raise ValueError(f"{path}: a binary file (it holds NUL bytes); expected whitespace-separated columns")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            yield number, fields


def parse_finite_number(text, where):
    """`float(text)`; a ValueError "<where> '<text>' is not a number" (or "is not finite") otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"{where} {text!r} is not finite")
    return value


def _parse_score(path, number, text):
    return parse_finite_number(text, f"{path}:{number}: score")


def _check_unique(frame, path):
    duplicated = frame["utt_id"][frame["utt_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: utterance {duplicated.iloc[0]!r} appears more than once")


def read_score_file(path):
    """Read `UTT ATTACK KEY SCORE` (or `UTT SCORE`) lines into a DataFrame with `COLUMNS`.

    For a `UTT SCORE` file, `system_id` and `key` are None until `attach_protocol` fills them.
    """
    rows, width = [], None
    for number, fields in _lines(path):
        if len(fields) not in (2, 4):
            raise ValueError(
                f"{path}:{number}: expected 'UTT ATTACK KEY SCORE' or 'UTT SCORE', got {len(fields)} fields"
            )
        if width is not None and len(fields) != width:
            raise ValueError(f"{path}:{number}: {len(fields)} fields where earlier lines have {width}")
        width = len(fields)
        if width == 4:
            utt, attack, key, score = fields
            if key not in KEYS:
                raise ValueError(f"{path}:{number}: key {key!r} is neither 'bonafide' nor 'spoof'")
            rows.append((utt, "-" if key == "bonafide" else attack, key, _parse_score(path, number, score)))
        else:
            rows.append((fields[0], None, None, _parse_score(path, number, fields[1])))
    if not rows:
        raise ValueError(f"{path}: no scores")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    _check_unique(frame, path)
    return frame


def write_score_file(path, scores):
    """Write a DataFrame with `COLUMNS` as `UTT ATTACK KEY SCORE` lines, atomically (full float precision)."""
    missing = [column for column in COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"scores lack columns {missing} (need {COLUMNS})")
    lines = [
        f"{utt} {'-' if key == 'bonafide' else attack} {key} {float(score)!r}"
        for utt, attack, key, score in scores[COLUMNS].itertuples(index=False)
    ]
    atomic.write_text(path, "\n".join(lines) + "\n")


def check_score_table(scores):
    """A score table has `COLUMNS` and every key is "bonafide" or "spoof"."""
    missing = [column for column in COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"scores table lacks columns {missing}; needs {COLUMNS}")
    unknown = sorted({str(key) for key in scores["key"].unique()} - set(KEYS))
    if unknown:
        raise ValueError(
            f"scores table has keys {unknown}; every row needs 'bonafide' or 'spoof' (a 'UTT SCORE' file needs "
            "a protocol for its keys)"
        )


def split_by_key(scores):
    """(bona fide scores, spoof scores) of a score table, as float64 arrays."""
    bona = scores.loc[scores["key"] == "bonafide", "score"].to_numpy(dtype=np.float64)
    spoof = scores.loc[scores["key"] == "spoof", "score"].to_numpy(dtype=np.float64)
    return bona, spoof


def read_cm_protocol(path):
    """Read a CM protocol (2019 LA/PA or 2021 metadata) into a DataFrame `utt_id, system_id, key`."""
    rows = []
    for number, fields in _lines(path):
        key_column = next((i for i in range(2, len(fields)) if fields[i] in KEYS), None)
        if len(fields) < 4 or key_column is None:
            raise ValueError(
                f"{path}:{number}: expected a CM protocol line 'SPEAKER UTT ... ATTACK KEY' with KEY bonafide/spoof"
            )
        key = fields[key_column]
        rows.append((fields[1], "-" if key == "bonafide" else fields[key_column - 1], key))
    if not rows:
        raise ValueError(f"{path}: empty protocol")
    frame = pd.DataFrame(rows, columns=COLUMNS[:3])
    _check_unique(frame, path)
    return frame


def attach_protocol(scores, protocol, scores_path="scores", protocol_path="protocol"):
    """Take attacks and keys from the protocol for every scored utterance (a scored utterance must be listed)."""
    merged = scores[["utt_id", "score"]].merge(protocol, on="utt_id", how="left")
    unlisted = merged["key"].isna()
    if unlisted.any():
        raise ValueError(
            f"{scores_path}: {int(unlisted.sum())} utterances are not in {protocol_path}, "
            f"e.g. {merged['utt_id'][unlisted].iloc[0]!r}"
        )
    return merged[COLUMNS]


def load_scores(scores_path, protocol_path=None, flag="--protocol"):
    """A score file as a table with attacks and keys; keys from the protocol when the file lacks them."""
    scores = read_score_file(scores_path)
    if protocol_path:
        return attach_protocol(scores, read_cm_protocol(protocol_path), scores_path, protocol_path)
    if scores["key"].isna().any():
        raise ValueError(f"{scores_path}: has only 'UTT SCORE' columns; pass {flag} for its attacks and keys")
    return scores


def read_asv_scores(path):
    """Read an ASV score file `CM_KEY ASV_KEY SCORE` into {"target": array, "nontarget": array, "spoof": array}."""
    groups = {key: [] for key in ASV_KEYS}
    for number, fields in _lines(path):
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected 'CM_KEY ASV_KEY SCORE', got {len(fields)} fields")
        if fields[1] not in groups:
            raise ValueError(f"{path}:{number}: ASV key {fields[1]!r} is not one of {', '.join(ASV_KEYS)}")
        groups[fields[1]].append(_parse_score(path, number, fields[2]))
    empty = [key for key, values in groups.items() if not values]
    if empty:
        raise ValueError(f"{path}: no ASV scores for {', '.join(empty)} trials (all three kinds are needed)")
    return {key: np.asarray(values) for key, values in groups.items()}
