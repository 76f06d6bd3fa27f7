"""Runs a model over an evaluation dataset and returns one score per utterance (higher = more bona fide)."""

import collections

import numpy as np
import pandas as pd

from pipelines.datasets import make_dataset

SCORE_COLUMNS = ["utt_id", "system_id", "key", "score"]


def _as_text(values):
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


def score_dataset(model, dataset):
    """Scores a dataset of `(waveform, target, meta)` batches.

    Multi-window datasets carry several windows per utterance: their scores are averaged per utterance.
    Padding rows (meta `valid` false, used to keep batch shapes static) are dropped.

    Returns:
        DataFrame with columns `utt_id, system_id, key, score`, in first-seen order; score = -logit(spoof).
    """
    totals = collections.OrderedDict()
    for inputs, _, meta in dataset:
        logits = np.asarray(model.predict_on_batch(inputs), dtype=np.float64).reshape(-1)
        valid = np.asarray(meta["valid"]).reshape(-1) if "valid" in meta else np.ones_like(logits, dtype=bool)
        rows = zip(_as_text(meta["id"]), _as_text(meta["system_id"]), _as_text(meta["key"]), logits, valid)
        for utt_id, system_id, key, logit, is_valid in rows:
            if not is_valid:
                continue
            entry = totals.setdefault(utt_id, [system_id, key, 0.0, 0])
            entry[2] += -logit
            entry[3] += 1
    records = [(utt, sys_id, key, total / count) for utt, (sys_id, key, total, count) in totals.items()]
    return pd.DataFrame.from_records(records, columns=SCORE_COLUMNS)


def score_split(model, shards_dir, split, data_config):
    """Scores every utterance of `split` with deterministic evaluation windows."""
    dataset = make_dataset(shards_dir, split, data_config, training=False, with_meta=True)
    return score_dataset(model, dataset)
