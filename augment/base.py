"""The shape every augmentation layer shares: draw a random transformation (tensors), then apply it.

Randomness comes from a `keras.random.SeedGenerator(seed)` turned into stateless TF seeds, so a layer's draws depend
only on its seed and on how many batches it has seen, and every op compiles with XLA (`tf.random.stateless_gamma`
does not, hence `stateless_gamma` below).
"""

import keras
import tensorflow as tf


def split_seed(seed, count):
    """`count` independent stateless seeds, shape (count, 2) int64, from a SeedGenerator, an int or a (2,) tensor."""
    if isinstance(seed, keras.random.SeedGenerator):
        seed = seed.next()
    elif isinstance(seed, int):
        seed = [seed, 0]
    seed = tf.cast(seed, tf.int64)
    return tf.random.experimental.stateless_split(seed, count)


def uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval, dtype=tf.float32)


def uniform_int(shape, seed, minval, maxval):
    """Integers uniform in [minval, maxval] inclusive; the bounds may be tensors broadcastable to `shape`."""
    span = tf.cast(maxval - minval + 1, tf.float32)
    draw = tf.math.floor(uniform(shape, seed) * span)
    return tf.cast(minval, tf.int32) + tf.cast(tf.minimum(draw, span - 1.0), tf.int32)


def stateless_gamma(shape, alpha, seed, proposals=8):
    """Gamma(alpha, 1) by Marsaglia and Tsang (2000) with a fixed number of proposals, so it compiles with XLA.

    Each proposal is accepted with probability > 0.95 for alpha >= 1, so all `proposals` fail with probability
    < 0.05 ** proposals; such a draw falls back to the mode of the proposal distribution, d = alpha' - 1/3. For
    alpha < 1 we draw Gamma(alpha + 1) and multiply by U ** (1 / alpha).
    """
    alpha = float(alpha)
    boosted = alpha + 1.0 if alpha < 1.0 else alpha
    d = boosted - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    normal_seed, accept_seed, boost_seed = tf.unstack(split_seed(seed, 3))
    z = tf.random.stateless_normal([proposals, *shape], normal_seed)
    u = uniform([proposals, *shape], accept_seed)
    v = (1.0 + c * z) ** 3
    safe_v = tf.maximum(v, 1e-12)
    accepted = (v > 0.0) & (tf.math.log(u) < 0.5 * z**2 + d - d * safe_v + d * tf.math.log(safe_v))
    first = tf.argmax(tf.cast(accepted, tf.int32), axis=0)  # first accepted proposal (0 if none)
    chosen = _take_first(d * safe_v, first)
    draw = tf.where(tf.reduce_any(accepted, axis=0), chosen, d)
    if alpha < 1.0:
        draw = draw * uniform(shape, boost_seed) ** (1.0 / alpha)
    return draw


def _take_first(values, index):
    one_hot = tf.one_hot(index, tf.shape(values)[0], axis=0, dtype=values.dtype)
    return tf.reduce_sum(values * one_hot, axis=0)


def stateless_beta(shape, alpha, beta, seed):
    """Beta(alpha, beta) as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta)."""
    x_seed, y_seed = tf.unstack(split_seed(seed, 2))
    x = stateless_gamma(shape, alpha, x_seed)
    y = stateless_gamma(shape, beta, y_seed)
    return x / tf.maximum(x + y, 1e-30)


def expand_to_rank(per_example, rank):
    """(batch,) -> (batch, 1, ..., 1) with `rank` axes, to broadcast against a batch of that rank."""
    return tf.reshape(per_example, [-1] + [1] * (rank - 1))


class RandomAugmentation(keras.layers.Layer):
    """Base for our augmentation layers: each example is augmented independently with `probability`.

    Subclasses implement `get_random_transformation(data, training=True, seed=None)`, returning a dict of tensors
    that includes the boolean `"apply"` (batch,), and `transform_inputs(inputs, transformation)`. With
    `training=False` the layer is the identity.

    Args:
        probability: chance that each example is augmented.
        seed: integer seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, probability=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability must be in [0, 1], got {probability}")
        self.probability = probability
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Augmentations run on float32 data in tf.data; a mixed policy must not round the waveform to 16 bits.
        self.autocast = False

    def _seeds(self, seed, count):
        return tf.unstack(split_seed(self.seed_generator if seed is None else seed, count))

    def _draw_apply(self, batch_size, seed):
        return uniform([batch_size], seed) < self.probability

    def call(self, inputs, training=True):
        if not training:
            return inputs
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_inputs(inputs, transformation)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(probability=self.probability, seed=self.seed)
        return config
