"""Keras layers for waveform and spectrogram augmentation, on batches, in graph mode."""
