"""Codec round trips behind `fakespeech build --codecs`: the setting asked for is what libsndfile writes, and the
decoded copy is aligned with its source, same length, lossy but close."""

import io

import numpy as np
import pytest
import soundfile as sf

from tfrecord_builder import codecs
from tfrecord_builder.synthetic import layout
from tfrecord_builder.variant_specs import check_codec_rate, parse_codec

RATE = 16000
SETTINGS = ["mp3:16k", "mp3:32k", "mp3:64k", "ogg:q0", "ogg:q2", "ogg:q6", "opus:12k", "opus:24k"]


@pytest.fixture(scope="module")
def utterance():
    plan = layout.plan_split("LA", "train", 2, 0, seed=2)
    return layout.render(plan[0], "LA", "train", 2, RATE, 1.2, 1.2)


def _encoded_bytes(spec, samples, sample_rate=RATE):
    fmt, subtype = codecs.FORMATS[spec.codec]
    buffer = io.BytesIO()
    buffer.name = f"x.{spec.codec}"
    sf.write(buffer, samples, sample_rate, format=fmt, subtype=subtype,
             compression_level=codecs.compression_level(spec, sample_rate),
             bitrate_mode="CONSTANT" if spec.codec == "mp3" else None)
    return buffer.tell()


@pytest.mark.parametrize("text", ["mp3:16k", "mp3:32k", "mp3:64k", "opus:12k", "opus:24k"])
def test_the_bitrate_asked_for_is_the_bitrate_written(text, utterance):
    spec = parse_codec(text)
    once, twice = utterance, np.tile(utterance, 2)
    # The size difference of one and two copies of the utterance leaves out headers and container overhead.
    kbps = (_encoded_bytes(spec, twice) - _encoded_bytes(spec, once)) * 8 / (once.shape[0] / RATE) / 1000
    assert kbps == pytest.approx(spec.value, rel=0.15)


def test_a_higher_vorbis_quality_writes_more_bytes(utterance):
    sizes = [_encoded_bytes(parse_codec(f"ogg:q{q}"), utterance) for q in (0, 3, 6, 9)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@pytest.mark.parametrize("text", SETTINGS)
def test_copy_is_aligned_with_its_source_and_as_long(text, utterance):
    copy = codecs.round_trip(parse_codec(text), utterance, RATE).astype(np.float64)
    source = utterance.astype(np.float64)
    assert copy.shape == source.shape
    lags = np.arange(-200, 201)
    scores = [np.dot(np.roll(copy, lag)[300:-300], source[300:-300]) for lag in lags]
    assert lags[int(np.argmax(scores))] == 0


@pytest.mark.parametrize("text", SETTINGS)
def test_copy_is_lossy_but_close(text, utterance):
    copy = codecs.round_trip(parse_codec(text), utterance, RATE).astype(np.float64)
    source = utterance.astype(np.float64)
    snr_db = 10 * np.log10(np.sum(source ** 2) / np.sum((source - copy) ** 2))
    assert 3.0 < snr_db < 60.0


@pytest.mark.parametrize("text, rate", [("opus:24k", 22050), ("opus:24k", 44100), ("mp3:32k", 37000),
                                        ("mp3:32k", 96000)])
def test_rates_refused_up_front_are_rates_libsndfile_cannot_write(text, rate, utterance):
    spec = parse_codec(text)
    with pytest.raises(ValueError, match="--codecs"):
        check_codec_rate(spec, rate)
    fmt, subtype = codecs.FORMATS[spec.codec]
    with pytest.raises((sf.LibsndfileError, RuntimeError)):
        sf.write(io.BytesIO(), utterance, rate, format=fmt, subtype=subtype)


@pytest.mark.parametrize("text, rate", [("opus:24k", 48000), ("mp3:32k", 44100), ("mp3:24k", 22050),
                                        ("mp3:16k", 8000), ("ogg:q2", 22050)])
def test_rates_accepted_up_front_are_written(text, rate, utterance):
    spec = parse_codec(text)
    check_codec_rate(spec, rate)
    codecs.check(spec, rate)
    assert codecs.round_trip(spec, utterance, rate).shape == utterance.shape


@pytest.mark.parametrize("text, named", [("aac:64k", "unknown codec"), ("mp3:32", "mp3:32k"), ("mp3:33k", "33"),
                                         ("ogg:q11", "0-10"), ("opus:300k", "6-256"), ("ogg:2", "ogg:q2")])
def test_a_malformed_setting_names_the_option_and_value(text, named):
    with pytest.raises(ValueError, match=named) as info:
        check_codec_rate(parse_codec(text), RATE)
    assert f"--codecs {text!r}" in str(info.value)
