"""Datasets, in-graph features, training, evaluation and prediction: the parts composed."""
