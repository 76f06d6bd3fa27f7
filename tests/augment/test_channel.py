"""Channel and codec layers against independent references: G.711 (audioop), the companding formulas by hand,
scipy's resample_poly / freqz / fftconvolve, and the RBJ cookbook biquads through scipy's sosfreqz."""

import warnings

import numpy as np
import pytest
import scipy.signal

import augment

RATE = 16000
X = (0.3 * np.random.default_rng(0).standard_normal((3, 1025))).clip(-1, 1).astype(np.float32)
APPLY = np.array([True, True, False])


def _apply(layer, x, **transformation):
    return np.asarray(layer.transform_inputs(x, {"apply": APPLY[:len(x)], **transformation}))


# --- companding: the G.711 curves written out from the standard's formulas ---------------------------------------

def _quantise(y, bits):
    top = 2**bits - 1
    return np.round((y + 1) / 2 * top) / top * 2 - 1


def _mu_law(x, bits, mu=255.0):
    y = _quantise(np.sign(x) * np.log(1 + mu * np.abs(x)) / np.log(1 + mu), bits)
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def _a_law(x, bits, a=87.6):
    k = 1 + np.log(a)
    m = np.abs(x)
    with np.errstate(divide="ignore"):
        y = np.sign(x) * np.where(m < 1 / a, a * m / k, (1 + np.log(a * m)) / k)
    y = _quantise(y, bits)
    m = np.abs(y)
    return np.sign(y) * np.where(m < 1 / k, m * k / a, np.exp(m * k - 1) / a)


@pytest.mark.parametrize("bits", [8, 5])
def test_companding_matches_the_formulas(bits):
    layer = augment.Companding(law="random", bits=bits)
    a_law = np.array([False, True, True])
    out = _apply(layer, X, a_law=a_law)
    np.testing.assert_allclose(out[0], _mu_law(X[0], bits), atol=1e-5)
    np.testing.assert_allclose(out[1], _a_law(X[1], bits), atol=1e-5)
    np.testing.assert_array_equal(out[2], X[2])


@pytest.mark.parametrize("law", ["mu", "a"])
def test_8_bit_companding_is_within_a_step_of_g711(law):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop (G.711 reference) left Python in 3.13")
    encode, decode = (audioop.lin2ulaw, audioop.ulaw2lin) if law == "mu" else (audioop.lin2alaw, audioop.alaw2lin)
    x = np.linspace(-0.99, 0.99, 4001).astype(np.float32)
    pcm = np.round(x * 32767).astype(np.int16)
    g711 = np.frombuffer(decode(encode(pcm.tobytes(), 2), 2), np.int16) / 32768.0
    ours = np.asarray(augment.Companding(law=law).transform_inputs(x[None], {"apply": np.array([True]),
                                                                            "a_law": np.array([law == "a"])}))[0]
    levels = np.unique(g711)
    step = np.diff(levels)[np.clip(np.searchsorted(levels, g711), 0, len(levels) - 2)]  # G.711 step at each x
    assert np.all(np.abs(ours - g711) <= 1.5 * step)
    snr = [10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2)) for y in (ours, g711)]
    assert abs(snr[0] - snr[1]) < 1.0


def test_companding_law_draws():
    zeros = np.zeros((400, 4), np.float32)
    drawn = np.asarray(augment.Companding(law="random", seed=0).get_random_transformation(zeros)["a_law"])
    assert abs(drawn.mean() - 0.5) < 4 * np.sqrt(0.25 / 400)
    assert np.asarray(augment.Companding(law="a").get_random_transformation(zeros)["a_law"]).all()
    assert not np.asarray(augment.Companding(law="mu").get_random_transformation(zeros)["a_law"]).any()


# --- telephone channel --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1025, 1600])
def test_telephone_round_trip_matches_resample_poly(length):
    layer = augment.TelephoneChannel(sample_rate=RATE, narrowband_rate=8000)
    x = X[:2, :length] if length <= X.shape[1] else np.tile(X[:2], 2)[:, :length]
    out = _apply(layer, x)
    for row in range(2):
        narrow = np.convolve(scipy.signal.resample_poly(x[row], 1, 2), layer.band_filter, mode="same")
        expected = scipy.signal.resample_poly(narrow, 2, 1)[:length]
        np.testing.assert_allclose(out[row], expected, atol=1e-5)


def test_telephone_band_filter_response():
    layer = augment.TelephoneChannel(sample_rate=RATE, low_hz=300.0, high_hz=3400.0)
    freqs, response = scipy.signal.freqz(layer.band_filter, worN=4000, fs=8000)
    db = 20 * np.log10(np.abs(response) + 1e-12)
    passband = (freqs >= 500) & (freqs <= 3100)
    assert np.abs(db[passband]).max() < 0.5
    assert db[freqs <= 150].max() < -40 and db[freqs >= 3600].max() < -40
    np.testing.assert_allclose(db[np.argmin(np.abs(freqs - 300))], -6.0, atol=1.0)  # the edges are at -6 dB


def test_telephone_passes_speech_band_tones_and_removes_high_ones():
    t = np.arange(4000) / RATE
    tones = np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t)]).astype(np.float32)
    out = np.asarray(augment.TelephoneChannel(sample_rate=RATE).transform_inputs(tones, {"apply": APPLY[:2]}))
    middle = slice(500, -500)  # away from the zero-padded edges
    np.testing.assert_allclose(np.abs(out[0, middle]).max(), 1.0, atol=0.02)
    assert 20 * np.log10(np.abs(out[1, middle]).max()) < -40


def test_telephone_does_not_shift_the_clip():
    x = np.zeros((1, 2000), np.float32)
    x[0, 801] = 1.0
    out = np.asarray(augment.TelephoneChannel(sample_rate=RATE).transform_inputs(x, {"apply": APPLY[:1]}))[0]
    assert np.argmax(np.abs(out)) in (800, 801, 802)
    np.testing.assert_allclose(out[801 - 300:801], out[802:801 + 301][::-1], atol=1e-5)  # symmetric about it


# --- quantisation -------------------------------------------------------------------------------------------------

def test_quantize_rounds_to_the_bit_depth():
    bits = np.array([4, 9, 16], np.int32)
    out = _apply(augment.Quantize(bits=(4, 16)), X, bits=bits)
    for row in np.flatnonzero(APPLY):
        scale = 2.0 ** (bits[row] - 1)
        np.testing.assert_array_equal(out[row], np.clip(np.round(X[row] * scale), -scale, scale - 1) / scale)
    np.testing.assert_array_equal(out[~APPLY], X[~APPLY])


def test_quantize_with_dither_adds_it_before_rounding():
    dither = np.random.default_rng(2).uniform(-1, 1, X.shape).astype(np.float32)
    out = _apply(augment.Quantize(bits=(6, 6), dither=True), X, bits=np.full(3, 6, np.int32), dither=dither)
    np.testing.assert_array_equal(out[0], np.clip(np.round(X[0] * 32 + dither[0]), -32, 31) / 32)


def test_drawn_bits_and_dither():
    layer = augment.Quantize(bits=(3, 5), dither=True, seed=0)
    transformation = {k: np.asarray(v) for k, v in layer.get_random_transformation(np.zeros((300, 2000))).items()}
    assert set(np.unique(transformation["bits"])) == {3, 4, 5}
    dither = transformation["dither"]
    assert np.abs(dither).max() <= 1.0
    np.testing.assert_allclose([dither.mean(), dither.var()], [0.0, 1.0 / 6.0], atol=5e-3)  # triangular on [-1, 1]


# --- random EQ ----------------------------------------------------------------------------------------------------

def _cookbook_sos(f0, gain_db, fs, kind, q=None):
    """One RBJ Audio EQ Cookbook biquad as a normalised sos row."""
    amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * f0 / fs
    cos, sin = np.cos(w0), np.sin(w0)
    if kind == "peak":
        alpha = sin / (2 * q)
        b = [1 + alpha * amp, -2 * cos, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos, 1 - alpha / amp]
    else:
        beta = 2 * np.sqrt(amp) * sin / np.sqrt(2)  # shelf slope S = 1
        s = 1 if kind == "low" else -1
        b = [amp * ((amp + 1) - s * (amp - 1) * cos + beta), s * 2 * amp * ((amp - 1) - s * (amp + 1) * cos),
             amp * ((amp + 1) - s * (amp - 1) * cos - beta)]
        a = [(amp + 1) + s * (amp - 1) * cos + beta, -s * 2 * ((amp - 1) + s * (amp + 1) * cos),
             (amp + 1) + s * (amp - 1) * cos - beta]
    return np.concatenate([b, a]) / a[0]


def test_eq_fir_follows_the_cookbook_biquads():
    layer = augment.RandomEQ(sample_rate=RATE, peaks=3, gain_db=(-9.0, 9.0), taps=1025, seed=4)
    t = {k: np.asarray(v) for k, v in layer.get_random_transformation(np.zeros((8, 100), np.float32)).items()}
    freqs = np.linspace(100, 7900, 500)
    for row in range(8):
        sos = [_cookbook_sos(t["peak_hz"][row, k], t["peak_gain_db"][row, k], RATE, "peak", t["peak_q"][row, k])
               for k in range(3)]
        sos.append(_cookbook_sos(t["low_shelf_hz"][row], t["low_shelf_gain_db"][row], RATE, "low"))
        sos.append(_cookbook_sos(t["high_shelf_hz"][row], t["high_shelf_gain_db"][row], RATE, "high"))
        _, target = scipy.signal.sosfreqz(np.array(sos), worN=freqs, fs=RATE)
        _, response = scipy.signal.freqz(t["fir"][row], worN=freqs, fs=RATE)
        assert np.abs(20 * np.log10(np.abs(response) / np.abs(target))).max() < 1.0
        np.testing.assert_allclose(t["fir"][row], t["fir"][row][::-1], atol=1e-6)  # linear phase: no shift


def test_eq_applies_its_fir_centred():
    fir = np.random.default_rng(3).standard_normal((3, 65)).astype(np.float32)
    out = _apply(augment.RandomEQ(sample_rate=RATE, taps=65), X, fir=fir)
    for row in np.flatnonzero(APPLY):
        np.testing.assert_allclose(out[row], scipy.signal.fftconvolve(X[row], fir[row], mode="same"), atol=1e-5)
    np.testing.assert_array_equal(out[~APPLY], X[~APPLY])


def test_eq_draws_stay_in_their_ranges():
    layer = augment.RandomEQ(sample_rate=RATE, peaks=2, gain_db=(-3.0, 4.0), freq_hz=(300.0, 900.0), q=(1.0, 1.5),
                             low_shelf_hz=None, high_shelf_hz=(4000.0, 5000.0), seed=0)
    t = {k: np.asarray(v) for k, v in layer.get_random_transformation(np.zeros((200, 10), np.float32)).items()}
    assert "low_shelf_hz" not in t and t["fir"].shape == (200, layer.taps)
    for key, (low, high) in (("peak_hz", (300, 900)), ("peak_q", (1.0, 1.5)), ("peak_gain_db", (-3, 4)),
                             ("high_shelf_hz", (4000, 5000)), ("high_shelf_gain_db", (-3, 4))):
        assert low - 1e-3 <= t[key].min() and t[key].max() <= high + 1e-3, key


def test_bad_arguments_are_named():
    for make, name in ((lambda: augment.Companding(law="g722"), "law"),
                       (lambda: augment.Companding(bits=1), "bits"),
                       (lambda: augment.TelephoneChannel(sample_rate=22050), "narrowband_rate"),
                       (lambda: augment.TelephoneChannel(high_hz=4100.0), "high_hz"),
                       (lambda: augment.Quantize(bits=(12, 8)), "bits"),
                       (lambda: augment.RandomEQ(freq_hz=(100.0, 9000.0)), "freq_hz"),
                       (lambda: augment.RandomEQ(taps=1024), "taps")):
        with pytest.raises(ValueError, match=name):
            make()
