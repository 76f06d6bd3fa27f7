"""The shape every augmentation layer shares: draw a random transformation (tensors), then apply it.

Every layer runs on both Keras backends and in two places: inside a Keras model (SpecAugment sits in the end-to-end
model, on the accelerator) and inside `tf.data.Dataset.map` on the host, also when the Keras backend is JAX. Keras
solves the second case for its own preprocessing layers with `DataLayer`: its `__call__` notices a TensorFlow graph
(a tf.data function, a `tf.function`) and points `self.backend` at the TensorFlow backend for that call; anywhere
else `self.backend` is the Keras backend. So the layers here write their math against `self.backend` (the
`keras.ops` functions of whichever backend runs: `ops.numpy.where`, `ops.math.rfft`, `ops.random.uniform`, ...) and
draw their randomness from a `keras.random.SeedGenerator` of that same backend (`self._generator()`).

The random helpers below take that backend namespace (`ops`) and a SeedGenerator; each draw advances the generator,
so a layer's draws depend only on its seed and on how many batches it has seen. Everything compiles with XLA
(`keras.random.gamma` and `beta` lower to `tf.random.stateless_gamma` on TensorFlow, which does not, hence
`random_gamma` below).
"""

import inspect

import keras

# The one private Keras API augment relies on, kept here and nowhere else: there is no public base class for a layer
# that must run TensorFlow ops inside tf.data while Keras itself runs on JAX. `DataLayer` is what keras.layers.MixUp,
# RandomCrop, ... subclass; it was called `TFDataLayer` until keras-team/keras#21598 (2025), with the same
# `backend` / `_get_seed_generator` API. Checked against Keras 3.15.1 only.
try:
    from keras.src.layers.preprocessing.data_layer import DataLayer
except ImportError:  # an older Keras
    from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as DataLayer


def uniform(ops, shape, seed, minval=0.0, maxval=1.0):
    """float32 uniform in [minval, maxval); `shape` may hold dynamic sizes (tf.data batches)."""
    return ops.random.uniform(shape, minval=minval, maxval=maxval, dtype="float32", seed=seed)


def normal(ops, shape, seed):
    return ops.random.normal(shape, dtype="float32", seed=seed)


def uniform_int(ops, shape, seed, minval, maxval):
    """int32 uniform in [minval, maxval] inclusive; the bounds may be tensors broadcastable to `shape`."""
    minval = ops.cast(minval, "int32")
    span = ops.cast(ops.cast(maxval, "int32") - minval + 1, "float32")
    draw = ops.numpy.floor(uniform(ops, shape, seed) * span)
    return minval + ops.cast(ops.numpy.minimum(draw, span - 1.0), "int32")


def random_gamma(ops, shape, alpha, seed, proposals=8):
    """Gamma(alpha, 1) by Marsaglia and Tsang (2000) with a fixed number of proposals, so it compiles with XLA.

    Each proposal is accepted with probability > 0.95 for alpha >= 1, so all `proposals` fail with probability
    < 0.05 ** proposals; such a draw falls back to the mode of the proposal distribution, d = alpha' - 1/3. For
    alpha < 1 we draw Gamma(alpha + 1) and multiply by U ** (1 / alpha).
    """
    alpha = float(alpha)
    boosted = alpha + 1.0 if alpha < 1.0 else alpha
    d = boosted - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = normal(ops, (proposals, *shape), seed)
    u = uniform(ops, (proposals, *shape), seed)
    v = (1.0 + c * z) ** 3
    safe_v = ops.numpy.maximum(v, 1e-12)
    log_ratio = 0.5 * z**2 + d - d * safe_v + d * ops.numpy.log(safe_v)
    accepted = ops.numpy.logical_and(v > 0.0, ops.numpy.log(u) < log_ratio)
    first = ops.numpy.argmax(ops.cast(accepted, "int32"), axis=0)  # first accepted proposal (0 if none)
    chosen = ops.numpy.take_along_axis(d * safe_v, ops.numpy.expand_dims(first, 0), axis=0)[0]
    draw = ops.numpy.where(ops.numpy.any(accepted, axis=0), chosen, d)
    if alpha < 1.0:
        draw = draw * uniform(ops, shape, seed) ** (1.0 / alpha)
    return draw


def random_beta(ops, shape, alpha, beta, seed):
    """Beta(alpha, beta) as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta)."""
    x = random_gamma(ops, shape, alpha, seed)
    y = random_gamma(ops, shape, beta, seed)
    return x / ops.numpy.maximum(x + y, 1e-30)


def expand_to_rank(ops, per_example, rank):
    """(batch,) -> (batch, 1, ..., 1) with `rank` axes, to broadcast against a batch of that rank."""
    return ops.numpy.reshape(per_example, (-1,) + (1,) * (rank - 1))


def check_range(layer, name, bounds):
    """A (low, high) pair of floats with low <= high, or a ValueError naming the layer and the argument."""
    low, high = bounds
    if low > high:
        raise ValueError(f"{layer}: {name} must be (low, high) with low <= high, got {tuple(bounds)}")
    return (float(low), float(high))


class RandomAugmentation(DataLayer):
    """Base for our augmentation layers: each example is augmented independently with `probability`.

    Subclasses implement `get_random_transformation(data, training=True, seed=None)`, returning a dict of tensors
    that includes the boolean `"apply"` (batch,), and `transform_inputs(inputs, transformation)`, both written
    against `self.backend` (see the module docstring). With `training=False` the layer is the identity. The layer
    computes in float32 whatever the global dtype policy: a mixed policy must not round a waveform to 16 bits.

    Args:
        probability: chance that each example is augmented.
        seed: integer seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, probability=1.0, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability must be in [0, 1], got {probability}")
        self.probability = probability
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)  # the name DataLayer._get_seed_generator looks for

    def _generator(self, seed=None):
        """The SeedGenerator to draw from: the layer's own, on the backend running now, unless one is given.

        An integer `seed` makes a fresh generator on the Keras backend, for eager use (tests, notebooks).
        """
        if seed is None:
            return self._get_seed_generator(self.backend.name)
        if isinstance(seed, int):
            return keras.random.SeedGenerator(seed)
        return seed

    def _draw_apply(self, batch_size, seed):
        return uniform(self.backend, (batch_size,), seed) < self.probability

    def call(self, inputs, training=True):
        if not training:
            return inputs
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_inputs(inputs, transformation)  # as the input: (batch, samples) / (batch, time, bins)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # The config is the constructor's arguments, named by its signature (as scikit-learn's `get_params` reads
        # them); every subclass keeps each argument as an attribute of the same name, so none can be left out.
        config = super().get_config()
        config.update({name: getattr(self, name) for name in constructor_argument_names(type(self))})
        return config


def constructor_argument_names(cls):
    """The named arguments of `cls.__init__`, in order, without `self` and `*args` / `**kwargs`."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in parameters if p.kind in named)
