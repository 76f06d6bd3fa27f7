"""Training presets that follow the published recipes: `fakespeech train --preset aasist|aasist_l|rawnet2`.

Each preset is a complete nested dict in the shape of `RunConfig().to_dict()` (sections data, features, augment,
model, train); `pipelines.run_config.resolve_run_config` layers a config file, flags and `--set` on top.

AASIST / AASIST-L (clovaai/aasist config/AASIST.conf, AASIST-L.conf): raw 64,600-sample clips, Adam lr 1e-4 with
cosine decay to 5e-6, weight decay 1e-4, batch 24, 100 epochs, cross-entropy weighted 0.1 spoof : 0.9 bona fide,
the model of the best dev EER kept. Our loss weights are (bona fide 1, spoof `spoof_loss_weight`), so the
published 0.1 : 0.9 becomes `spoof_loss_weight = 0.1 / 0.9`; only the ratio matters to Adam. Two deliberate
difference: Keras' Adam decouples weight decay where PyTorch's Adam adds it to the gradient (L2).

RawNet2 (asvspoof-challenge/2021 LA/Baseline-RawNet2): Adam lr 1e-4 held constant, weight decay 1e-4, batch 32,
100 epochs, the same 0.1 : 0.9 weighted cross-entropy (`--loss weighted_CCE`, the baseline's default).

demo: what `fakespeech demo` trains: a small log-mel LCNN on 2-second clips that learns the generated corpus on
a 2-core CPU in a few minutes.
"""

import copy

from pipelines.config import RunConfig
from pipelines.run_config import deep_merge

# The published weighted cross-entropy [0.1 spoof, 0.9 bona fide], relative to a bona fide weight of 1.
PUBLISHED_SPOOF_LOSS_WEIGHT = 0.1 / 0.9


def _preset(overrides):
    """The full RunConfig dict of the defaults with `overrides` applied (validated by `RunConfig.from_dict`)."""
    preset = deep_merge(RunConfig().to_dict(), overrides)
    return RunConfig.from_dict(preset, where="pipelines.presets").to_dict()


def _aasist_recipe(model_name):
    return {
        "data": {"clip_samples": 64600, "batch_size": 24, "pad_mode": "repeat", "balance": "weights"},
        "features": {"kind": "waveform", "sample_rate": 16000},
        "model": {"name": model_name, "params": {}},
        "train": {
            "epochs": 100,
            "optimizer": "adam",
            "learning_rate": 1e-4,
            "min_learning_rate": 5e-6,
            "weight_decay": 1e-4,
            "schedule": "cosine",
            "warmup_epochs": 0.0,
            "spoof_loss_weight": PUBLISHED_SPOOF_LOSS_WEIGHT,
            "early_stopping_patience": 0,  # train all 100 epochs; the best-dev-EER model is the one kept
            "seed": 1234,
        },
    }


PRESETS = {
    "aasist": _preset(_aasist_recipe("aasist")),
    "aasist_l": _preset(_aasist_recipe("aasist_l")),
    "rawnet2": _preset(
        {
            "data": {"clip_samples": 64600, "batch_size": 32, "pad_mode": "repeat", "balance": "weights"},
            "features": {"kind": "waveform", "sample_rate": 16000},
            "model": {"name": "rawnet2", "params": {}},
            "train": {
                "epochs": 100,
                "optimizer": "adam",
                "learning_rate": 1e-4,
                "weight_decay": 1e-4,
                "schedule": "constant",
                "spoof_loss_weight": PUBLISHED_SPOOF_LOSS_WEIGHT,
                "early_stopping_patience": 0,
                "seed": 1234,
            },
        }
    ),
    "demo": _preset(
        {
            "data": {"clip_samples": 32000, "batch_size": 32},
            "features": {"kind": "logmel", "n_mels": 64},
            "augment": {"specaugment_probability": 0.5, "time_mask_width": 10, "freq_mask_width": 6},
            "model": {"name": "lcnn", "params": {"base_filters": 16, "embedding_units": 64, "dropout": 0.2}},
            "train": {"epochs": 8, "learning_rate": 1e-3, "schedule": "cosine", "warmup_epochs": 0.5},
        }
    ),
}


def available_presets():
    return sorted(PRESETS)


def get_preset(name):
    """A fresh copy of the preset `name` (a nested RunConfig dict); a clear error for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; available: {', '.join(available_presets())}")
    return copy.deepcopy(PRESETS[name])
