"""Batch mixing with soft targets: MixUp (Zhang et al. 2018) and CutMix along time (Yun et al. 2019).

Both layers take and return `{"inputs": x, "targets": y}` (a dict, as keras.layers.MixUp takes
`{"images", "labels"}`); an `(inputs, targets)` tuple is accepted too and a tuple comes back, so a layer can be
mapped over a batched `tf.data.Dataset` of pairs directly. `inputs` is (batch, time) or (batch, time, bins);
`targets` is (batch,) or (batch, classes) of probabilities, returned as float32 soft targets in [0, 1], so the loss
must accept soft labels (binary cross-entropy does).
"""

import keras
import tensorflow as tf

from augment.base import RandomAugmentation, expand_to_rank, stateless_beta, uniform, uniform_int


def _unpack(data):
    if isinstance(data, dict):
        return data["inputs"], data["targets"]
    inputs, targets = data
    return inputs, targets


def _pack_like(data, inputs, targets):
    if isinstance(data, dict):
        return {**data, "inputs": inputs, "targets": targets}
    return inputs, targets


def _blend(originals, partners, weight):
    """weight * originals + (1 - weight) * partners in float32, with a per-example weight (batch,)."""
    weight = expand_to_rank(weight, len(originals.shape))
    return weight * tf.cast(originals, tf.float32) + (1.0 - weight) * tf.cast(partners, tf.float32)


class _BatchMixing(RandomAugmentation):
    """Mixes each example with a partner from a random permutation of the batch; subclasses say how."""

    def __init__(self, alpha, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if alpha <= 0:
            raise ValueError(f"{type(self).__name__}: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def _draw_pairs(self, data, apply_seed, permutation_seed):
        inputs, _ = _unpack(data)
        batch = tf.shape(inputs)[0]
        permutation = tf.argsort(uniform([batch], permutation_seed), stable=True)
        return batch, self._draw_apply(batch, apply_seed), tf.cast(permutation, tf.int32)

    def call(self, data, training=True):
        if not training:
            return data
        transformation = self.get_random_transformation(data, training=training)
        inputs, targets = _unpack(data)
        return _pack_like(data, self.transform_inputs(inputs, transformation),
                          self.transform_targets(targets, transformation))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class MixUp(_BatchMixing):
    """MixUp: `lam * x + (1 - lam) * x[partner]` and the same for targets, lam ~ Beta(alpha, alpha) per example.

    The transformation holds `mix_weight` (lam, the weight of the example itself; 1 where not applied) and
    `permutation` (the partner of each example).

    Args:
        alpha: Beta distribution parameter; small alpha keeps most weights near 0 or 1.
        probability: chance that each example is mixed.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> mixed = MixUp(alpha=0.4, seed=0)({"inputs": tf.ones((4, 16000)), "targets": tf.constant([0., 1., 1., 0.])})
    >>> mixed["targets"].shape
    TensorShape([4])
    """

    def __init__(self, alpha=0.4, probability=1.0, seed=None, **kwargs):
        super().__init__(alpha=alpha, probability=probability, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, permutation_seed, weight_seed = self._seeds(seed, 3)
        batch, apply, permutation = self._draw_pairs(data, apply_seed, permutation_seed)
        weight = stateless_beta([batch], self.alpha, self.alpha, weight_seed)
        return {"apply": apply, "mix_weight": tf.where(apply, weight, 1.0), "permutation": permutation}

    def transform_inputs(self, inputs, transformation):
        partners = tf.gather(inputs, transformation["permutation"])
        return tf.cast(_blend(inputs, partners, transformation["mix_weight"]), inputs.dtype)  # (batch, time[, bins])

    def transform_targets(self, targets, transformation):
        return _blend(targets, tf.gather(targets, transformation["permutation"]), transformation["mix_weight"])


@keras.saving.register_keras_serializable(package="fakespeech")
class CutMix(_BatchMixing):
    """CutMix along time: a random span of each example is replaced by the same span of its partner.

    The span length is `round((1 - lam) * time)` with lam ~ Beta(alpha, alpha), its start uniform where it fits; the
    targets are weighted by the fraction actually cut, `cut_length / time`. The transformation holds
    `permutation`, `cut_start`, `cut_length` (0 where not applied) and `frames` (the time length).

    Args:
        alpha: Beta distribution parameter (1 makes the cut fraction uniform).
        probability: chance that each example is mixed.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> mixed = CutMix(alpha=1.0, seed=0)((tf.ones((4, 101, 80)), tf.constant([0., 1., 1., 0.])))
    >>> mixed[0].shape
    TensorShape([4, 101, 80])
    """

    def __init__(self, alpha=1.0, probability=1.0, seed=None, **kwargs):
        super().__init__(alpha=alpha, probability=probability, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        apply_seed, permutation_seed, weight_seed, start_seed = self._seeds(seed, 4)
        batch, apply, permutation = self._draw_pairs(data, apply_seed, permutation_seed)
        frames = tf.shape(_unpack(data)[0])[1]
        lam = stateless_beta([batch], self.alpha, self.alpha, weight_seed)
        cut_length = tf.cast(tf.round((1.0 - lam) * tf.cast(frames, tf.float32)), tf.int32)
        cut_length = tf.where(apply, tf.clip_by_value(cut_length, 0, frames), 0)
        cut_start = uniform_int([batch], start_seed, 0, frames - cut_length)
        return {"apply": apply, "permutation": permutation, "cut_start": cut_start, "cut_length": cut_length,
                "frames": frames}

    def _cut_mask(self, inputs, transformation):
        positions = tf.range(tf.shape(inputs)[1])[None, :]
        start = transformation["cut_start"][:, None]
        inside = (positions >= start) & (positions < start + transformation["cut_length"][:, None])
        return tf.reshape(inside, tf.concat([tf.shape(inside), tf.ones([len(inputs.shape) - 2], tf.int32)], 0))

    def transform_inputs(self, inputs, transformation):
        partners = tf.gather(inputs, transformation["permutation"])
        return tf.where(self._cut_mask(inputs, transformation), partners, inputs)  # (batch, time[, bins])

    def transform_targets(self, targets, transformation):
        cut_fraction = tf.cast(transformation["cut_length"], tf.float32) / tf.cast(transformation["frames"],
                                                                                   tf.float32)
        return _blend(targets, tf.gather(targets, transformation["permutation"]), 1.0 - cut_fraction)
