"""Runs a model over an evaluation dataset and returns one score per utterance (higher = more bona fide).

The forward passes run batched on the process's runtime (`pipelines.train.runtime`): on every device it has, each
taking a slice of the batch, on either Keras backend.
"""

import collections

import numpy as np
import pandas as pd

from pipelines.data.datasets import make_dataset
from pipelines.evaluate.score_files import COLUMNS
from pipelines.train.runtime import current_runtime

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
    forward = current_runtime().forward(model)
    for inputs, _, meta in dataset:
        logits = np.asarray(forward(inputs), dtype=np.float64).reshape(-1)
        valid = np.asarray(meta["valid"]).reshape(-1) if "valid" in meta else np.ones_like(logits, dtype=bool)
        rows = zip(_as_text(meta["id"]), _as_text(meta["system_id"]), _as_text(meta["key"]), logits, valid)
        for utt_id, system_id, key, logit, is_valid in rows:
            if not is_valid:
                continue
            entry = totals.setdefault(utt_id, [system_id, key, 0.0, 0])
            entry[2] += -logit
            entry[3] += 1
    records = [(utt, sys_id, key, total / count) for utt, (sys_id, key, total, count) in totals.items()]
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def score_split(model, shards, split, data_config):
    """Scores every utterance of `split` (of a shards directory or `ShardSet`) with deterministic windows.

    `data_config.batch_size` is per device, as in training: each batch holds that many rows per device.
    """
    data_config = data_config.replace(batch_size=current_runtime().global_batch(data_config.batch_size))
    dataset = make_dataset(shards, split, data_config, training=False, with_meta=True)
    return score_dataset(model, dataset)
