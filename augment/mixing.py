"""Batch mixing with soft targets: MixUp (Zhang et al. 2018) and CutMix along time (Yun et al. 2019).

Both layers take and return `{"inputs": x, "targets": y}` (a dict, as keras.layers.MixUp takes
`{"images", "labels"}`); an `(inputs, targets)` tuple is accepted too and a tuple comes back, so a layer can be
mapped over a batched `tf.data.Dataset` of pairs directly. `inputs` is (batch, time) or (batch, time, bins);
`targets` is (batch,) or (batch, classes) of probabilities, returned as float32 soft targets in [0, 1], so the loss
must accept soft labels (binary cross-entropy does). Inside tf.data every entry of the dict is cast to float32 (what
Keras's DataLayer does with its inputs), so the dict should hold only numeric tensors.
"""

import keras

from augment.base import RandomAugmentation, expand_to_rank, random_beta, uniform, uniform_int


def _unpack(data):
    if isinstance(data, dict):
        return data["inputs"], data["targets"]
    inputs, targets = data
    return inputs, targets


def _pack_like(data, inputs, targets):
    if isinstance(data, dict):
        return {**data, "inputs": inputs, "targets": targets}
    return inputs, targets


def _blend(ops, originals, partners, weight):
    """weight * originals + (1 - weight) * partners in float32, with a per-example weight (batch,)."""
    weight = expand_to_rank(ops, ops.cast(weight, "float32"), len(originals.shape))
    return weight * ops.cast(originals, "float32") + (1.0 - weight) * ops.cast(partners, "float32")


class _BatchMixing(RandomAugmentation):
    """Mixes each example with a partner from a random permutation of the batch; subclasses say how."""

    def __init__(self, alpha, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if alpha <= 0:
            raise ValueError(f"{type(self).__name__}: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def _draw_pairs(self, data, seed):
        ops = self.backend
        batch = ops.shape(_unpack(data)[0])[0]
        apply = self._draw_apply(batch, seed)
        permutation = ops.numpy.argsort(uniform(ops, (batch,), seed))  # ties have probability 0
        return batch, apply, ops.cast(permutation, "int32")

    def _partners(self, values, transformation):
        return self.backend.numpy.take(values, transformation["permutation"], axis=0)

    def call(self, data, training=True):
        if not training:
            return data
        transformation = self.get_random_transformation(data, training=training)
        inputs, targets = _unpack(data)
        return _pack_like(data, self.transform_inputs(inputs, transformation),
                          self.transform_targets(targets, transformation))

    def compute_output_shape(self, input_shape):
        return input_shape


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
    >>> data = {"inputs": np.ones((4, 16000), "float32"), "targets": np.array([0.0, 1.0, 1.0, 0.0], "float32")}
    >>> tuple(MixUp(alpha=0.4, seed=0)(data)["targets"].shape)
    (4,)
    """

    def __init__(self, alpha=0.4, probability=1.0, seed=None, **kwargs):
        super().__init__(alpha=alpha, probability=probability, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch, apply, permutation = self._draw_pairs(data, seed)
        weight = random_beta(ops, (batch,), self.alpha, self.alpha, seed)
        return {"apply": apply, "mix_weight": ops.numpy.where(apply, weight, 1.0), "permutation": permutation}

    def transform_inputs(self, inputs, transformation):
        partners = self._partners(inputs, transformation)
        return _blend(self.backend, inputs, partners, transformation["mix_weight"])  # (batch, time[, bins])

    def transform_targets(self, targets, transformation):
        partners = self._partners(targets, transformation)
        return _blend(self.backend, targets, partners, transformation["mix_weight"])  # (batch[, classes])


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
    >>> mixed = CutMix(alpha=1.0, seed=0)((np.ones((4, 101, 80), "float32"), np.array([0.0, 1.0, 1.0, 0.0], "float32")))
    >>> tuple(mixed[0].shape)
    (4, 101, 80)
    """

    def __init__(self, alpha=1.0, probability=1.0, seed=None, **kwargs):
        super().__init__(alpha=alpha, probability=probability, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch, apply, permutation = self._draw_pairs(data, seed)
        frames = ops.shape(_unpack(data)[0])[1]
        lam = random_beta(ops, (batch,), self.alpha, self.alpha, seed)
        cut_length = ops.cast(ops.numpy.round((1.0 - lam) * ops.cast(frames, "float32")), "int32")
        cut_length = ops.numpy.where(apply, ops.numpy.clip(cut_length, 0, frames), 0)
        cut_start = uniform_int(ops, (batch,), seed, 0, frames - cut_length)
        return {"apply": apply, "permutation": permutation, "cut_start": cut_start, "cut_length": cut_length,
                "frames": ops.convert_to_tensor(frames, "int32")}

    def _cut_mask(self, inputs, transformation):
        """(batch, time, 1, ...) True inside each example's cut."""
        ops = self.backend
        positions = ops.numpy.arange(ops.shape(inputs)[1])[None, :]
        start = ops.cast(transformation["cut_start"], "int32")[:, None]
        end = start + ops.cast(transformation["cut_length"], "int32")[:, None]
        inside = ops.numpy.logical_and(positions >= start, positions < end)
        for _ in range(len(inputs.shape) - 2):
            inside = ops.numpy.expand_dims(inside, -1)
        return inside

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        partners = self._partners(x, transformation)
        return ops.numpy.where(self._cut_mask(x, transformation), partners, x)  # (batch, time[, bins])

    def transform_targets(self, targets, transformation):
        ops = self.backend
        frames = ops.cast(transformation["frames"], "float32")
        cut_fraction = ops.cast(transformation["cut_length"], "float32") / frames
        return _blend(ops, targets, self._partners(targets, transformation), 1.0 - cut_fraction)  # (batch[, classes])
