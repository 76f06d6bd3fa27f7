"""WaveFake: `generated_audio/<vocoder>/*.wav` as the spoofs, LJSpeech (`LJSpeech-1.1/wavs/*.wav`) as the real side.

Every WaveFake file re-synthesises an LJSpeech utterance (`ljspeech_melgan/LJ001-0001_gen.wav`), so the attack
id is the vocoder folder and the group of the derived split is the LJSpeech chapter (`LJ001`): a chapter's real
recordings and all their vocoded copies land in one split, and no sentence is heard in two. LJSpeech has one
speaker, so this split is text-disjoint rather than speaker-disjoint. Files not named after an LJSpeech utterance
(the JSUT folders, the TTS prompts) are each their own group.
"""

import pathlib
import re

from tfrecord_builder.corpora.common import (
    CorpusEntry,
    Listing,
    audio_files,
    child,
    group_disjoint_splits,
    numbered,
    problem,
    token,
)

NAME = "wavefake"
GENERATED = "generated_audio"
LJSPEECH = "LJSpeech-1.1"
LJ_ID = re.compile(r"(LJ\d{3})-\d{4}")


def find_root(path, track=None):
    """`(root, None)`: the folder holding `generated_audio/` and `LJSpeech-1.1/` (either may be `path` itself)."""
    path = pathlib.Path(path).expanduser().resolve()
    for root in (path, path.parent):
        generated, ljspeech = child(root, GENERATED), child(root, LJSPEECH)
        if generated is not None and generated.is_dir() and any(p.is_dir() for p in generated.iterdir()):
            if ljspeech is None or child(ljspeech, "wavs") is None:
                raise FileNotFoundError(f"WaveFake at {generated} needs its real side: no {root / LJSPEECH}/wavs "
                                        "(unpack LJSpeech-1.1 next to generated_audio)")
            return root, None
    raise FileNotFoundError(f"no WaveFake layout under {path} (looked for {'; '.join(looked_for(path))})")


def looked_for(path):
    return [f"{path}/{GENERATED}/<vocoder>/*.wav with {path}/{LJSPEECH}/wavs/*.wav"]


def _group(stem):
    match = LJ_ID.search(stem)
    return (match.group(1), "LJ") if match else (token(stem), "-")


def _real_entries(ljspeech):
    """LJSpeech utterances from `metadata.csv` (`ID|text|normalised text`), or the `wavs/` listing without it."""
    wavs, metadata = child(ljspeech, "wavs"), child(ljspeech, "metadata.csv")
    if metadata is None:
        return [_real(path.stem, path, 0, None) for path in audio_files(wavs)], []
    entries, problems = [], []
    with open(metadata, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            utt = line.split("|", 1)[0].strip()
            if not line.strip():
                continue
            if "|" not in line or not utt:
                problems.append(problem(metadata, line_no, f"expected ID|text|normalised text, got {line.strip()!r}"))
                continue
            entries.append(_real(utt, wavs / f"{utt}.wav", line_no, metadata))
    return entries, problems


def _real(utt, path, line_no, listing):
    group, speaker = _group(utt)
    return CorpusEntry(speaker, token(utt), "-", "-", "bonafide", line_no, path, group, listing)


def read(root, config):
    real, problems = _real_entries(child(root, LJSPEECH))
    fakes = []
    generated = child(root, GENERATED)
    for folder in sorted(p for p in generated.iterdir() if p.is_dir()):
        for path in audio_files(folder):
            group, speaker = _group(path.stem)
            fakes.append(CorpusEntry(speaker, token(f"{folder.name}/{path.stem}"), "-", token(folder.name), "spoof",
                                     0, path, group, None))
    # Real entries keep their metadata line; fakes are numbered after them.
    fakes = [e._replace(line_no=len(real) + e.line_no) for e in numbered(fakes)]
    splits, info = group_disjoint_splits(real + fakes, config.split_ratios, config.seed, "LJSpeech chapter")
    return Listing(track=NAME, splits={s: splits[s] for s in config.splits}, problems=problems, split_info=info)
