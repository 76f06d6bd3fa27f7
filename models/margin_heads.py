"""Cosine-scoring output layers for the margin losses of `models.losses`: OC-softmax and AM-softmax.

Both keep the registry contract: the last layer gives ONE float32 value per example, the logit of "spoof", and the
evaluation score is its negative (higher = more bona fide). Each layer scales a cosine similarity so that the
output sits on the same footing as a logit: positive on the spoof side of the decision boundary, negative on the
bona fide side, with `sigmoid(output)` a usable "probability of spoof" for display and accuracy metrics.

- `OCSoftmaxScore` (Zhang, You & Duan, "One-class learning towards synthetic voice spoofing detection", IEEE SPL
  2021): one learned bona fide direction w; output `scale * (midpoint - cos(x, w))` with the midpoint halfway between
  the two margins. Its negative is an increasing function of the paper's score cos(x, w), so EERs are the paper's.
- `AMSoftmaxScore` (Wang et al., "Additive margin softmax for face verification", IEEE SPL 2018), two classes:
  learned bona fide and spoof directions; output `scale * (cos(x, w_spoof) - cos(x, w_bona))`, the difference of the
  two scaled cosine logits (the two-class softmax logit of spoof, as `SpoofLogit` for AASIST).

The defaults are the values of the OC-softmax paper (which also trains its AM-softmax comparison at scale 20 and
margin 0.9); `models.losses` takes its defaults from here, so head and loss agree unless told otherwise.
"""

import math

import keras
from keras import ops

OC_SOFTMAX_DEFAULTS = {"scale": 20.0, "margin_real": 0.9, "margin_fake": 0.2}
AM_SOFTMAX_DEFAULTS = {"scale": 20.0, "margin": 0.9}

# F.normalize's epsilon, squared: the norm is clamped below at 1e-12 (and the gradient stays finite at 0).
_SQUARED_NORM_FLOOR = 1e-24


def l2_normalize(x, axis=-1):
    """`x / max(||x||, 1e-12)` along `axis`, as `torch.nn.functional.normalize`."""
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), _SQUARED_NORM_FLOOR))


def check_scale(scale, owner):
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{owner}: scale must be a positive finite number, got {scale}")
    return scale


def check_margins(margin_real, margin_fake, owner):
    """OC-softmax margins are cosines: bona fide is pushed above `margin_real`, spoof below `margin_fake`."""
    margin_real, margin_fake = float(margin_real), float(margin_fake)
    if not (-1.0 <= margin_fake < margin_real <= 1.0):
        raise ValueError(
            f"{owner}: margins must satisfy -1 <= margin_fake < margin_real <= 1, "
            f"got margin_real={margin_real}, margin_fake={margin_fake}"
        )
    return margin_real, margin_fake


def cosines_to(embeddings, directions):
    """cos(x, w_k) for each column w_k of `directions`: (batch, dims) -> (batch, k), in float32."""
    return ops.matmul(l2_normalize(ops.cast(embeddings, "float32")), l2_normalize(directions, axis=0))


class CosineScore(keras.layers.Layer):
    """Base of the margin heads' score layers: one float32 spoof logit (batch, 1) computed from cosines."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")  # the logit and the loss on it stay float32 under mixed precision
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package="fakespeech")
class OCSoftmaxScore(CosineScore):
    """OC-softmax scoring: the scaled cosine between an embedding and a learned bona fide direction, as a spoof logit.

    `cos = <x / |x|, w / |w|>`; output `scale * ((margin_real + margin_fake) / 2 - cos)`, shape (batch, 1), float32.
    Bona fide embeddings are trained towards `cos > margin_real`, spoofs towards `cos < margin_fake` (see
    `models.losses.OCSoftmaxLoss`, which must use the same scale and margins); the output is 0 halfway between.

    Args:
        scale: alpha of the paper, the factor on the cosine (20).
        margin_real: m0 of the paper, the bona fide margin (0.9).
        margin_fake: m1 of the paper, the spoof margin (0.2).

    Example:
        >>> layer = OCSoftmaxScore()
        >>> tuple(layer(np.ones((3, 8), "float32")).shape)
        (3, 1)
    """

    def __init__(self, scale=20.0, margin_real=0.9, margin_fake=0.2, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_scale(scale, "OCSoftmaxScore")
        self.margin_real, self.margin_fake = check_margins(margin_real, margin_fake, "OCSoftmaxScore")

    def build(self, input_shape):
        # Only the direction of the centre matters; (dims, 1) so that a matmul gives (batch, 1).
        self.center = self.add_weight(shape=(input_shape[-1], 1), initializer="random_normal", name="center")

    def cosine(self, embeddings):
        """cos(x, w) per example: (batch, dims) -> (batch, 1)."""
        return cosines_to(embeddings, self.center)

    def call(self, embeddings):
        # (batch, dims) -> (batch, 1)
        midpoint = 0.5 * (self.margin_real + self.margin_fake)
        return self.scale * (midpoint - self.cosine(embeddings))

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, margin_real=self.margin_real, margin_fake=self.margin_fake)
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class AMSoftmaxScore(CosineScore):
    """Two-class AM-softmax scoring: scaled cosines to learned bona fide and spoof directions, as one spoof logit.

    `cos_k = <x / |x|, w_k / |w_k|>` for the columns of `centers` (column 0 bona fide, column 1 spoof, the label
    values); output `scale * (cos_1 - cos_0)`, shape (batch, 1), float32. The additive margin is applied by the
    loss (`models.losses.AMSoftmaxLoss`, with the same scale); at inference the margin plays no part.

    Args:
        scale: s, the factor on the cosines (20).

    Example:
        >>> layer = AMSoftmaxScore()
        >>> tuple(layer(np.ones((3, 8), "float32")).shape)
        (3, 1)
    """

    def __init__(self, scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_scale(scale, "AMSoftmaxScore")

    def build(self, input_shape):
        self.centers = self.add_weight(shape=(input_shape[-1], 2), initializer="random_normal", name="centers")

    def cosines(self, embeddings):
        """(batch, dims) -> (batch, 2): cosine to the bona fide (0) and spoof (1) directions."""
        return cosines_to(embeddings, self.centers)

    def call(self, embeddings):
        # (batch, dims) -> (batch, 1)
        cosines = self.cosines(embeddings)
        return self.scale * (cosines[:, 1:2] - cosines[:, 0:1])

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config
