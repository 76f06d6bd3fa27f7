"""Training presets that follow the published recipes: `fakespeech train --preset aasist|aasist_l|rawnet2|ssl_aasist`.

Each preset is a complete nested dict in the shape of `RunConfig().to_dict()` (sections data, features, augment,
model, train); `pipelines.config.resolve.resolve_run_config` layers a config file, flags and `--set` on top.

AASIST / AASIST-L (clovaai/aasist config/AASIST.conf, AASIST-L.conf): raw 64,600-sample clips, Adam lr 1e-4 with
cosine decay to 5e-6, weight decay 1e-4, batch 24, 100 epochs, cross-entropy weighted 0.1 spoof : 0.9 bona fide,
the model of the best dev EER kept. Our loss weights are (bona fide 1, spoof `spoof_loss_weight`), so the
published 0.1 : 0.9 becomes `spoof_loss_weight = 0.1 / 0.9`; only the ratio matters to Adam. One deliberate
difference: Keras' Adam decouples weight decay where PyTorch's Adam adds it to the gradient (L2).

RawNet2 (asvspoof-challenge/2021 LA/Baseline-RawNet2): Adam lr 1e-4 held constant, weight decay 1e-4, batch 32,
100 epochs, the same 0.1 : 0.9 weighted cross-entropy (`--loss weighted_CCE`, the baseline's default).

lfcc_gmm: ASVspoof 2019 baseline B2 (LFCC + two diagonal GMMs, scikit-learn EM; `pipelines.train.gmm`), trained
and scored through the same `train` / `evaluate` / `predict` / `export` as every other run.

aasist_finetune: the published AASIST (the shipped `aasist_asvspoof2019_la` weights) adapted to a small corpus:
the sinc front end, the first batch normalisation and the first three encoder blocks frozen (`model.freeze`), lr
1e-5 with cosine decay, 4 epochs averaged over the last 2 (SWA), strong waveform augmentation (RawBoost, gain,
band limits), batch 12 to fit a CPU's memory. Published AASIST fine-tuned at lr 2e-5 for 4 epochs on a few hundred
files learned the training systems and lost on unseen ones; this recipe changes fewer weights, more slowly.

ssl_aasist: SSL-AASIST (Tak et al., "Automatic speaker verification spoofing and deepfake detection using wav2vec
2.0 and data augmentation", Odyssey 2022), the settings of TakHemlata/SSL_Anti-spoofing main_SSL_LA.py and
data_utils_SSL.py: raw 64,600-sample clips (`self.cut=64600`, shorter ones repeated: `pad`), batch 14
(`--batch_size`), 100 epochs (`--num_epochs`), one Adam over the whole model at lr 1e-6 held constant (`--lr`, no
scheduler) with weight decay 1e-4 (`--weight_decay`), cross-entropy weighted [0.1 spoof, 0.9 bona fide]
(`weighted_CCE`), RawBoost on every training clip with `--algo 5` for LA (LnL convolutive then ISD impulsive noise
in series: our `lnl+isd`, whose parameter defaults are the script's), seed 1234; the best checkpoint by the dev set
(the authors select by lowest dev loss, TakHemlata/SSL_Anti-spoofing issue 4; we keep the best dev EER). The recipe
gives the SSL front end and the back end the same rate, so `train.backbone_learning_rate` is 1e-6 too; raise
`train.learning_rate` to train the back end faster than the front end. The front end is fully fine-tuned
(`ssl_trainable="all"`). `model.params` is empty: the architecture is the checkpoint's (XLS-R 300M, the
`xls_r_300m` backbone preset, when the weights carry none), and `model.pretrained_weights` must be given by the
user (`pipelines.train.finetune.check_ssl_settings` refuses the run otherwise): a Hugging Face folder such as
facebook/wav2vec2-xls-r-300m, a fairseq .pt, or its `fakespeech convert-weights` output. Differences: Keras' Adam
decouples weight decay (PyTorch's adds it to the gradient); RawBoost is not applied to the dev set (the script's
dev loader applies it).

ssl_linear: the layer-wise probe of SSL studies (a learned weighted sum of all hidden states, mean pooling, a
linear head) on a frozen front end (`ssl_trainable="none"`, as those probes keep the upstream model fixed). No
single published recipe fixes its training, so the data, augmentation, loss, batch and epochs are ssl_aasist's; the
back end's lr 1e-4 (constant) is our choice (AASIST's rate for a back end trained from scratch).

default: what `fakespeech train` trains with neither --preset nor --model (`DEFAULT_PRESET`): the LCNN on 80
log-mel bands (4 s clips, 10 epochs, about 5 CPU-minutes on realdev) with two waveform remedies: channel
degradations (telephone band and 8 kHz round trip, G.711 companding, 8-16 bit quantisation, random EQ) and RawBoost
(LnL convolutive + ISD impulsive noise on half the clips). Chosen on realdev among the measured recipes
(benchmarks/bench_recipes.py; README, "Real speech"): on its unseen eval systems it was the only recipe measured over 3 seeds to beat
the LFCC-GMM baseline on every seed, pooled and on the neural vocoders (presumably because the augmentations make
the model rely less on the recording channel and bandwidth that separate realdev's sources).

demo: what `fakespeech demo` trains: a small log-mel LCNN on 2-second clips that learns the generated corpus on
a 2-core CPU in a few minutes.
"""

import copy

from models.pretrained import get_pretrained
from pipelines.config.stages import RunConfig
from tfrecord_builder.dataclass_config import ConfigError, deep_merge

# What `fakespeech train` trains when neither --preset nor --model is given (`resolve_run_config(default_preset=)`).
DEFAULT_PRESET = "default"

# The published weighted cross-entropy [0.1 spoof, 0.9 bona fide], relative to a bona fide weight of 1.
PUBLISHED_SPOOF_LOSS_WEIGHT = 0.1 / 0.9


# The two remedies of the default recipe (each layer's probability per training example): channel degradations,
# and RawBoost's convolutive + impulsive noise (the LA setting of the SSL-AASIST recipe, on half the clips).
DEFAULT_CHANNEL_AUGMENTATION = {"telephone_probability": 0.1, "companding_probability": 0.1,
                                "quantize_probability": 0.1, "eq_probability": 0.3}
DEFAULT_RAWBOOST = {"rawboost_probability": 0.5, "rawboost_algo": "lnl+isd"}


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


def _aasist_finetune_recipe():
    """The published AASIST (the shipped weights), adapted to a small corpus without forgetting what it knows."""
    recipe = _aasist_recipe("aasist")
    recipe["data"]["batch_size"] = 12
    recipe["augment"] = {"rawboost_probability": 0.5, "rawboost_algo": "lnl+isd+ssi", "gain_probability": 0.5,
                         "bandlimit_probability": 0.3, "bandlimit_low_hz": (0.0, 100.0),
                         "bandlimit_high_hz": (3800.0, 8000.0)}
    recipe["model"].update(pretrained_weights=get_pretrained("aasist").weights_path,
                           freeze=("conv_time", "first_bn", "encoder_block_[012]"))
    recipe["train"].update(epochs=4, learning_rate=1e-5, min_learning_rate=1e-6, weight_averaging="swa",
                           averaging_epochs=2)
    return recipe


def _ssl_recipe(model_name, params, learning_rate, backbone_learning_rate):
    """TakHemlata/SSL_Anti-spoofing main_SSL_LA.py (see the module docstring)."""
    return {
        "data": {"clip_samples": 64600, "batch_size": 14, "pad_mode": "repeat", "balance": "weights"},
        "features": {"kind": "waveform", "sample_rate": 16000},
        "augment": {"rawboost_probability": 1.0, "rawboost_algo": "lnl+isd"},
        "model": {"name": model_name, "params": params},
        "train": {
            "epochs": 100,
            "optimizer": "adam",
            "learning_rate": learning_rate,
            "backbone_learning_rate": backbone_learning_rate,
            "weight_decay": 1e-4,
            "schedule": "constant",
            "spoof_loss_weight": PUBLISHED_SPOOF_LOSS_WEIGHT,
            "early_stopping_patience": 0,
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
    # ASVspoof 2019 baseline B2 (the MATLAB code's extract_lfcc(x, fs, 20, 512, 20) and vl_gmm): LFCC of 20 linear
    # filters over 0-8 kHz, 20 coefficients, 20 ms Hamming windows every 10 ms, a 512-point FFT, no centring,
    # log floor eps, B2's deltas appended inside the model; 10 EM iterations. B2 has 512 components per class;
    # 64 suits a corpus of hundreds of utterances (set model.params.components=512 for ASVspoof-sized ones).
    # Whole 8-second windows, every window scored, so an utterance is scored on (nearly) all its frames.
    "lfcc_gmm": _preset(
        {
            "data": {"clip_samples": 128000, "eval_windows": "all", "balance": "none"},
            "features": {"kind": "lfcc", "n_fft": 512, "win_length": 320, "hop_length": 160, "window": "hamming",
                         "center": False, "n_filters": 20, "n_coefficients": 20, "fmin": 0.0, "fmax": None,
                         "deltas": False, "log_floor": 2.220446049250313e-16, "normalization": "none"},
            "model": {"name": "gmm", "params": {"components": 64, "append_deltas": True}},
            "train": {"epochs": 10, "seed": 0},
        }
    ),
    "aasist_finetune": _preset(_aasist_finetune_recipe()),
    "ssl_aasist": _preset(_ssl_recipe("ssl_aasist", {}, learning_rate=1e-6, backbone_learning_rate=1e-6)),
    "ssl_linear": _preset(_ssl_recipe("ssl_linear", {"ssl_trainable": "none"}, learning_rate=1e-4,
                                      backbone_learning_rate=None)),
    "default": _preset({"augment": {**DEFAULT_CHANNEL_AUGMENTATION, **DEFAULT_RAWBOOST}}),
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
        raise ConfigError(f"--preset {name!r}: unknown training preset; available: {', '.join(available_presets())}")
    return copy.deepcopy(PRESETS[name])
