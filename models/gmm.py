"""The classic GMM countermeasure as a Keras model: ASVspoof 2019 baseline B2's back end (LFCC-GMM).

Two diagonal-covariance Gaussian mixtures, one for bona fide frames and one for spoof frames; an utterance's score
is the mean over its frames of the log-likelihood ratio `log p(x_t | bona fide) - log p(x_t | spoof)` (the B2
MATLAB code's `mean(llk_genuine) - mean(llk_spoof)`). The model outputs the registry's one float32 spoof logit,
`-LLR`, so the evaluation score (`-logit`) is B2's score exactly.

The mixtures are not trained by gradient descent: `pipelines.train.gmm` fits them with scikit-learn's EM on the
training frames and writes the fitted means, variances and weights into `GaussianMixtureScore`'s (non-trainable)
weights. A model built here but never fitted holds one standard-normal component per class and scores 0.

`append_deltas=True` appends B2's deltas to static cepstra (`B2Deltas`): B2's `deltas(x, 3)` is the plain central
difference `x[t+1] - x[t-1]` with the edge frames repeated, and its delta-delta applies the same filter again (so
it spans five frames, unlike librosa's width-3 second derivative).
"""

import math

import keras
from keras import ops

from models.registry import register_model


@keras.saving.register_keras_serializable(package="fakespeech")
class B2Deltas(keras.layers.Layer):
    """Appends ASVspoof 2019 B2 deltas and delta-deltas: (batch, time, dims) -> (batch, time, 3 * dims).

    `delta[t] = x[t + 1] - x[t - 1]` with the first and last frame repeated once beyond the edges (B2's
    `deltas(x, 3)`); the delta-delta is the same filter applied to the delta.

    Args:
        **kwargs: passed to `keras.layers.Layer`.

    Example:
        >>> tuple(B2Deltas()(np.zeros((2, 50, 20), "float32")).shape)
        (2, 50, 60)
    """

    def call(self, inputs):
        # (batch, time, dims) -> (batch, time, 3 * dims)
        delta = self._delta(inputs)
        return ops.concatenate([inputs, delta, self._delta(delta)], axis=-1)

    @staticmethod
    def _delta(x):
        padded = ops.concatenate([x[:, :1], x, x[:, -1:]], axis=1)  # (batch, time + 2, dims)
        return padded[:, 2:] - padded[:, :-2]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], None if input_shape[-1] is None else 3 * input_shape[-1])


@keras.saving.register_keras_serializable(package="fakespeech")
class GaussianMixtureScore(keras.layers.Layer):
    """Mean frame log-likelihood ratio of a bona fide and a spoof diagonal GMM, as a spoof logit (batch, 1).

    Frames are first standardised with a fixed `offset` and `scale` (per dimension; set when the mixtures are
    fitted, in whose standardised space they live): that keeps the float32 quadratic forms well conditioned, and
    it leaves the ratio unchanged (the Jacobian of the map is the same for both classes).
    Weights (all non-trainable): `offset`, `scale` (dims,); `means`, `variances` (2, components, dims) and
    `log_weights` (2, components), class 0 bona fide and class 1 spoof. Computed in float32 under any policy.

    Args:
        components: Gaussians per class.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
        >>> layer = GaussianMixtureScore(components=4)
        >>> tuple(layer(np.zeros((2, 30, 6), "float32")).shape)  # unfitted: both classes alike, logit 0
        (2, 1)
    """

    def __init__(self, components=64, **kwargs):
        super().__init__(**kwargs)
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise ValueError(f"components must be a positive integer, got {components!r}")
        self.components = components
        self.autocast = False  # log-likelihoods in float16 would lose the ratio: always float32

    def build(self, input_shape):
        dims = input_shape[-1]
        if dims is None:
            raise ValueError("GaussianMixtureScore needs a known feature dimension (the last axis)")
        shape = (2, self.components, dims)

        def weight(name, shape, value):
            return self.add_weight(name=name, shape=shape, initializer=keras.initializers.Constant(value),
                                   trainable=False, dtype="float32")

        self.offset = weight("offset", (dims,), 0.0)
        self.scale = weight("scale", (dims,), 1.0)
        self.means = weight("means", shape, 0.0)
        self.variances = weight("variances", shape, 1.0)
        self.log_weights = weight("log_weights", (2, self.components), -math.log(self.components))

    def frame_log_likelihoods(self, frames):
        """(batch, time, dims) -> (batch, time, 2): log p(x_t | class) in the standardised space, per class."""
        x = (ops.cast(frames, "float32") - self.offset) / self.scale  # (batch, time, dims)
        dims = x.shape[-1]
        precision = 1.0 / ops.reshape(self.variances, (2 * self.components, dims))  # (2K, dims)
        means = ops.reshape(self.means, (2 * self.components, dims))
        # sum_d (x - mu)^2 / var, expanded so that no (batch, time, 2K, dims) tensor is formed (as scikit-learn).
        squared = (ops.matmul(ops.square(x), ops.transpose(precision))
                   - 2.0 * ops.matmul(x, ops.transpose(means * precision))
                   + ops.sum(ops.square(means) * precision, axis=-1))  # (batch, time, 2K)
        log_det = ops.sum(ops.log(ops.reshape(self.variances, (2 * self.components, dims))), axis=-1)  # (2K,)
        log_gauss = -0.5 * (dims * math.log(2.0 * math.pi) + log_det + squared)
        log_gauss = ops.reshape(log_gauss, (*ops.shape(log_gauss)[:2], 2, self.components))
        return ops.logsumexp(log_gauss + self.log_weights, axis=-1)  # (batch, time, 2)

    def call(self, inputs):
        # (batch, time, dims) -> (batch, 1)
        class_ll = self.frame_log_likelihoods(inputs)  # (batch, time, 2)
        llr = ops.mean(class_ll[..., 0] - class_ll[..., 1], axis=1)  # (batch,)
        return ops.reshape(-llr, (-1, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(components=self.components)
        return config


@register_model("gmm", input_kind="features",
                description="two diagonal GMMs (bona fide / spoof), mean frame LLR (ASVspoof 2019 B2 back end)")
def build_gmm(input_shape, components=64, append_deltas=False):
    """Two diagonal GMMs, bona fide and spoof; logit = -(mean frame log-likelihood ratio) (ASVspoof 2019 B2).

    Args:
        input_shape: (time, dims) frames, e.g. static LFCCs, or (time, dims, 1).
        components: Gaussians per class (B2 uses 512; 64 suits a few hundred utterances).
        append_deltas: append B2's deltas and delta-deltas to the frames first (`B2Deltas`).

    Returns:
        A `keras.Model` (batch, time, dims) -> (batch, 1) float32 spoof logit, unfitted (see the module docstring).

    Example:
        >>> model = build_gmm((100, 20), components=8, append_deltas=True)
        >>> model.get_layer("gmm_score").means.shape
        (2, 8, 60)
    """
    input_shape = tuple(int(d) for d in input_shape)
    channel_last = len(input_shape) == 3 and input_shape[-1] == 1  # (time, dims, 1), as the CNNs take features
    if len(input_shape) != 2 and not channel_last:
        raise ValueError(f"gmm takes (time, dims) or (time, dims, 1) frames, got input_shape {input_shape}")
    inputs = keras.Input(shape=input_shape, name="features")
    frames = keras.layers.Reshape(input_shape[:2], name="frames")(inputs) if channel_last else inputs
    frames = B2Deltas(name="b2_deltas")(frames) if append_deltas else frames
    logit = GaussianMixtureScore(components=components, name="gmm_score")(frames)
    return keras.Model(inputs, logit, name="gmm")
