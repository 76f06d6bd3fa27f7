"""Training losses on the registry's one float32 spoof logit: "bce", "ocsoftmax", "amsoftmax".

    loss = get_loss("ocsoftmax", margin_fake=0.3)                  # train.loss and its options
    model = models.build("lcnn", shape, **head_arguments("ocsoftmax", margin_fake=0.3))  # the head it needs
    check_compatible(loss, model)                                   # e.g. for a model loaded from a .keras file

Labels are `y_true` in [0, 1] with 1 = spoof (soft labels, e.g. from MixUp, are the mixture of the two hard-label
losses, `y * L(spoof) + (1 - y) * L(bona fide)`, as MixUp's own criterion). `y_pred` is the model output: for "bce"
any linear logit; for the margin losses the output of the matching `models.margin_heads` layer, whose scale and
margins the loss must share (`head_arguments` builds them from the same values; `check_compatible` verifies).

- OC-softmax (Zhang, You & Duan, IEEE SPL 2021): with `cos` the cosine to the bona fide direction,
  `L = softplus(alpha * (m_real - cos))` for bona fide and `softplus(alpha * (cos - m_fake))` for spoof.
- AM-softmax, two classes (Wang et al., IEEE SPL 2018): cross-entropy of `s * (cos_k - m * [k = label])`, which for
  two classes is `softplus(s * (cos_other - cos_label + m))`.
"""

import keras
from keras import ops

from models.margin_heads import (
    AM_SOFTMAX_DEFAULTS,
    OC_SOFTMAX_DEFAULTS,
    AMSoftmaxScore,
    OCSoftmaxScore,
    check_margins,
    check_scale,
)

LOSSES = ("bce", "ocsoftmax", "amsoftmax")


def _labels_and_outputs(y_true, y_pred, label_smoothing):
    output = ops.cast(y_pred, "float32")  # (batch, 1)
    y = ops.reshape(ops.cast(y_true, "float32"), ops.shape(output))
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y, output


def _check_smoothing(label_smoothing, owner):
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"{owner}: label_smoothing must be in [0, 1), got {label_smoothing}")
    return label_smoothing


@keras.saving.register_keras_serializable(package="fakespeech")
class OCSoftmaxLoss(keras.losses.Loss):
    """One-class softmax loss on the output of `OCSoftmaxScore` (bona fide is the target class).

    The head gives `o = scale * (midpoint - cos)`, so `cos = midpoint - o / scale`; then the paper's
    `softplus(scale * (margin_real - cos))` for bona fide and `softplus(scale * (cos - margin_fake))` for spoof.

    Args:
        scale: alpha of the paper (20); must equal the head's.
        margin_real: m0, the bona fide margin (0.9); must equal the head's.
        margin_fake: m1, the spoof margin (0.2); must equal the head's.
        label_smoothing: moves labels towards 0.5 by this amount, as `BinaryCrossentropy`.
        reduction, name: as `keras.losses.Loss`.

    Example:
        >>> # A bona fide example exactly at the margin (cos = 0.9, so o = 20 * (0.55 - 0.9) = -7): softplus(0).
        >>> round(float(OCSoftmaxLoss()(np.array([[0.0]]), np.array([[-7.0]]))), 4)
        0.6931
    """

    def __init__(
        self,
        scale=OC_SOFTMAX_DEFAULTS["scale"],
        margin_real=OC_SOFTMAX_DEFAULTS["margin_real"],
        margin_fake=OC_SOFTMAX_DEFAULTS["margin_fake"],
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="ocsoftmax_loss",
    ):
        super().__init__(name=name, reduction=reduction)
        self.scale = check_scale(scale, "OCSoftmaxLoss")
        self.margin_real, self.margin_fake = check_margins(margin_real, margin_fake, "OCSoftmaxLoss")
        self.label_smoothing = _check_smoothing(label_smoothing, "OCSoftmaxLoss")

    def call(self, y_true, y_pred):
        y, output = _labels_and_outputs(y_true, y_pred, self.label_smoothing)
        cosine = 0.5 * (self.margin_real + self.margin_fake) - output / self.scale
        bona_fide = ops.softplus(self.scale * (self.margin_real - cosine))
        spoof = ops.softplus(self.scale * (cosine - self.margin_fake))
        return ops.mean(y * spoof + (1.0 - y) * bona_fide, axis=-1)  # (batch,)

    def get_config(self):
        config = super().get_config()  # name, reduction
        config.update(
            scale=self.scale,
            margin_real=self.margin_real,
            margin_fake=self.margin_fake,
            label_smoothing=self.label_smoothing,
        )
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class AMSoftmaxLoss(keras.losses.Loss):
    """Two-class additive-margin softmax loss on the output of `AMSoftmaxScore`.

    The head gives `o = scale * (cos_spoof - cos_bona)`; the margin cross-entropy is then `softplus(scale * margin
    - o)` for spoof and `softplus(o + scale * margin)` for bona fide.

    Args:
        scale: s (20); must equal the head's.
        margin: m, subtracted from the true class's cosine (0.9).
        label_smoothing: moves labels towards 0.5 by this amount, as `BinaryCrossentropy`.
        reduction, name: as `keras.losses.Loss`.

    Example:
        >>> loss = AMSoftmaxLoss()
        >>> float(loss(np.array([[1.0]]), np.array([[40.0]]))) < 1e-3   # cos_spoof - cos_bona = 2 > margin
        True
    """

    def __init__(
        self,
        scale=AM_SOFTMAX_DEFAULTS["scale"],
        margin=AM_SOFTMAX_DEFAULTS["margin"],
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="amsoftmax_loss",
    ):
        super().__init__(name=name, reduction=reduction)
        self.scale = check_scale(scale, "AMSoftmaxLoss")
        self.margin = float(margin)
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"AMSoftmaxLoss: margin must be in [0, 2] (a cosine difference), got {self.margin}")
        self.label_smoothing = _check_smoothing(label_smoothing, "AMSoftmaxLoss")

    def call(self, y_true, y_pred):
        y, output = _labels_and_outputs(y_true, y_pred, self.label_smoothing)
        shift = self.scale * self.margin
        spoof = ops.softplus(shift - output)
        bona_fide = ops.softplus(output + shift)
        return ops.mean(y * spoof + (1.0 - y) * bona_fide, axis=-1)  # (batch,)

    def get_config(self):
        config = super().get_config()  # name, reduction
        config.update(scale=self.scale, margin=self.margin, label_smoothing=self.label_smoothing)
        return config


# The options of each loss; then which head each margin loss trains, and the settings the two must share.
_OPTIONS = {
    "bce": ("label_smoothing",),
    "ocsoftmax": ("scale", "margin_real", "margin_fake", "label_smoothing"),
    "amsoftmax": ("scale", "margin", "label_smoothing"),
}
_HEAD_OF_LOSS = {OCSoftmaxLoss: ("ocsoftmax", OCSoftmaxScore), AMSoftmaxLoss: ("amsoftmax", AMSoftmaxScore)}
_LOSS_OF_HEAD = {layer: name for name, layer in _HEAD_OF_LOSS.values()}
_SHARED_SETTINGS = {OCSoftmaxScore: ("scale", "margin_real", "margin_fake"), AMSoftmaxScore: ("scale",)}


def loss_option_names(name):
    """The options `get_loss(name, ...)` accepts (`train.loss_options` keys, plus `label_smoothing`)."""
    _check_options(name, {})
    return _OPTIONS[name]


def _check_options(name, options):
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ValueError(f"loss {name!r}: unknown options {unknown}; allowed: {', '.join(_OPTIONS[name])}")


def get_loss(name, **options):
    """The loss called `name` ("bce", "ocsoftmax", "amsoftmax") with its `options`.

    "bce" is `BinaryCrossentropy(from_logits=True)` (option `label_smoothing`); "ocsoftmax" takes `scale`,
    `margin_real`, `margin_fake`, `label_smoothing`; "amsoftmax" `scale`, `margin`, `label_smoothing`.

    Raises:
        ValueError: an unknown name or option (naming the allowed ones), or a value out of range.

    Example:
        >>> get_loss("ocsoftmax", margin_fake=0.3).margin_fake
        0.3
    """
    _check_options(name, options)
    if name == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=True, **options)
    return (OCSoftmaxLoss if name == "ocsoftmax" else AMSoftmaxLoss)(**options)


def head_arguments(name, head_options=None, **options):
    """Model keyword arguments (`head`, `head_options`) for the head that loss `name` with `options` trains.

    Args:
        name: a loss of `LOSSES`.
        head_options: the model's own head options to keep (e.g. `{"embedding_units": 128}`); a scale or margin
            given there must equal the loss's.
        **options: the loss options, as for `get_loss` (those the head does not need, like `label_smoothing`,
            are left out).

    Returns:
        `{}` for "bce" (the model keeps its own head), else `{"head": name, "head_options": {...}}`.

    Example:
        >>> head_arguments("amsoftmax", {"embedding_units": 64}, scale=30.0, margin=0.4)
        {'head': 'amsoftmax', 'head_options': {'embedding_units': 64, 'scale': 30.0}}
    """
    _check_options(name, options)
    if name == "bce":
        return {}
    shared = _SHARED_SETTINGS[OCSoftmaxScore if name == "ocsoftmax" else AMSoftmaxScore]
    defaults = OC_SOFTMAX_DEFAULTS if name == "ocsoftmax" else AM_SOFTMAX_DEFAULTS
    from_loss = {key: float(options.get(key, defaults[key])) for key in shared}
    own = dict(head_options or {})
    clashes = {key: own[key] for key in shared if key in own and float(own[key]) != from_loss[key]}
    if clashes:
        raise ValueError(f"head_options {clashes} disagree with the {name} loss options {from_loss}")
    return {"head": name, "head_options": {**own, **from_loss}}


def _score_layers(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, tuple(_LOSS_OF_HEAD)):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_score_layers(layer))
    return found


def check_compatible(loss, model):
    """Raises ValueError when `loss` cannot train `model`'s output: a margin loss needs the matching margin head
    with the same scale (and OC-softmax margins), and a margin head needs its margin loss.

    Nested models (an end-to-end model around a backbone) are searched for the head.
    """
    layers = _score_layers(model)
    head = layers[-1] if layers else None
    if type(loss) not in _HEAD_OF_LOSS:
        if head is not None:
            raise ValueError(
                f"model {model.name!r} ends in {type(head).__name__}; train it with the loss "
                f"{_LOSS_OF_HEAD[type(head)]}, not {loss.name!r}"
            )
        return
    head_name, expected = _HEAD_OF_LOSS[type(loss)]
    if not isinstance(head, expected):
        found = type(head).__name__ if head is not None else "a linear logit"
        raise ValueError(
            f"loss {loss.name!r} needs a model built with head={head_name!r} (models.losses.head_arguments), "
            f"but {model.name!r} ends in {found}"
        )
    different = [key for key in _SHARED_SETTINGS[expected] if getattr(loss, key) != getattr(head, key)]
    if different:
        details = ", ".join(f"{key}: loss {getattr(loss, key)} vs head {getattr(head, key)}" for key in different)
        raise ValueError(f"loss {loss.name!r} and the head of {model.name!r} disagree ({details})")
