"""`pipelines.augmentation` builds the configured stages, in order, and nothing when disabled."""

import numpy as np
import tensorflow as tf

import augment
from pipelines.train.augmentation import build_batch_mixer, build_spectrogram_augmenter, build_waveform_augmenter
from pipelines.config import AugmentConfig


def test_everything_off_builds_nothing():
    cfg = AugmentConfig()
    assert build_waveform_augmenter(cfg) is None
    assert build_spectrogram_augmenter(cfg) is None
    assert build_batch_mixer(cfg) is None


def test_waveform_augmenter_order_and_selection():
    cfg = AugmentConfig(gain_probability=1.0, shift_probability=0.5, rawboost_probability=0.2,
                        rawboost_algo="isd")
    augmenter = build_waveform_augmenter(cfg)
    assert [type(layer) for layer in augmenter.layers] == [augment.RandomGain, augment.TimeShift, augment.RawBoost]
    x = np.random.default_rng(0).standard_normal((2, 512)).astype(np.float32)
    assert augmenter(x, training=True).shape == x.shape
    np.testing.assert_array_equal(augmenter(x, training=False).numpy(), x)


def test_spectrogram_augmenter_uses_the_config():
    cfg = AugmentConfig(specaugment_probability=1.0, time_masks=1, time_mask_width=3, mask_fill="mean")
    layer = build_spectrogram_augmenter(cfg)
    assert (layer.time_masks, layer.time_mask_width, layer.fill) == (1, 3, "mean")


def test_batch_mixer_maps_over_a_dataset():
    cfg = AugmentConfig(mixup_probability=1.0, cutmix_probability=1.0)
    mixer = build_batch_mixer(cfg)
    features = np.random.default_rng(0).standard_normal((8, 12, 4)).astype(np.float32)
    targets = np.array([0, 1] * 4, np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((features, targets)).batch(4).map(mixer)
    for inputs, soft in dataset:
        assert inputs.shape == (4, 12, 4) and soft.dtype == tf.float32
        assert 0.0 <= soft.numpy().min() and soft.numpy().max() <= 1.0
