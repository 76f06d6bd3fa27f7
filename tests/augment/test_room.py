"""Folder-based layers: the banks they read (soundfile + resample_poly), reverberation against scipy's
fftconvolve, background noise at the SNR measured by hand, and the errors for unusable folders."""

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

import augment

RATE = 16000
X = (0.3 * np.random.default_rng(0).standard_normal((3, 1200))).astype(np.float32)
APPLY = np.array([True, True, False])


def _expected_bank_row(path, max_seconds=10.0):
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != RATE:
        mono = scipy.signal.resample_poly(mono, RATE // np.gcd(rate, RATE), rate // np.gcd(rate, RATE))
    return mono[:round(max_seconds * RATE)]


def test_noise_bank_is_mono_resampled_and_in_path_order(banks):
    layer = augment.AddBackgroundNoise(noise_folder=banks["noise"], sample_rate=RATE)
    assert [p.split("noise")[-1] for p in layer.files] == ["/a_16k.wav", "/sub/b_8k_stereo.wav"]  # no README.txt
    for row, path in enumerate(layer.files):
        expected = _expected_bank_row(path)
        assert layer.lengths[row] == len(expected)
        np.testing.assert_allclose(layer.recordings[row, :len(expected)], expected, atol=1e-6)
        assert not layer.recordings[row, len(expected):].any()


def test_banks_are_bounded_in_files_and_seconds(banks):
    layer = augment.AddBackgroundNoise(noise_folder=banks["noise"], max_files=1, max_seconds=0.1)
    assert len(layer.files) == 1 and layer.files[0].endswith("a_16k.wav")
    np.testing.assert_allclose(layer.recordings[0], _expected_bank_row(layer.files[0], 0.1), atol=1e-6)
    assert layer.recordings.shape == (1, 1600)


def test_impulse_responses_start_at_their_direct_path(banks):
    layer = augment.AddReverb(rir_folder=banks["rir"], sample_rate=RATE)
    for row, path in enumerate(layer.files):
        raw = _expected_bank_row(path, 1.0)
        direct = np.argmax(np.abs(raw))
        assert abs(direct - banks["rir_delay"] * RATE // sf.info(path).samplerate) <= 1
        expected = raw[direct:] / np.linalg.norm(raw[direct:])
        np.testing.assert_allclose(layer.impulse_responses[row, :len(expected)], expected, atol=1e-6)


def test_reverb_is_the_convolution_at_the_input_power(banks):
    layer = augment.AddReverb(rir_folder=banks["rir"])
    rng = np.random.default_rng(1)
    rir = (rng.uniform(-1, 1, (3, 300)) * np.exp(-np.arange(300) / 50.0)).astype(np.float32)
    out = np.asarray(layer.transform_inputs(X, {"apply": APPLY, "index": np.zeros(3, np.int32), "rir": rir}))
    for row in np.flatnonzero(APPLY):
        wet = scipy.signal.fftconvolve(X[row], rir[row])[:X.shape[1]]
        np.testing.assert_allclose(out[row], wet * np.sqrt(np.mean(X[row] ** 2) / np.mean(wet**2)), atol=1e-5)
    np.testing.assert_array_equal(out[~APPLY], X[~APPLY])


def test_reverb_does_not_shift_the_clip(banks):
    layer = augment.AddReverb(rir_folder=banks["rir"], seed=0)
    clicks = np.zeros((6, 1000), np.float32)
    clicks[:, 400] = 1.0
    out = np.asarray(layer(clicks, training=True))
    np.testing.assert_array_equal(np.argmax(np.abs(out), axis=1), 400)
    assert np.abs(out[:, :400]).max() < 1e-6  # nothing arrives before the sound (FFT round-off aside)


def test_background_noise_is_a_segment_of_a_recording_at_the_drawn_snr(banks):
    layer = augment.AddBackgroundNoise(noise_folder=banks["noise"], snr_db=(0.0, 15.0), seed=1)
    x = np.tile(X, (4, 6))  # 12 clips of 7200 samples, longer than one of the recordings: it loops
    t = {k: np.asarray(v) for k, v in layer.get_random_transformation(x).items()}
    assert set(t["index"]) == {0, 1}
    for row in range(len(x)):
        recording = layer.recordings[t["index"][row], :layer.lengths[t["index"][row]]]
        loop = np.tile(recording, 3 + x.shape[1] // len(recording))
        starts = [s for s in range(len(recording)) if np.array_equal(loop[s:s + 50], t["noise"][row, :50])]
        assert starts, row
        np.testing.assert_array_equal(t["noise"][row], loop[starts[0]:starts[0] + x.shape[1]])
    out = np.asarray(layer.transform_inputs(x, {**t, "apply": np.ones(len(x), bool)}))
    scale = np.sqrt(np.mean(x**2, axis=1) / (np.mean(t["noise"] ** 2, axis=1) * 10 ** (t["snr_db"] / 10)))
    np.testing.assert_allclose(out, x + scale[:, None] * t["noise"], atol=1e-5)
    added = out - x
    snr = 10 * np.log10(np.mean(x**2, axis=1) / np.mean(added**2, axis=1))
    np.testing.assert_allclose(snr, t["snr_db"], atol=1e-3)
    assert 0.0 <= t["snr_db"].min() and t["snr_db"].max() <= 15.0


def test_background_noise_leaves_unselected_and_silent_clips_alone(banks):
    layer = augment.AddBackgroundNoise(noise_folder=banks["noise"], seed=0)
    x = X.copy()
    x[1] = 0.0
    out = np.asarray(layer.transform_inputs(x, {**layer.get_random_transformation(x), "apply": APPLY}))
    np.testing.assert_array_equal(out[1:], x[1:])


@pytest.mark.parametrize("make, argument", [
    (lambda folder: augment.AddReverb(rir_folder=folder), "rir_folder"),
    (lambda folder: augment.AddBackgroundNoise(noise_folder=folder), "noise_folder"),
])
def test_unusable_folders_are_named_at_construction(tmp_path, make, argument):
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=rf"{argument}: folder .*missing does not exist"):
        make(str(missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=rf"{argument}: folder .*empty holds no audio files"):
        make(str(empty))
    (empty / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match=rf"{argument}: folder .*empty holds no audio files"):
        make(str(empty))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "clip.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(ValueError, match=rf"{argument}: none of the 1 audio files in .*broken could be decoded"):
        make(str(broken))


def test_undecodable_files_beside_good_ones_are_skipped_with_a_warning(tmp_path, banks):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_broken.wav").write_bytes(b"RIFF junk")
    sf.write(folder / "b_good.wav", np.full(800, 0.1, np.float32), RATE, subtype="FLOAT")
    with pytest.warns(UserWarning, match="noise_folder: skipped 1 undecodable"):
        layer = augment.AddBackgroundNoise(noise_folder=str(folder))
    assert [p.endswith("b_good.wav") for p in layer.files] == [True]


def test_config_holds_the_folder_not_the_audio(banks):
    config = augment.AddBackgroundNoise(noise_folder=banks["noise"], snr_db=(3.0, 9.0)).get_config()
    assert config["noise_folder"] == banks["noise"]
    assert len(repr(config)) < 1000
