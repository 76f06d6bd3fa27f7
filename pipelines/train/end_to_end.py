"""The end-to-end model: raw waveform -> in-graph features -> (SpecAugment while training) -> backbone -> logit.

Putting the feature front end inside the model means the accelerator computes it, and the saved `.keras` file,
the SavedModel and the TFLite export all take a float32 waveform at the model's sample rate.
"""

import keras
import numpy as np

import models
from pipelines.config.resolve import check_model
from pipelines.features import build_feature_layer, feature_output_shape
from pipelines.train.augmentation import build_spectrogram_augmenter
from pipelines.train.finetune import freeze_layers
from pipelines.train.losses import with_loss_head


def backbone_input_shape(run_config):
    """The shape (without batch) the backbone sees for the configured clip length and features."""
    return tuple(feature_output_shape(run_config.features, run_config.data.clip_samples))


def uses_normalization(run_config):
    return run_config.features.normalization == "global" and run_config.features.kind != "waveform"


def measure_feature_statistics(run_config, waveform_batches):
    """Per-bin mean and variance of the features over `waveform_batches` (an iterable of (batch, samples))."""
    feature_layer = build_feature_layer(run_config.features)
    total, total_sq, count = 0.0, 0.0, 0
    for waveforms in waveform_batches:
        features = np.asarray(feature_layer(waveforms), dtype=np.float64)  # (batch, time, bins)
        flat = features.reshape(-1, features.shape[-1])
        total, total_sq, count = total + flat.sum(0), total_sq + (flat**2).sum(0), count + flat.shape[0]
    if not count:
        raise ValueError("no training batches to measure feature statistics on")
    mean = total / count
    return mean, np.maximum(total_sq / count - mean**2, 1e-8)


def build_end_to_end(run_config, with_augmentation=True, feature_statistics=None):
    """Builds the waveform-to-logit `keras.Model` for a `RunConfig`.

    Args:
        run_config: `pipelines.config.RunConfig`.
        with_augmentation: include the spectrogram augmenter (identity at inference).
        feature_statistics: `(mean, variance)` per feature bin for `features.normalization="global"`; without
            them the normalisation layer starts as the identity (a loaded model carries its own).

    Returns:
        A functional `keras.Model` with input `waveform` (batch, clip_samples) and output (batch, 1): the logit
        of "spoof" in float32. Scores for evaluation are `-logit` (higher = more bona fide).
    """
    check_model(run_config)
    model_cfg = run_config.model
    waveform = keras.Input(shape=(run_config.data.clip_samples,), name="waveform", dtype="float32")
    features = build_feature_layer(run_config.features)(waveform)  # (batch, time, bins) or (batch, samples)
    if uses_normalization(run_config):
        bins = backbone_input_shape(run_config)[-1]
        mean, variance = feature_statistics if feature_statistics is not None else (np.zeros(bins), np.ones(bins))
        normalize = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name="feature_normalization")
        features = normalize(features)
    augmenter = build_spectrogram_augmenter(run_config.augment) if with_augmentation else None
    if augmenter is not None and run_config.features.kind != "waveform":
        features = augmenter(features)
    params = with_loss_head(model_cfg.params, run_config.train)  # a margin loss brings its head
    if model_cfg.pretrained_weights:
        params["pretrained_weights"] = model_cfg.pretrained_weights
    try:
        backbone = models.build(model_cfg.name, backbone_input_shape(run_config), **params)
    except TypeError as err:
        raise ValueError(f"model {model_cfg.name!r} rejected its settings (model.params / "
                         f"model.pretrained_weights): {err}") from None
    freeze_layers(backbone, model_cfg.freeze)
    logit = backbone(features)
    return keras.Model(waveform, logit, name=f"fakespeech_{model_cfg.name}")
