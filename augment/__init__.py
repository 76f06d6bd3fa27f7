"""Keras layers for waveform and spectrogram augmentation, on batches, in graph mode.

Every layer has `probability` (per example) and `seed`, is the identity with `training=False`, draws its randomness
from a `keras.random.SeedGenerator` through stateless TF ops, and compiles with XLA.
"""

from augment.base import RandomAugmentation
from augment.mixing import CutMix, MixUp
from augment.rawboost import RawBoost
from augment.spectrogram import SpecAugment
from augment.waveform import AddNoise, BandLimit, RandomGain, TimeShift

__all__ = ["AddNoise", "BandLimit", "CutMix", "MixUp", "RandomAugmentation", "RandomGain", "RawBoost",
           "SpecAugment", "TimeShift"]
