"""Augmentation stages built from an `AugmentConfig`; a stage whose probabilities are all 0 is None."""

import os

import keras

import augment
from augment.banks import AUDIO_SUFFIXES
from tfrecord_builder.dataclass_config import ConfigError


def _layer_seed(cfg, offset):
    # Distinct seeds per layer, so two layers with the same kind of draw do not move in lockstep.
    return cfg.seed * 1000 + offset


def check_folders(cfg):
    """A missing or empty `augment.rir_folder` / `augment.noise_folder` is a ConfigError naming it, before any work.

    (The layers read the folders when they are built; this looks only for one audio file, so that a training run
    refuses at once rather than after its shards and statistics are read.)
    """
    for probability, option in (("reverb_probability", "rir_folder"), ("background_noise_probability", "noise_folder")):
        folder = getattr(cfg, option)
        if getattr(cfg, probability) <= 0:
            continue
        if not folder or not os.path.isdir(folder):
            raise ConfigError(f"augment.{option}: {folder!r} is not a folder (augment.{probability}="
                              f"{getattr(cfg, probability)} needs a folder of audio files)")
        if not any(name.lower().endswith(AUDIO_SUFFIXES) and not name.startswith(".")
                   for _, _, names in os.walk(folder) for name in names):
            raise ConfigError(f"augment.{option}: folder {folder} holds no audio files "
                              f"({', '.join(AUDIO_SUFFIXES)})")


# Each waveform stage: (probability field, seed offset, layer name, make(cfg, sample_rate, **common) -> layer), in
# the order the layers apply. The offsets are fixed per layer, so adding a layer never reseeds another.
_ROOM = (
    ("reverb_probability", 9, "add_reverb",
     lambda cfg, rate, **common: augment.AddReverb(rir_folder=cfg.rir_folder, sample_rate=rate, **common)),
    ("background_noise_probability", 10, "add_background_noise",
     lambda cfg, rate, **common: augment.AddBackgroundNoise(noise_folder=cfg.noise_folder, sample_rate=rate,
                                                            snr_db=cfg.background_snr_db, **common)),
)
_RECORDING = (
    ("gain_probability", 1, "random_gain", lambda cfg, rate, **common: augment.RandomGain(gain_db=cfg.gain_db,
                                                                                          **common)),
    ("noise_probability", 2, "add_noise", lambda cfg, rate, **common: augment.AddNoise(snr_db=cfg.snr_db, **common)),
    ("shift_probability", 3, "time_shift", lambda cfg, rate, **common: augment.TimeShift(max_shift=cfg.max_shift,
                                                                                         **common)),
)
_CHANNEL = (
    ("eq_probability", 11, "random_eq",
     lambda cfg, rate, **common: augment.RandomEQ(sample_rate=rate, gain_db=cfg.eq_gain_db, **common)),
    ("bandlimit_probability", 4, "band_limit",
     lambda cfg, rate, **common: augment.BandLimit(sample_rate=rate, low_hz=cfg.bandlimit_low_hz,
                                                   high_hz=_nyquist_capped(cfg.bandlimit_high_hz, rate), **common)),
    ("telephone_probability", 12, "telephone_channel",
     lambda cfg, rate, **common: augment.TelephoneChannel(sample_rate=rate, **common)),
    ("companding_probability", 13, "companding",
     lambda cfg, rate, **common: augment.Companding(law=cfg.companding_law, bits=cfg.companding_bits, **common)),
    ("quantize_probability", 14, "quantize",
     lambda cfg, rate, **common: augment.Quantize(bits=cfg.quantize_bits, **common)),
)
_RAWBOOST = (
    ("rawboost_probability", 5, "rawboost",
     lambda cfg, rate, **common: augment.RawBoost(algo=cfg.rawboost_algo, sample_rate=rate, **common)),
)
_MIXERS = (
    ("mixup_probability", 7, "mixup", lambda cfg, rate, **common: augment.MixUp(alpha=cfg.mixup_alpha, **common)),
    ("cutmix_probability", 8, "cutmix", lambda cfg, rate, **common: augment.CutMix(alpha=cfg.cutmix_alpha,
                                                                                   **common)),
)


def _enabled_layers(cfg, stages, sample_rate=None):
    """The layers of `stages` whose probability is above 0, each with its probability, seed and name."""
    return [make(cfg, sample_rate, probability=getattr(cfg, field), seed=_layer_seed(cfg, offset), name=name)
            for field, offset, name, make in stages if getattr(cfg, field) > 0]


def _environment_layers(cfg, sample_rate):
    try:
        return _enabled_layers(cfg, _ROOM, sample_rate)
    except ValueError as error:  # augment.banks names the layer argument ("rir_folder: ..."): name the option
        raise ConfigError(f"augment.{error}") from None


def _nyquist_capped(band, sample_rate):
    # The default range suits 16 kHz; at a lower rate the low-pass cut-off cannot exceed the Nyquist frequency.
    return (min(band[0], sample_rate / 2), min(band[1], sample_rate / 2))


def build_waveform_augmenter(cfg, sample_rate=16000):
    """`keras.layers.Pipeline` of the waveform augmentations with probability > 0, or None.

    A Pipeline rather than a Sequential: it runs inside `tf.data` under the JAX backend as well (a Sequential
    there calls JAX ops on graph tensors).

    Order: the room (reverberation, background noise from the user's folders), the recording (gain, white noise,
    time shift), the channel (equaliser, band limit, telephone band, companding, requantisation), then RawBoost.
    """
    check_folders(cfg)
    layers = _environment_layers(cfg, sample_rate) + _enabled_layers(cfg, _RECORDING + _CHANNEL + _RAWBOOST,
                                                                     sample_rate)
    return keras.layers.Pipeline(layers, name="waveform_augmenter") if layers else None


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
    mixers = _enabled_layers(cfg, _MIXERS)
    if not mixers:
        return None

    def mixer(inputs, targets):
        for layer in mixers:
            inputs, targets = layer((inputs, targets), training=True)
        return inputs, targets

    mixer.layers = mixers
    return mixer
