"""The vocoders behind `fakespeech build --vocode`: each copy keeps its source's length, level, spectrum and pitch
but not its waveform; the DSP they share matches librosa."""

import json

import librosa
import numpy as np
import pytest

from tfrecord_builder import vocoders
from tfrecord_builder.synthetic import layout
from tfrecord_builder.variant_specs import parse_vocoder
from tfrecord_builder.vocoders import griffin_lim, keras_vocoder, stft

RATE = 16000
BUILT_IN = ["world", "world:harvest", "griffinlim", "griffinlim:linear", "lpc", "phase_vocoder"]


@pytest.fixture(scope="module")
def utterance():
    """One second of generated bona fide speech (int16) with a clear pitch contour."""
    plan = layout.plan_split("LA", "train", 2, 0, seed=1)
    bona = next(u for u in plan if u.key == "bonafide")
    return layout.render(bona, "LA", "train", 1, RATE, 1.0, 1.0)


def _mel_band_levels_db(samples):
    """Long-term level per mel band from 60 Hz (below the lowest voice pitch there is no speech), by librosa: an
    independent measure of the spectral envelope."""
    mel = librosa.feature.melspectrogram(y=samples.astype(np.float32) / 32768.0, sr=RATE, n_fft=512, hop_length=160,
                                         n_mels=40, fmin=60.0)
    return 10.0 * np.log10(mel.mean(axis=1) + 1e-10)


def _copy(text, samples, seed=3):
    spec = parse_vocoder(text)
    vocoders.check(spec, RATE)
    return vocoders.vocode(spec, samples, RATE, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def copy_of(utterance):
    """`copy_of(text)`: the utterance vocoded by `text` with seed 3, made once per module."""
    made = {}

    def get(text):
        if text not in made:
            made[text] = _copy(text, utterance)
        return made[text]

    return get


def test_stft_matches_librosa_and_inverts_exactly():
    x = np.random.default_rng(0).standard_normal(4000)
    ours = stft.stft(x, 512, 128)
    reference = librosa.stft(x, n_fft=512, hop_length=128, center=True, pad_mode="reflect").T
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    np.testing.assert_allclose(stft.istft(ours, 512, 128, x.shape[0]), x, atol=1e-10)


def test_mel_filterbank_matches_librosa():
    ours = stft.mel_filterbank(22050, 1024, 80, fmin=0.0, fmax=8000.0)
    reference = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-8)


def test_griffin_lim_converges_as_far_as_librosas(utterance):
    x = utterance.astype(np.float64) / 32768.0
    magnitude = np.abs(stft.stft(x, 512, 128))

    def inconsistency(y):  # spectral convergence: how far the rebuilt signal's magnitude is from the target
        return np.linalg.norm(np.abs(stft.stft(y, 512, 128)) - magnitude) / np.linalg.norm(magnitude)

    ours = griffin_lim.griffin_lim(magnitude, 512, 128, x.shape[0], np.random.default_rng(0))
    reference = librosa.griffinlim(magnitude.T, n_iter=griffin_lim.ITERATIONS, hop_length=128, n_fft=512,
                                   pad_mode="reflect", momentum=griffin_lim.MOMENTUM, length=x.shape[0],
                                   random_state=0)
    random_phase = stft.istft(magnitude * np.exp(2j * np.pi * np.random.default_rng(1).random(magnitude.shape)),
                              512, 128, x.shape[0])
    assert inconsistency(ours) < 1.2 * inconsistency(reference)
    assert inconsistency(ours) < 0.25 * inconsistency(random_phase)


@pytest.mark.parametrize("text", BUILT_IN)
def test_copy_has_the_length_and_level_of_its_source(text, utterance, copy_of):
    copy = copy_of(text)
    assert copy.dtype == np.int16 and copy.shape == utterance.shape
    rms = lambda s: np.sqrt(np.mean(s.astype(np.float64) ** 2))  # noqa: E731
    assert rms(copy) == pytest.approx(rms(utterance), rel=0.01)


@pytest.mark.parametrize("text", BUILT_IN)
def test_copy_is_not_the_source_waveform_but_keeps_its_spectral_envelope(text, utterance, copy_of):
    copy = copy_of(text).astype(np.float64)
    source = utterance.astype(np.float64)
    assert np.linalg.norm(copy - source) / np.linalg.norm(source) > 0.5  # a resynthesis, not a filtered copy
    envelope_error = np.sqrt(np.mean((_mel_band_levels_db(copy) - _mel_band_levels_db(utterance)) ** 2))
    noise = np.random.default_rng(0).standard_normal(source.shape[0]) * np.std(source)
    noise_error = np.sqrt(np.mean((_mel_band_levels_db(noise) - _mel_band_levels_db(utterance)) ** 2))
    assert envelope_error < 3.0 < noise_error


@pytest.mark.parametrize("text", ["world", "lpc", "phase_vocoder", "griffinlim"])
def test_copy_keeps_the_pitch_of_its_source(text, utterance, copy_of):
    def median_f0(samples):  # librosa's YIN, an estimator none of the vocoders uses
        return np.median(librosa.yin(samples.astype(np.float64) / 32768.0, fmin=60, fmax=400, sr=RATE,
                                     frame_length=1024, hop_length=160))

    assert median_f0(copy_of(text)) == pytest.approx(median_f0(utterance), rel=0.06)


@pytest.mark.parametrize("text", BUILT_IN)
def test_copy_is_deterministic_for_a_seed(text, utterance, copy_of):
    assert np.array_equal(_copy(text, utterance, seed=3), copy_of(text))


def test_a_users_keras_generator_vocodes_to_the_sources_length(keras_generator, utterance):
    path = keras_generator()
    copy = _copy(f"keras:{path}", utterance)
    assert copy.shape == utterance.shape
    assert np.linalg.norm(copy.astype(float) - utterance) / np.linalg.norm(utterance.astype(float)) > 0.5


def test_keras_generator_is_fed_the_mel_its_sidecar_describes(tmp_path, utterance):
    """With an identity "generator" the output is the mel it was fed: librosa's log mel of the sidecar's settings."""
    import keras

    mels = keras.Input((None, 16))
    path = tmp_path / "identity.keras"
    keras.Model(mels, keras.layers.Identity()(mels)).save(path)
    sidecar = {"sample_rate": RATE, "n_fft": 512, "hop_length": 128, "n_mels": 16, "fmin": 0, "fmax": 7000,
               "log_base": "10", "power": 2, "log_floor": 1e-6}
    keras_vocoder.sidecar_path(path).write_text(json.dumps(sidecar))
    fed = keras_vocoder._Generator(path)(utterance.astype(np.float64) / 32768.0, None)  # (frames, mels)
    reference = librosa.feature.melspectrogram(y=utterance.astype(np.float64) / 32768.0, sr=RATE, n_fft=512,
                                               hop_length=128, n_mels=16, fmin=0, fmax=7000, power=2.0,
                                               pad_mode="reflect")
    np.testing.assert_allclose(fed, np.log10(np.maximum(reference, 1e-6)).T, atol=1e-4)


@pytest.mark.parametrize("change, named", [
    ({"n_mels": None}, "n_mels"),
    ({"hop": 256}, "hop"),
    ({"log_base": "2"}, "log_base"),
])
def test_a_bad_sidecar_is_refused_naming_the_file_and_key(keras_generator, change, named):
    path = keras_generator()
    sidecar = json.loads(keras_vocoder.sidecar_path(path).read_text())
    for key, value in change.items():
        if value is None:
            del sidecar[key]
        else:
            sidecar[key] = value
    keras_vocoder.sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=named) as info:
        vocoders.check(parse_vocoder(f"keras:{path}"), RATE)
    assert "--vocode" in str(info.value) and f"{path.stem}.json" in str(info.value)
