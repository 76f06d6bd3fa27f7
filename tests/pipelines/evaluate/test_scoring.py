"""Scoring a split: one score per utterance, -logit, padding dropped, windows averaged per utterance."""

import keras
import numpy as np
import pytest

from pipelines.config import DataConfig
from pipelines.evaluate.scoring import score_split

CLIP = 400


def _mean_model():
    """logit = mean of the window, so the expected scores follow from the samples by hand."""
    inputs = keras.Input((CLIP,))
    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(1.0 / CLIP))
    return keras.Model(inputs, dense(inputs))


def _first_window(waveform):
    repeats = -(-CLIP // len(waveform))
    return np.tile(waveform, repeats)[:CLIP]


@pytest.mark.parametrize("drop_remainder", [True, False])
def test_first_window_scores_are_minus_the_logit(tiny_shards, drop_remainder):
    config = DataConfig(clip_samples=CLIP, batch_size=4, drop_remainder=drop_remainder)
    scores = score_split(_mean_model(), tiny_shards.directory, "dev", config)
    utterances = tiny_shards.utterances["dev"]
    assert list(scores["utt_id"]) == [u.id for u in utterances]  # padding rows of the last batch are gone
    expected = [-_first_window(u.waveform).mean() for u in utterances]
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-4, atol=1e-6)
    assert list(scores["key"]) == ["spoof" if u.target else "bonafide" for u in utterances]
    assert list(scores["system_id"]) == [u.system_id for u in utterances]


def _every_window(waveform):
    """Windows with hop = CLIP over the utterance tiled to cover whole windows (the first equals `_first_window`)."""
    count = 1 + max(len(waveform) - CLIP, 0) // CLIP + (max(len(waveform) - CLIP, 0) % CLIP > 0)
    covered = np.tile(waveform, -(-count * CLIP // len(waveform)))[: count * CLIP]
    return covered.reshape(count, CLIP)


def test_all_windows_are_averaged_per_utterance(tiny_shards):
    config = DataConfig(clip_samples=CLIP, batch_size=4, eval_windows="all")
    scores = score_split(_mean_model(), tiny_shards.directory, "dev", config).set_index("utt_id")
    utterances = tiny_shards.utterances["dev"]
    assert len(scores) == len(utterances)
    assert any(len(u.waveform) > 2 * CLIP for u in utterances)  # some utterances have several windows
    for utterance in utterances:
        expected = -_every_window(utterance.waveform).mean(axis=1).mean()
        assert scores.loc[utterance.id, "score"] == pytest.approx(expected, abs=1e-6)
