"""A miniature shard directory with known waveforms, written by the builder's `write_shard_set` (no corpus)."""

import dataclasses

import numpy as np
import pytest

from tfrecord_builder.shards import write_shard_set

SAMPLE_RATE = 16000
CLIP_SAMPLES = 400  # tiny clips: utterances below are shorter and longer than this


@dataclasses.dataclass(frozen=True)
class Utterance:
    id: str
    samples: np.ndarray  # int16
    target: int
    system_id: str

    @property
    def waveform(self):
        return self.samples.astype(np.float32) / 32768.0


@dataclasses.dataclass(frozen=True)
class TinyShards:
    directory: str
    utterances: dict  # split -> [Utterance] in file order


def _random_utterances(split, rng, bonafide, spoof_per_attack, lengths):
    classes = [(0, "-")] * bonafide + [(1, attack) for attack, n in spoof_per_attack.items() for _ in range(n)]
    utterances = []
    for index, (target, system_id) in enumerate(classes):
        length = int(lengths[index % len(lengths)])
        samples = rng.integers(-20000, 20000, size=length).astype(np.int16)
        utterances.append(Utterance(f"LA_{split}_{index:04d}", samples, target, system_id))
    order = rng.permutation(len(utterances))  # classes mixed across shards, as the builder stratifies them
    return [utterances[i] for i in order]


def _quiet_edges_utterance():
    """Silence, a loud tone, then faint noise: energy-based trimming has something to remove on both sides."""
    rng = np.random.default_rng(7)
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(6000) / SAMPLE_RATE)
    waveform = np.concatenate([np.zeros(5000), tone, 1e-4 * rng.standard_normal(7000)])
    return Utterance("LA_quiet_0000", np.round(waveform * 32767).astype(np.int16), 0, "-")


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    """train: 4 bona fide + 8 spoof (A01, A02) in 3 shards; dev: 3 + 3 in 2 shards; quiet: 1 utterance."""
    directory = str(tmp_path_factory.mktemp("shards"))
    rng = np.random.default_rng(0)
    lengths = [150, 400, 650, 1000, 1210, 399, 401]  # around CLIP_SAMPLES, including exact and off-by-one
    utterances = {
        "train": _random_utterances("train", rng, 4, {"A01": 4, "A02": 4}, lengths),
        "dev": _random_utterances("dev", rng, 3, {"A01": 3}, lengths[2:]),
        "quiet": [_quiet_edges_utterance()],
    }
    num_shards = {"train": 3, "dev": 2, "quiet": 1}
    fields = {split: [{"samples": u.samples, "id": u.id, "system_id": u.system_id, "target": u.target} for u in utts]
              for split, utts in utterances.items()}
    write_shard_set(directory, fields, num_shards, sample_rate=SAMPLE_RATE)
    return TinyShards(directory, utterances)
