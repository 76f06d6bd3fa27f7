"""Run configuration: the stage dataclasses, the training presets, and their resolution from files and flags."""

from pipelines.config.presets import PRESETS, available_presets, get_preset
from pipelines.config.resolve import check_model, load_config_file, resolve_run_config
from pipelines.config.stages import (
    AugmentConfig,
    DataConfig,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from tfrecord_builder.dataclass_config import ConfigError

__all__ = [
    "PRESETS", "AugmentConfig", "ConfigError", "DataConfig", "FeatureConfig", "ModelConfig", "RunConfig",
    "TrainConfig", "available_presets", "check_model", "get_preset", "load_config_file", "resolve_run_config",
]
