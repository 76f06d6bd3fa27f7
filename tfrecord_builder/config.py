"""`BuildConfig`: every setting of a shard build, written into `manifest.json` beside the shards.

Coercion of values from JSON and flags, and the range checks, are `tfrecord_builder.dataclass_config`'s, shared
with the training configuration.
"""

import dataclasses
from typing import Optional, Tuple

from tfrecord_builder import variant_specs
from tfrecord_builder.dataclass_config import ConfigError, ConfigMixin

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
                "sample_rate", "split_ratios", "vocode", "vocode_splits", "codecs", "codec_splits")
# Left out of `to_dict` at their defaults, so an ASVspoof2019 build records exactly what it did before other
# corpora existed (and old manifests and build records still compare equal on resume).
OMITTED_AT_DEFAULT = {"corpus": DEFAULT_CORPUS, "split_ratios": None, "vocode": (), "vocode_splits": ("train", "dev"),
                      "codecs": (), "codec_splits": ("train",)}


@dataclasses.dataclass(frozen=True)
class BuildConfig(ConfigMixin):
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
        vocode: vocoders that resynthesise every bona fide utterance of `vocode_splits` into an extra spoof
            example (`world`, `griffinlim`, `lpc`, `phase_vocoder`, `keras:/path/g.keras`; see
            `tfrecord_builder.variant_specs`).
        vocode_splits: the splits whose bona fide is vocoded (default train and dev; never eval).
        codecs: lossy codec round trips (`mp3:32k`, `ogg:q2`, `opus:24k`) added as extra copies of every
            utterance of `codec_splits`, keeping its key.
        codec_splits: the splits that get codec copies (default train only; never eval).
    """

    data: str
    out: str
    corpus: str = DEFAULT_CORPUS
    track: Optional[str] = None
    splits: Tuple[str, ...] = SPLITS
    num_shards: Optional[int] = None
    shard_size: Optional[int] = None
    max_per_class: Optional[int] = None
    balance: bool = False
    seed: int = 0
    sample_rate: int = 16000
    workers: int = 1
    on_error: str = "fail"
    split_ratios: Optional[Tuple[float, float, float]] = None
    vocode: Tuple[str, ...] = ()
    vocode_splits: Tuple[str, ...] = ("train", "dev")
    codecs: Tuple[str, ...] = ()
    codec_splits: Tuple[str, ...] = ("train",)

    def __post_init__(self):
        object.__setattr__(self, "data", str(self.data))
        object.__setattr__(self, "out", str(self.out))
        object.__setattr__(self, "splits", tuple(self.splits))
        self._check_corpus_and_track()
        if self.split_ratios is not None:
            object.__setattr__(self, "split_ratios", _ratios(self.split_ratios))
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise ConfigError(f"splits must be distinct names from {SPLITS}, got {list(self.splits)}")
        if self.on_error not in ON_ERROR:
            raise ConfigError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.num_shards is not None and self.shard_size is not None:
            raise ConfigError("give num_shards or shard_size, not both")
        for name in ("num_shards", "shard_size", "max_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if self.sample_rate < 1 or self.workers < 1:
            raise ConfigError(f"sample_rate and workers must be >= 1, got {self.sample_rate} and {self.workers}")
        self._check_variants()

    def _check_variants(self):
        for name in ("vocode", "vocode_splits", "codecs", "codec_splits"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name, what in (("vocode_splits", "vocoded"), ("codec_splits", "given codec copies")):
            splits = getattr(self, name)
            if "eval" in splits:
                raise ConfigError(f"{name} (--{name.replace('_', '-')}): eval is never {what}; its spoofs must "
                                  f"come from systems unseen in training, and its bona fide stay as recorded")
            if any(s not in SPLITS for s in splits) or len(set(splits)) != len(splits):
                raise ConfigError(f"{name} must be distinct names from train, dev, got {list(splits)}")
        try:
            variant_specs.parse_all(self.vocode, self.codecs, self.sample_rate)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _check_corpus_and_track(self):
        if self.corpus not in CORPORA + ("auto",):
            raise ConfigError(f"corpus must be one of {CORPORA + ('auto',)}, got {self.corpus!r}")
        if self.corpus == "asvspoof2019" and self.track is None:
            object.__setattr__(self, "track", "LA")
        allowed = CORPUS_TRACKS.get(self.corpus, ())
        if self.corpus == "auto":
            allowed = sum(CORPUS_TRACKS.values(), ())
        if self.track is not None and self.track not in allowed:
            if not allowed:
                raise ConfigError(f"corpus {self.corpus} has a single track; leave track unset, got {self.track!r}")
            raise ConfigError(f"track of corpus {self.corpus} must be one of {allowed}, got {self.track!r}")

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["splits"] = list(self.splits)
        if self.split_ratios is not None:
            values["split_ratios"] = list(self.split_ratios)
        for key, default in OMITTED_AT_DEFAULT.items():
            if values[key] == default:
                del values[key]
            elif isinstance(values[key], tuple):
                values[key] = list(values[key])  # as JSON gives them back, so a resumed build compares equal
        return values

    def content_dict(self):
        """The settings that decide the shards' content (see `CONTENT_KEYS`)."""
        values = self.to_dict()
        return {key: values[key] for key in CONTENT_KEYS if key in values}


def _ratios(value):
    try:
        ratios = tuple(float(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise ConfigError(f"split_ratios must be three numbers (train,dev,eval), got {value!r}") from None
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ConfigError(f"split_ratios must be three non-negative numbers (train,dev,eval) with a positive sum, "
                         f"got {value!r}")
    return ratios
