"""`read_audio` against soundfile's own float decoding: every sample format gives the same int16 PCM."""

import numpy as np
import pytest
import soundfile as sf

from tfrecord_builder.audio_io import PCM_FULL_SCALE, read_audio


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE", "PCM_24", "PCM_16"])
def test_mono_file_at_the_target_rate_keeps_its_level_in_any_sample_format(tmp_path, subtype):
    rate = 16000
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(rate // 2) / rate)
    path = tmp_path / f"tone_{subtype}.wav"
    sf.write(path, tone, rate, subtype=subtype)
    decoded, _ = sf.read(path, dtype="float64")  # soundfile's decoding of what the file holds
    expected = np.clip(np.round(decoded * PCM_FULL_SCALE), -32768, 32767)
    pcm = read_audio(path, rate).samples
    assert pcm.dtype == np.int16
    np.testing.assert_allclose(pcm, expected, atol=1)  # one int16 step: PCM_24 is rescaled by libsndfile
    assert np.abs(pcm).max() > 0.29 * PCM_FULL_SCALE  # the level, not silence
