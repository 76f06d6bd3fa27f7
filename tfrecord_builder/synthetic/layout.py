"""Writes a generated corpus in the exact ASVspoof2019 folder layout with its CM protocol files."""

import dataclasses
import os
import pathlib

import numpy as np
import soundfile as sf

from tfrecord_builder.corpus_root import asv_scores_path
from tfrecord_builder.synthetic import attacks, speech

SPLITS = ("train", "dev", "eval")
TRACKS = ("LA", "PA")
LAYOUTS = ("official", "kaggle")
DEFAULT_COUNTS = {"train": (20, 60), "dev": (20, 60), "eval": (20, 130)}
SPLIT_LETTER = {"train": "T", "dev": "D", "eval": "E"}
PROTOCOL_SUFFIX = {"train": "trn", "dev": "trl", "eval": "trl"}
# The real speaker numbering: train 0079-0098, dev 0069-0078 and 0099-0108, eval 0001-0068 (0062 unused).
SPEAKER_POOLS = {
    "train": tuple(range(79, 99)),
    "dev": tuple(range(69, 79)) + tuple(range(99, 109)),
    "eval": tuple(i for i in range(1, 69) if i != 62),
}
# PA dev/eval folders also hold ASV enrolment audio that no CM protocol lists.
PA_EXTRA_FILES = 2
_TRACK_CODE = {"LA": 1, "PA": 2}
_SPLIT_CODE = {"train": 1, "dev": 2, "eval": 3}


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One protocol line: `SPEAKER UTT ENV SYSTEM KEY`."""

    speaker: str
    utt_id: str
    environment: str
    system: str
    key: str
    seed_index: int

    def protocol_line(self):
        return f"{self.speaker} {self.utt_id} {self.environment} {self.system} {self.key}"


def corpus_root(out_dir, track, layout):
    """The folder holding `ASVspoof2019_{track}_*`: `OUT/LA` officially, `OUT/LA/LA` in the Kaggle copy."""
    root = pathlib.Path(out_dir) / track
    return root / track if layout == "kaggle" else root


def audio_dir(root, track, split):
    return root / f"ASVspoof2019_{track}_{split}" / "flac"


def protocol_path(root, track, split):
    return root / f"ASVspoof2019_{track}_cm_protocols" / f"ASVspoof2019.{track}.cm.{split}.{PROTOCOL_SUFFIX[split]}.txt"


def split_attacks(track, split):
    if track == "PA":
        return attacks.PA_ATTACKS
    return attacks.LA_EVAL_ATTACKS if split == "eval" else attacks.LA_TRAIN_ATTACKS


def _rng(seed, track, split, index):
    return np.random.default_rng([seed, _TRACK_CODE[track], _SPLIT_CODE[split], index])


def _speaker_numbers(rng, split, n_utterances):
    pool = SPEAKER_POOLS[split]
    n_speakers = int(np.clip(np.ceil(n_utterances / 12), 2, len(pool)))
    return np.sort(rng.choice(pool, size=n_speakers, replace=False))


def plan_split(track, split, n_bonafide, n_spoof, seed):
    """The protocol of one split, in file order: shuffled, attacks round-robin, speakers balanced."""
    rng = _rng(seed, track, split, 0)
    total = n_bonafide + n_spoof
    speakers = _speaker_numbers(rng, split, total)
    split_systems = split_attacks(track, split)
    systems = ["-"] * n_bonafide + [split_systems[i % len(split_systems)] for i in range(n_spoof)]
    keys = ["bonafide"] * n_bonafide + ["spoof"] * n_spoof
    speaker_of = rng.permutation(np.resize(speakers, total))
    if track == "PA":
        envs = rng.permutation(np.resize(attacks.PA_ENVIRONMENTS, total))
    else:
        envs = ["-"] * total
    order = rng.permutation(total)
    if track == "LA":
        numbers = rng.choice(9_000_000, size=total, replace=False) + 1_000_000
    else:
        # PA numbers utterances consecutively.
        numbers = np.arange(1, total + 1)
    letter = SPLIT_LETTER[split]
    return [
        Utterance(
            speaker=f"{track}_{speaker_of[i]:04d}",
            utt_id=f"{track}_{letter}_{numbers[position]:07d}",
            environment=str(envs[i]),
            system=systems[i],
            key=keys[i],
            seed_index=i + 1,
        )
        for position, i in enumerate(order)
    ]


def _voice(seed, track, speaker):
    number = int(speaker.split("_")[1])
    return speech.make_voice(np.random.default_rng([seed, _TRACK_CODE[track], 0, number]))


def render(utterance, track, split, seed, sample_rate, min_seconds, max_seconds):
    """The int16 samples of one utterance; depends only on the arguments."""
    rng = _rng(seed, track, split, utterance.seed_index)
    n_samples = max(1, int(round(rng.uniform(min_seconds, max_seconds) * sample_rate)))
    voice = _voice(seed, track, utterance.speaker)
    if track == "LA" and utterance.system != "-":
        x = speech.synthesize(rng, attacks.synthetic_voice(voice), n_samples, sample_rate)
        x = attacks.apply_la_attack(utterance.system, x, rng, sample_rate)
        return _to_int16(attacks.vocoder_band_edge(x, rng, sample_rate), rng)
    x = speech.synthesize(rng, voice, n_samples, sample_rate)
    if track == "PA" and utterance.system != "-":
        x = attacks.apply_pa_attack(utterance.system, utterance.environment, x, rng, sample_rate)
    elif track == "PA" and utterance.environment != "-":
        x = attacks.apply_environment(utterance.environment, x, rng, sample_rate)
    return _to_int16(x, rng)


def _to_int16(x, rng):
    # Every class leaves at the same spread of levels, so loudness says nothing about the label.
    x = x * (rng.uniform(0.25, 0.9) / max(np.max(np.abs(x)), 1e-9))
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def write_flac(path, samples, sample_rate):
    tmp = path.with_name(f".{path.stem}.tmp.flac")
    sf.write(tmp, samples, sample_rate, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


def write_text(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _validate(track, layout, counts, min_seconds, max_seconds, sample_rate):
    if track not in TRACKS:
        raise ValueError(f"track must be one of {TRACKS}, got {track!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    for split, pair in counts.items():
        if split not in SPLITS:
            raise ValueError(f"counts: unknown split {split!r}; expected some of {SPLITS}")
        if len(pair) != 2 or any(int(n) != n or n < 0 for n in pair):
            raise ValueError(f"counts[{split!r}] must be (n_bonafide, n_spoof) non-negative integers, got {pair!r}")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds} and {max_seconds}")
    if int(sample_rate) != sample_rate or sample_rate < 4000:
        raise ValueError(f"sample_rate must be an integer >= 4000, got {sample_rate!r}")


def generate_asvspoof2019(out_dir, track="LA", layout="official", counts=None, min_seconds=1.0, max_seconds=3.0,
                          sample_rate=16000, seed=0):
    """Writes a synthetic ASVspoof2019 corpus: FLAC files and CM protocols in the official or Kaggle layout.

    Args:
        out_dir: destination; the corpus goes under `out_dir/LA/` (official) or `out_dir/LA/LA/` (kaggle).
        track: "LA" (synthesis/conversion attacks A01-A19) or "PA" (replay attacks AA-CC in environments aaa-ccc).
        layout: "official" or "kaggle".
        counts: split -> (n_bonafide, n_spoof); splits left out are not generated. None: `DEFAULT_COUNTS`.
        min_seconds, max_seconds: range of utterance durations (uniform).
        sample_rate: samples per second of the FLAC files (16000 in the real corpus).
        seed: the same seed writes the same bytes.

    Returns:
        `out_dir` as a `pathlib.Path`.

    Example:
        >>> root = generate_asvspoof2019("/tmp/corpus", counts={"train": (4, 12)})  # doctest: +SKIP
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    _validate(track, layout, counts, min_seconds, max_seconds, sample_rate)
    root = corpus_root(out_dir, track, layout)
    for split in (s for s in SPLITS if s in counts):
        n_bonafide, n_spoof = (int(n) for n in counts[split])
        utterances = plan_split(track, split, n_bonafide, n_spoof, seed)
        folder = audio_dir(root, track, split)
        folder.mkdir(parents=True, exist_ok=True)
        for utterance in utterances:
            samples = render(utterance, track, split, seed, int(sample_rate), min_seconds, max_seconds)
            write_flac(folder / f"{utterance.utt_id}.flac", samples, int(sample_rate))
        if track == "PA" and split != "train":
            _write_enrolment_files(folder, utterances, track, split, seed, int(sample_rate), min_seconds, max_seconds)
        path = protocol_path(root, track, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, "".join(u.protocol_line() + "\n" for u in utterances))
        if split != "train":
            write_asv_scores(root, track, split, utterances, seed)
    return pathlib.Path(out_dir)


# A simulated ASV system's score distributions (target, non-target, spoof): spoofs fool it part of the way, as
# the attacks of the real corpus do the ASVspoof2019 baseline ASV. They exist so that min t-DCF can be computed
# on generated corpora; they describe no real ASV system.
SIMULATED_ASV = {"target": (4.0, 1.5), "nontarget": (-4.0, 1.5), "spoof": (1.0, 2.0)}


def write_asv_scores(root, track, split, utterances, seed):
    """Writes `CM_KEY ASV_KEY SCORE` lines (the official ASV score file format) from `SIMULATED_ASV`."""
    rng = np.random.default_rng([seed, SPLITS.index(split), 0xA5])
    lines = []
    for utterance in utterances:
        kinds = ("target", "nontarget") if utterance.key == "bonafide" else ("spoof",)
        for kind in kinds:
            mean, std = SIMULATED_ASV[kind]
            lines.append(f"{utterance.key} {kind} {rng.normal(mean, std):.6f}\n")
    path = asv_scores_path(root, track, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "".join(lines))


def _write_enrolment_files(folder, utterances, track, split, seed, sample_rate, min_seconds, max_seconds):
    last = len(utterances)
    for k in range(PA_EXTRA_FILES):
        extra = Utterance(utterances[0].speaker if utterances else f"{track}_0001",
                          f"{track}_{SPLIT_LETTER[split]}_{last + k + 1:07d}", "-", "-", "bonafide",
                          seed_index=1_000_000 + k)
        samples = render(extra, track, split, seed, sample_rate, min_seconds, max_seconds)
        write_flac(folder / f"{extra.utt_id}.flac", samples, sample_rate)
