"""`BuildConfig`: every setting of a shard build, written into `manifest.json` beside the shards.

`tfrecord_builder` is a leaf package, so it cannot reuse `pipelines.config_base`; this keeps a small strict
`from_dict` of its own.
"""

import dataclasses
import typing
from typing import Optional

TRACKS = ("LA", "PA")
CORPORA = ("asvspoof2019", "for", "deep-voice", "wavefake", "in-the-wild", "folders")
DEFAULT_CORPUS = "asvspoof2019"
FOR_VERSIONS = ("for-norm", "for-2seconds", "for-rerecorded", "for-original")
# corpus -> the values `track` may take; the others build one track named after the corpus.
CORPUS_TRACKS = {"asvspoof2019": TRACKS, "for": FOR_VERSIONS}
DEFAULT_SPLIT_RATIOS = (0.7, 0.15, 0.15)
SPLITS = ("train", "dev", "eval")
ON_ERROR = ("fail", "skip")
DEFAULT_SHARD_SIZE = 1000  # about 110 MB of LA audio per shard: large enough to stream well on a TPU host

# Settings that change what ends up in the shards. The others (where the corpus and the output live, how many
# processes decode, whether errors stop the build) may differ between an interrupted run and its resumption.
CONTENT_KEYS = ("corpus", "track", "splits", "num_shards", "shard_size", "max_per_class", "balance", "seed",
                "sample_rate", "split_ratios")
# Left out of `to_dict` at their defaults, so an ASVspoof2019 build records exactly what it did before other
# corpora existed (and old manifests and build records still compare equal on resume).
OMITTED_AT_DEFAULT = {"corpus": DEFAULT_CORPUS, "split_ratios": None}


@dataclasses.dataclass(frozen=True)
class BuildConfig:
    """How a corpus becomes TFRecord shards (`fakespeech build`).

    Args:
        data: the corpus root (for ASVspoof2019: the folder holding `LA/`, the `LA/` folder itself, or the Kaggle
            root with `LA/LA/`; see `tfrecord_builder.corpora` for the others), or a `path,label[,group]` CSV.
        out: the output folder for shards and `manifest.json`.
        corpus: one of `CORPORA`, or `auto` to detect the layout under `data`.
        track: `LA` or `PA` for ASVspoof2019 (default `LA`), a FoR version (default: the one found), else None.
        splits: the splits to build, in order.
        num_shards: shards per split; exclusive with `shard_size`.
        shard_size: examples per shard; the default when neither is given is `DEFAULT_SHARD_SIZE`.
        max_per_class: at most this many bona fide and this many spoof utterances per split.
        balance: cut the larger class down to the size of the smaller one, per split.
        seed: seeds the subset, the shard assignment and the order within shards.
        sample_rate: every utterance is stored at this rate (resampled when the file differs).
        workers: decoding processes.
        on_error: `fail` stops at the first bad input; `skip` records it in the manifest and goes on.
        split_ratios: train/dev/eval shares of the group-disjoint split of corpora without official splits
            (default `DEFAULT_SPLIT_RATIOS`); refused for corpora that have official splits.
    """

    data: str
    out: str
    corpus: str = DEFAULT_CORPUS
    track: Optional[str] = None
    splits: tuple = SPLITS
    num_shards: Optional[int] = None
    shard_size: Optional[int] = None
    max_per_class: Optional[int] = None
    balance: bool = False
    seed: int = 0
    sample_rate: int = 16000
    workers: int = 1
    on_error: str = "fail"
    split_ratios: Optional[tuple] = None

    def __post_init__(self):
        object.__setattr__(self, "data", str(self.data))
        object.__setattr__(self, "out", str(self.out))
        object.__setattr__(self, "splits", tuple(self.splits))
        self._check_corpus_and_track()
        if self.split_ratios is not None:
            object.__setattr__(self, "split_ratios", _ratios(self.split_ratios))
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise ValueError(f"splits must be distinct names from {SPLITS}, got {list(self.splits)}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.num_shards is not None and self.shard_size is not None:
            raise ValueError("give num_shards or shard_size, not both")
        for name in ("num_shards", "shard_size", "max_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.sample_rate < 1 or self.workers < 1:
            raise ValueError(f"sample_rate and workers must be >= 1, got {self.sample_rate} and {self.workers}")

    def _check_corpus_and_track(self):
        if self.corpus not in CORPORA + ("auto",):
            raise ValueError(f"corpus must be one of {CORPORA + ('auto',)}, got {self.corpus!r}")
        if self.corpus == "asvspoof2019" and self.track is None:
            object.__setattr__(self, "track", "LA")
        allowed = CORPUS_TRACKS.get(self.corpus, ())
        if self.corpus == "auto":
            allowed = sum(CORPUS_TRACKS.values(), ())
        if self.track is not None and self.track not in allowed:
            if not allowed:
                raise ValueError(f"corpus {self.corpus} has a single track; leave track unset, got {self.track!r}")
            raise ValueError(f"track of corpus {self.corpus} must be one of {allowed}, got {self.track!r}")

    @classmethod
    def from_dict(cls, values, where=None):
        """Builds a config from JSON-like values; unknown keys and wrong types raise a `ValueError` naming them."""
        values = dict(values or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            where = f" in {where}" if where else ""
            raise ValueError(f"unknown BuildConfig key(s){where}: {unknown}; valid keys: {names}")
        hints = typing.get_type_hints(cls)
        return cls(**{name: _coerce(value, hints[name], name) for name, value in values.items()})

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["splits"] = list(self.splits)
        if self.split_ratios is not None:
            values["split_ratios"] = list(self.split_ratios)
        for key, default in OMITTED_AT_DEFAULT.items():
            if values[key] == default:
                del values[key]
        return values

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def content_dict(self):
        """The settings that decide the shards' content (see `CONTENT_KEYS`)."""
        values = self.to_dict()
        return {key: values[key] for key in CONTENT_KEYS if key in values}


def _ratios(value):
    try:
        ratios = tuple(float(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise ValueError(f"split_ratios must be three numbers (train,dev,eval), got {value!r}") from None
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f"split_ratios must be three non-negative numbers (train,dev,eval) with a positive sum, "
                         f"got {value!r}")
    return ratios


def _coerce(value, hint, key):
    if value is None:
        return None
    if typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is tuple:
            return tuple(v for v in value.split(",") if v) if isinstance(value, str) else tuple(value)
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            if not isinstance(value, (bool, int)):
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        return hint(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid value for BuildConfig.{key}: {value!r} (expected {hint.__name__})") from None
