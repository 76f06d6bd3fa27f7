"""One frozen dataclass per stage of a run, and `RunConfig` that holds them all (written as `config.json`)."""

import dataclasses
from typing import Optional

from pipelines.config_base import ConfigMixin


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigMixin):
    """How shards become batches (see `pipelines.datasets.make_dataset`)."""

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


@dataclasses.dataclass(frozen=True)
class FeatureConfig(ConfigMixin):
    """The in-graph feature front end (see `pipelines.features.build_feature_layer`). Output (batch, time, bins)."""

    kind: str = "logmel"  # "logmel" | "mfcc" | "lfcc" | "spectrogram" | "waveform"
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


@dataclasses.dataclass(frozen=True)
class AugmentConfig(ConfigMixin):
    """Training-time augmentation; every probability 0 disables its layer."""

    gain_probability: float = 0.0
    gain_db: tuple = (-6.0, 6.0)
    noise_probability: float = 0.0
    snr_db: tuple = (10.0, 40.0)
    shift_probability: float = 0.0
    max_shift: int = 1600
    bandlimit_probability: float = 0.0
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


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigMixin):
    """A registered model and its keyword arguments (`models.build(name, input_shape, **params)`)."""

    name: str = "lcnn"
    params: dict = dataclasses.field(default_factory=dict)
    pretrained_weights: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """Optimisation, schedule, distribution and checkpointing."""

    epochs: int = 10
    steps_per_epoch: Optional[int] = None
    optimizer: str = "adam"  # "adam" | "adamw"
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-6
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" (warm-up then cosine) | "constant" | "step"
    warmup_epochs: float = 0.0
    step_decay_epochs: int = 10
    step_decay_rate: float = 0.5
    spoof_loss_weight: Optional[float] = None  # None: derived from class counts when balance == "weights"
    label_smoothing: float = 0.0
    early_stopping_patience: int = 0  # epochs without dev-EER improvement; 0 disables
    strategy: str = "auto"  # "auto" | "tpu" | "multiworker" | "mirrored" | "gpu" | "cpu"
    tpu: Optional[str] = None
    precision: str = "auto"  # "auto" | "float32" | "mixed_float16" | "mixed_bfloat16"
    steps_per_execution: Optional[int] = None  # None: 32 on TPU, 1 elsewhere
    jit_compile: bool = False
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class RunConfig(ConfigMixin):
    """Everything needed to reproduce a run; saved as `config.json` in the run directory."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
