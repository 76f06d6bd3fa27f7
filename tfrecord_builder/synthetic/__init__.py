"""Synthetic corpora in the exact ASVspoof2019 layout, for tests, benchmarks and the demo (`fakespeech make-corpus`)."""

from tfrecord_builder.synthetic.layout import generate_asvspoof2019

__all__ = ["generate_asvspoof2019"]
