"""Keras layers for waveform and spectrogram augmentation, on batches, in graph mode, on both Keras backends.

Every layer has `probability` (per example) and `seed`, is the identity with `training=False`, separates drawing a
random transformation (`get_random_transformation`) from applying it (`transform_inputs`), draws its randomness
from a `keras.random.SeedGenerator`, and runs inside a Keras model (TensorFlow or JAX, XLA included) and inside
`tf.data.Dataset.map` whatever the Keras backend (see augment.base).
"""

from augment.base import RandomAugmentation
from augment.channel import Companding, Quantize, RandomEQ, TelephoneChannel
from augment.mixing import CutMix, MixUp
from augment.rawboost import RawBoost
from augment.room import AddBackgroundNoise, AddReverb
from augment.spectrogram import SpecAugment
from augment.waveform import AddNoise, BandLimit, RandomGain, TimeShift

__all__ = ["AddBackgroundNoise", "AddNoise", "AddReverb", "BandLimit", "Companding", "CutMix", "MixUp", "Quantize",
           "RandomAugmentation", "RandomEQ", "RandomGain", "RawBoost", "SpecAugment", "TelephoneChannel", "TimeShift"]
