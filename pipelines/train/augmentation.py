"""Augmentation stages built from an `AugmentConfig`; a stage whose probabilities are all 0 is None."""

import keras

import augment


def _layer_seed(cfg, offset):
    # Distinct seeds per layer, so two layers with the same kind of draw do not move in lockstep.
    return cfg.seed * 1000 + offset


def build_waveform_augmenter(cfg, sample_rate=16000):
    """`keras.Sequential` of gain, noise, shift, band limit, RawBoost (that order; those with probability > 0)."""
    layers = []
    if cfg.gain_probability > 0:
        layers.append(augment.RandomGain(gain_db=cfg.gain_db, probability=cfg.gain_probability,
                                         seed=_layer_seed(cfg, 1), name="random_gain"))
    if cfg.noise_probability > 0:
        layers.append(augment.AddNoise(snr_db=cfg.snr_db, probability=cfg.noise_probability,
                                       seed=_layer_seed(cfg, 2), name="add_noise"))
    if cfg.shift_probability > 0:
        layers.append(augment.TimeShift(max_shift=cfg.max_shift, probability=cfg.shift_probability,
                                        seed=_layer_seed(cfg, 3), name="time_shift"))
    if cfg.bandlimit_probability > 0:
        layers.append(augment.BandLimit(sample_rate=sample_rate, probability=cfg.bandlimit_probability,
                                        seed=_layer_seed(cfg, 4), name="band_limit"))
    if cfg.rawboost_probability > 0:
        layers.append(augment.RawBoost(algo=cfg.rawboost_algo, sample_rate=sample_rate,
                                       probability=cfg.rawboost_probability, seed=_layer_seed(cfg, 5),
                                       name="rawboost"))
    return keras.Sequential(layers, name="waveform_augmenter") if layers else None


def build_spectrogram_augmenter(cfg):
    """`SpecAugment` on (batch, time, bins), or None when `specaugment_probability` is 0."""
    if cfg.specaugment_probability <= 0:
        return None
    return augment.SpecAugment(time_masks=cfg.time_masks, time_mask_width=cfg.time_mask_width,
                               freq_masks=cfg.freq_masks, freq_mask_width=cfg.freq_mask_width, fill=cfg.mask_fill,
                               probability=cfg.specaugment_probability, seed=_layer_seed(cfg, 6),
                               name="spec_augment")


def build_batch_mixer(cfg):
    """`mixer(inputs, targets) -> (inputs, soft_targets)` applying MixUp then CutMix, or None if both are off.

    Usable as `dataset.map(mixer)` on a batched dataset of pairs. With both enabled they are applied in series;
    each is a convex combination of targets, so the result is still a valid soft target.
    """
    mixers = []
    if cfg.mixup_probability > 0:
        mixers.append(augment.MixUp(alpha=cfg.mixup_alpha, probability=cfg.mixup_probability,
                                    seed=_layer_seed(cfg, 7), name="mixup"))
    if cfg.cutmix_probability > 0:
        mixers.append(augment.CutMix(alpha=cfg.cutmix_alpha, probability=cfg.cutmix_probability,
                                     seed=_layer_seed(cfg, 8), name="cutmix"))
    if not mixers:
        return None

    def mixer(inputs, targets):
        for layer in mixers:
            inputs, targets = layer((inputs, targets), training=True)
        return inputs, targets

    mixer.layers = mixers
    return mixer
