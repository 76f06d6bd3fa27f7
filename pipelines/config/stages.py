"""One frozen dataclass per stage of a run, and `RunConfig` that holds them all (written as `config.json`).

Each dataclass owns its choices and checks its own values when it is constructed (from defaults, a preset, a file,
flags or `--set`), so a configuration that cannot run is refused with the key named before any file is written.
This module imports neither TensorFlow nor Keras: every stage reads its choices from here.
"""

import dataclasses
from typing import Optional, Tuple

from tfrecord_builder.dataclass_config import ConfigError, ConfigMixin, check_choice, check_range

PAD_MODES = ("repeat", "zero")
NORMALIZE_MODES = ("peak", "std")
BALANCE_MODES = ("weights", "sample", "none")
EVAL_WINDOW_MODES = ("first", "all")
FEATURE_KINDS = ("logmel", "mfcc", "lfcc", "spectrogram", "waveform", "chroma", "deep_voice")
# What each feature kind hands the model: raw samples, a (time, bins) map, or one vector per clip.
FEATURE_OUTPUT_KINDS = {"logmel": "features", "mfcc": "features", "lfcc": "features", "spectrogram": "features",
                        "waveform": "waveform", "chroma": "features", "deep_voice": "vector"}
WINDOWS = ("hann", "hamming")
NORMALIZATIONS = ("global", "none")
MASK_FILLS = ("zero", "mean")
RAWBOOST_ALGORITHMS = ("lnl", "isd", "ssi")  # augment.RawBoost's algorithms, joined with "+"
COMPANDING_LAWS = ("mu", "a", "random")  # augment.Companding's laws
OPTIMIZERS = ("adam", "adamw")
LOSSES = ("bce", "ocsoftmax", "amsoftmax")  # models.losses.LOSSES; the margin losses need their head
WEIGHT_AVERAGING = ("none", "swa", "ema")  # pipelines.train.averaging
SCHEDULES = ("cosine", "constant", "step")
# The Keras backend a run computes on; "auto" is the one Keras was imported with (KERAS_BACKEND).
BACKENDS = ("auto", "tensorflow", "jax")
# Where and how a run spreads over devices, on either backend (see pipelines.train.runtime).
STRATEGIES = ("auto", "tpu", "multiworker", "mirrored", "gpu", "cpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def _check_positive(config, *names):
    for name in names:
        check_range(config, name, low=0, low_inclusive=False)


def _check_probabilities(config, *names):
    for name in names:
        check_range(config, name, low=0.0, high=1.0)


def _check_interval(config, name):
    low, high = getattr(config, name)
    if low > high:
        raise ConfigError(f"{config.key(name)}: {list(getattr(config, name))} is not an interval (low > high)")


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigMixin):
    """How shards become batches (see `pipelines.data.datasets.make_dataset`)."""

    SECTION = "data"

    shards: Optional[str] = None  # the shards directory a run trained on (local or gs://)
    train_split: str = "train"
    dev_split: str = "dev"
    sample_rate: int = 16000
    clip_samples: int = 64600  # about 4 s, as AASIST uses
    batch_size: int = 32
    shuffle_buffer: int = 2048
    pad_mode: str = "repeat"  # "repeat" | "zero"
    trim_silence: bool = False
    trim_top_db: float = 40.0
    normalize: bool = False
    normalize_mode: str = "peak"  # "peak" (zero mean, unit peak) | "std" (zero mean, unit std)
    balance: str = "weights"  # "weights" | "sample" | "none"
    eval_windows: str = "first"  # "first" | "all" (every window, averaged per utterance)
    window_hop: Optional[int] = None  # hop between evaluation windows; defaults to clip_samples
    drop_remainder: bool = True
    seed: int = 0

    def __post_init__(self):
        check_choice(self, "pad_mode", PAD_MODES)
        check_choice(self, "normalize_mode", NORMALIZE_MODES)
        check_choice(self, "balance", BALANCE_MODES)
        check_choice(self, "eval_windows", EVAL_WINDOW_MODES)
        _check_positive(self, "sample_rate", "clip_samples", "batch_size", "shuffle_buffer", "window_hop",
                        "trim_top_db")
        check_range(self, "seed", low=0)
        if not self.train_split or not self.dev_split:
            raise ConfigError("data.train_split and data.dev_split must be split names")


@dataclasses.dataclass(frozen=True)
class FeatureConfig(ConfigMixin):
    """The in-graph feature front end (see `pipelines.features.build_feature_layer`). Output (batch, time, bins)."""

    SECTION = "features"

    kind: str = "logmel"  # one of FEATURE_KINDS
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    window: str = "hann"  # "hann" | "hamming"
    center: bool = True
    n_mels: int = 80
    n_filters: int = 20  # LFCC linear filters
    fmin: float = 0.0
    fmax: Optional[float] = None
    power: float = 2.0
    log_floor: float = 1e-6
    top_db: Optional[float] = None
    n_coefficients: int = 20
    deltas: bool = False
    # "global": per-bin mean and variance measured on training batches before training, applied inside the model
    # (a Normalization layer saved with it); "none": raw features (raw waveforms are never normalised here).
    normalization: str = "global"
    normalization_batches: int = 16

    def __post_init__(self):
        check_choice(self, "kind", FEATURE_KINDS)
        check_choice(self, "window", WINDOWS)
        check_choice(self, "normalization", NORMALIZATIONS)
        _check_positive(self, "sample_rate", "n_fft", "hop_length", "n_mels", "n_filters", "power", "log_floor",
                        "top_db", "n_coefficients", "normalization_batches")
        check_range(self, "win_length", low=1, high=self.n_fft)
        check_range(self, "fmin", low=0.0, high=self.sample_rate / 2, high_inclusive=False)
        check_range(self, "fmax", low=self.fmin, high=self.sample_rate / 2, low_inclusive=False)
        filters = {"mfcc": ("n_mels", self.n_mels), "lfcc": ("n_filters", self.n_filters)}.get(self.kind)
        if filters and self.n_coefficients > filters[1]:
            raise ConfigError(f"features.n_coefficients: {self.n_coefficients} exceeds "
                              f"features.{filters[0]}={filters[1]} (the filters the DCT is taken over)")


@dataclasses.dataclass(frozen=True)
class AugmentConfig(ConfigMixin):
    """Training-time augmentation; every probability 0 disables its layer."""

    SECTION = "augment"

    gain_probability: float = 0.0
    gain_db: Tuple[float, float] = (-6.0, 6.0)
    noise_probability: float = 0.0
    snr_db: Tuple[float, float] = (10.0, 40.0)
    shift_probability: float = 0.0
    max_shift: int = 1600
    bandlimit_probability: float = 0.0
    bandlimit_low_hz: Tuple[float, float] = (0.0, 300.0)  # range of the high-pass cut-off
    bandlimit_high_hz: Tuple[float, float] = (3400.0, 7000.0)  # range of the low-pass cut-off
    # Channel and codec degradations (augment.channel), applied to both classes alike.
    companding_probability: float = 0.0  # mu-law / A-law round trip (G.711)
    companding_law: str = "random"  # one of COMPANDING_LAWS
    companding_bits: int = 8
    telephone_probability: float = 0.0  # 300-3400 Hz band and an 8 kHz round trip
    quantize_probability: float = 0.0
    quantize_bits: Tuple[int, int] = (8, 16)
    eq_probability: float = 0.0  # random peaking / shelving equaliser
    eq_gain_db: Tuple[float, float] = (-6.0, 6.0)
    # The acoustic environment from a user's folders (augment.room): impulse responses, noise recordings (MUSAN).
    reverb_probability: float = 0.0
    rir_folder: Optional[str] = None
    background_noise_probability: float = 0.0
    noise_folder: Optional[str] = None
    background_snr_db: Tuple[float, float] = (0.0, 20.0)
    rawboost_probability: float = 0.0
    rawboost_algo: str = "lnl+isd+ssi"
    specaugment_probability: float = 0.0
    time_masks: int = 2
    time_mask_width: int = 20
    freq_masks: int = 2
    freq_mask_width: int = 8
    mask_fill: str = "zero"  # "zero" | "mean"
    mixup_probability: float = 0.0
    mixup_alpha: float = 0.4
    cutmix_probability: float = 0.0
    cutmix_alpha: float = 1.0
    seed: int = 0

    def __post_init__(self):
        _check_probabilities(self, *[f.name for f in dataclasses.fields(self) if f.name.endswith("_probability")])
        for name in ("gain_db", "snr_db", "bandlimit_low_hz", "bandlimit_high_hz", "quantize_bits", "eq_gain_db",
                     "background_snr_db"):
            _check_interval(self, name)
        if not (0.0 <= self.bandlimit_low_hz[0] and self.bandlimit_low_hz[1] < self.bandlimit_high_hz[0]):
            raise ConfigError(f"augment.bandlimit_low_hz: {list(self.bandlimit_low_hz)} must lie in [0, "
                              f"augment.bandlimit_high_hz[0]={self.bandlimit_high_hz[0]})")
        check_choice(self, "companding_law", COMPANDING_LAWS)
        check_range(self, "companding_bits", low=2, high=16)
        if not 2 <= self.quantize_bits[0] <= self.quantize_bits[1] <= 24:
            raise ConfigError(f"augment.quantize_bits: {list(self.quantize_bits)} must be bit depths in [2, 24]")
        for probability, folder in (("reverb_probability", "rir_folder"),
                                    ("background_noise_probability", "noise_folder")):
            if getattr(self, probability) > 0 and not getattr(self, folder):
                raise ConfigError(f"augment.{probability}={getattr(self, probability)} needs augment.{folder}: a "
                                  "folder of audio files")
        _check_positive(self, "mixup_alpha", "cutmix_alpha")
        for name in ("max_shift", "time_masks", "time_mask_width", "freq_masks", "freq_mask_width", "seed"):
            check_range(self, name, low=0)
        check_choice(self, "mask_fill", MASK_FILLS)
        parts = self.rawboost_algo.split("+")
        if not parts or any(part not in RAWBOOST_ALGORITHMS for part in parts):
            raise ConfigError(f"augment.rawboost_algo: {self.rawboost_algo!r} is not a '+'-joined choice of "
                              f"{', '.join(RAWBOOST_ALGORITHMS)}")


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigMixin):
    """A registered model and its keyword arguments (`models.build(name, input_shape, **params)`)."""

    SECTION = "model"

    name: str = "lcnn"
    params: dict = dataclasses.field(default_factory=dict)
    pretrained_weights: Optional[str] = None
    # Backbone layers kept fixed while training: exact layer names or fnmatch patterns ("encoder_block_[01]");
    # frozen batch normalisation also keeps its statistics. For fine-tuning pretrained weights.
    freeze: Tuple[str, ...] = ()

    def __post_init__(self):
        if not self.name:
            raise ConfigError("model.name: a registered model name is required (see 'fakespeech models')")
        if any(not pattern for pattern in self.freeze):
            raise ConfigError(f"model.freeze: {list(self.freeze)} holds an empty layer name")
        if self.freeze and not self.pretrained_weights:
            raise ConfigError(f"model.freeze: {list(self.freeze)} would keep randomly initialised layers fixed; "
                              "freezing is for fine-tuning: set model.pretrained_weights")


@dataclasses.dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """Optimisation, schedule, distribution and checkpointing."""

    SECTION = "train"

    epochs: int = 10
    steps_per_epoch: Optional[int] = None
    optimizer: str = "adam"  # "adam" | "adamw"
    learning_rate: float = 1e-3
    # Learning rate of a pretrained SSL front end (the "ssl_backbone/" variables of ssl_aasist / ssl_linear), on the
    # same schedule shape; None: train.learning_rate for every variable (pipelines.train.finetune).
    backbone_learning_rate: Optional[float] = None
    min_learning_rate: float = 1e-6
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" (warm-up then cosine) | "constant" | "step"
    warmup_epochs: float = 0.0
    step_decay_epochs: int = 10
    step_decay_rate: float = 0.5
    spoof_loss_weight: Optional[float] = None  # None: derived from class counts when balance == "weights"
    label_smoothing: float = 0.0
    # One of LOSSES. "ocsoftmax" / "amsoftmax" also give the model the matching head (models.losses.head_arguments).
    loss: str = "bce"
    loss_options: dict = dataclasses.field(default_factory=dict)  # e.g. {"margin_fake": 0.3}; see models.losses
    # One of WEIGHT_AVERAGING: the run's model becomes the SWA / EMA average of the last `averaging_epochs`
    # epochs (None: the last half), see pipelines.train.averaging.
    weight_averaging: str = "none"
    averaging_epochs: Optional[int] = None
    ema_decay: float = 0.999
    early_stopping_patience: int = 0  # epochs without dev-EER improvement; 0 disables
    backend: str = "auto"  # one of BACKENDS; must match the backend Keras was imported with
    strategy: str = "auto"  # one of STRATEGIES
    tpu: Optional[str] = None  # TensorFlow: "local" (TPU VM), a grpc:// address or a TPU node name
    # None: data.batch_size per device. Set: the batch over all devices, which must divide by the device count.
    global_batch_size: Optional[int] = None
    precision: str = "auto"  # one of PRECISIONS
    steps_per_execution: Optional[int] = None  # None: 32 on TPU, 1 elsewhere
    jit_compile: bool = False  # XLA for the TensorFlow train step; JAX always compiles
    seed: int = 0

    def __post_init__(self):
        check_choice(self, "optimizer", OPTIMIZERS)
        check_choice(self, "schedule", SCHEDULES)
        check_choice(self, "backend", BACKENDS)
        check_choice(self, "strategy", STRATEGIES)
        check_choice(self, "precision", PRECISIONS)
        _check_positive(self, "learning_rate", "backbone_learning_rate", "steps_per_epoch", "step_decay_epochs",
                        "step_decay_rate",
                        "spoof_loss_weight", "steps_per_execution", "global_batch_size")
        for name in ("epochs", "min_learning_rate", "weight_decay", "warmup_epochs", "early_stopping_patience",
                     "seed"):
            check_range(self, name, low=0)
        check_range(self, "label_smoothing", low=0.0, high=1.0, high_inclusive=False)
        check_choice(self, "loss", LOSSES)
        if self.loss_options and self.loss == "bce":
            raise ConfigError(f"train.loss_options: {self.loss_options} are options of a margin loss; train.loss "
                              "is bce (use train.label_smoothing)")
        if "label_smoothing" in self.loss_options:
            raise ConfigError("train.loss_options: give label_smoothing as train.label_smoothing")
        check_choice(self, "weight_averaging", WEIGHT_AVERAGING)
        check_range(self, "averaging_epochs", low=1, high=max(1, self.epochs))
        check_range(self, "ema_decay", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        if self.weight_averaging != "none" and self.early_stopping_patience:
            raise ConfigError("train.early_stopping_patience: early stopping would cut the epochs that "
                              f"train.weight_averaging={self.weight_averaging} averages; use one or the other")
        if self.epochs and self.warmup_epochs > self.epochs:
            raise ConfigError(f"train.warmup_epochs: {self.warmup_epochs} exceeds train.epochs={self.epochs}")


TABLE_PARTS = ("train", "dev", "test")  # the row split of a feature-table run (`fakespeech train --features-csv`)


@dataclasses.dataclass(frozen=True)
class TabularConfig(ConfigMixin):
    """The feature table a run was trained on instead of shards (`fakespeech train --features-csv`).

    `csv`, `sha256` and `rows` are recorded by the training (a user does not set them); `split_ratios` and
    `split_seed` choose the seeded, label-stratified train/dev/test row split.
    """

    SECTION = "tabular"

    csv: str = ""  # absolute path of the table
    sha256: str = ""  # of the table's bytes: another file at the same path is another run
    split_ratios: Tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, dev, test
    split_seed: int = 0
    rows: dict = dataclasses.field(default_factory=dict)  # rows per part of the split, e.g. {"train": 70, ...}

    def __post_init__(self):
        if not self.csv:
            raise ConfigError("tabular.csv: the path of the feature table is required")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ConfigError(f"tabular.sha256: {self.sha256!r} is not a SHA-256 (64 lowercase hex digits)")
        if any(r < 0 for r in self.split_ratios) or self.split_ratios[0] <= 0:
            raise ConfigError(f"tabular.split_ratios: {list(self.split_ratios)} must be train > 0, dev >= 0, "
                              "test >= 0")
        check_range(self, "split_seed", low=0)
        bad = {k: v for k, v in self.rows.items() if k not in TABLE_PARTS or not isinstance(v, int) or v < 0}
        if bad:
            raise ConfigError(f"tabular.rows: {bad} is not a row count per part of {', '.join(TABLE_PARTS)}")


@dataclasses.dataclass(frozen=True)
class RunConfig(ConfigMixin):
    """Everything needed to reproduce a run; saved as `config.json` in the run directory."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    tabular: Optional[TabularConfig] = None  # set when the run trained on a feature table instead of shards

    def __post_init__(self):
        if self.tabular is not None and (self.features.kind != "deep_voice" or self.data.shards):
            raise ConfigError("tabular: a run trained on a feature table takes features.kind=deep_voice (the "
                              "table's 26 features) and no data.shards")
        if self.data.sample_rate != self.features.sample_rate:
            raise ConfigError(f"data.sample_rate={self.data.sample_rate} and features.sample_rate="
                              f"{self.features.sample_rate} differ: the features must be computed at the rate of "
                              "the audio (set both)")
        if self.features.kind == "deep_voice" and self.data.clip_samples != self.features.sample_rate:
            raise ConfigError(f"data.clip_samples={self.data.clip_samples}: features.kind=deep_voice computes the "
                              "DEEP-VOICE table of one one-second window, so a clip must be features.sample_rate="
                              f"{self.features.sample_rate} samples (DEEP-VOICE used 22050 Hz)")
        if self.data.balance == "sample" and not self.train.steps_per_epoch:
            raise ConfigError("data.balance=sample gives an endless dataset: set train.steps_per_epoch")
