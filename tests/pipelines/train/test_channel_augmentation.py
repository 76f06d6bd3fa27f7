"""The channel / room augmentations of `AugmentConfig` reach the training pipeline with their options, in order."""

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

import augment
from pipelines.config import AugmentConfig, ConfigError, RunConfig
from pipelines.train.augmentation import build_waveform_augmenter
from pipelines.train.training import train

SAMPLE_RATE = 16000


@pytest.fixture()
def audio_folder(tmp_path):
    folder = tmp_path / "bank"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sf.write(folder / "a.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), SAMPLE_RATE)
    return str(folder)


def test_every_layer_in_order_with_its_options(audio_folder):
    cfg = AugmentConfig(reverb_probability=0.5, rir_folder=audio_folder, background_noise_probability=0.5,
                        noise_folder=audio_folder, background_snr_db=(5.0, 15.0), gain_probability=0.5,
                        eq_probability=0.5, eq_gain_db=(-3.0, 3.0), bandlimit_probability=0.5,
                        bandlimit_low_hz=(0.0, 100.0), bandlimit_high_hz=(3800.0, 8000.0), telephone_probability=0.5,
                        companding_probability=0.5, companding_law="a", companding_bits=7, quantize_probability=0.5,
                        quantize_bits=(6, 10), rawboost_probability=0.5)
    layers = build_waveform_augmenter(cfg, SAMPLE_RATE).layers
    assert [type(layer) for layer in layers] == [
        augment.AddReverb, augment.AddBackgroundNoise, augment.RandomGain, augment.RandomEQ, augment.BandLimit,
        augment.TelephoneChannel, augment.Companding, augment.Quantize, augment.RawBoost]
    reverb, noise, _, eq, band, _, companding, quantize, _ = layers
    assert reverb.files == noise.files == (f"{audio_folder}/a.wav",)
    assert noise.snr_db == (5.0, 15.0) and eq.gain_db == (-3.0, 3.0)
    assert band.low_hz == (0.0, 100.0) and band.high_hz == (3800.0, 8000.0)
    assert (companding.law, companding.bits, quantize.bits) == ("a", 7, (6, 10))
    assert all(layer.probability == 0.5 for layer in layers)


def test_the_chain_runs_in_a_dataset_map_and_is_the_identity_outside_training(audio_folder):
    cfg = AugmentConfig(reverb_probability=1.0, rir_folder=audio_folder, telephone_probability=1.0,
                        companding_probability=1.0, quantize_probability=1.0, eq_probability=1.0)
    augmenter = build_waveform_augmenter(cfg, SAMPLE_RATE)
    x = (0.1 * np.random.default_rng(1).standard_normal((4, 3000))).astype(np.float32)
    (mapped,) = list(tf.data.Dataset.from_tensor_slices(x).batch(4).map(lambda w: augmenter(w, training=True)))
    assert mapped.shape == x.shape and np.all(np.isfinite(mapped.numpy()))
    assert not np.allclose(mapped.numpy(), x)
    np.testing.assert_array_equal(np.asarray(augmenter(x, training=False)), x)


def test_the_telephone_stage_is_the_augment_layer_itself():
    x = (0.1 * np.random.default_rng(2).standard_normal((2, 4000))).astype(np.float32)
    ours = build_waveform_augmenter(AugmentConfig(telephone_probability=1.0), SAMPLE_RATE)(x, training=True)
    reference = augment.TelephoneChannel(sample_rate=SAMPLE_RATE)(x, training=True)  # deterministic filters
    np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), atol=1e-6)


def test_the_band_limit_range_follows_a_lower_sample_rate():
    layer = build_waveform_augmenter(AugmentConfig(bandlimit_probability=1.0), 8000).layers[0]
    assert layer.high_hz == (3400.0, 4000.0)


@pytest.mark.parametrize("option, probability", [("rir_folder", "reverb_probability"),
                                                  ("noise_folder", "background_noise_probability")])
def test_an_empty_or_missing_folder_refuses_training_before_anything_is_written(tiny_shards, tmp_path, option,
                                                                                probability):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    for folder, message in ((str(empty), "holds no audio files"), (str(tmp_path / "missing"), "is not a folder")):
        run_config = RunConfig.from_dict({"data": {"shards": tiny_shards.directory, "clip_samples": 400},
                                          "augment": {probability: 0.5, option: folder}})
        with pytest.raises(ConfigError, match=f"augment.{option}: .*{message}"):
            train(run_config, str(tmp_path / "run"), verbose=0)
        assert not (tmp_path / "run").exists()


def test_a_probability_without_its_folder_is_a_config_error():
    with pytest.raises(ConfigError, match="augment.reverb_probability=0.3 needs augment.rir_folder"):
        AugmentConfig(reverb_probability=0.3)
