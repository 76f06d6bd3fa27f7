"""Training: the end-to-end model, augmentation wiring, callbacks, distribution strategy, the loop, tabular runs."""
