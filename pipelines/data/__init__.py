"""Shards to batches: the tf.data pipeline and the per-utterance audio operations it uses."""

from pipelines.data.datasets import class_weights, make_dataset, open_shards, steps_per_epoch

__all__ = ["class_weights", "make_dataset", "open_shards", "steps_per_epoch"]
