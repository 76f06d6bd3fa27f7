"""`train.loss` wired into a run: the Keras loss to compile with, and the model head that loss needs.

"bce" is the binary cross-entropy on the spoof logit that every registry model ends in. "ocsoftmax" (Zhang et al.
2021) and "amsoftmax" (Wang et al. 2018) are `models.losses`' margin losses; each needs the model to end in the
matching cosine-scoring head (`models.margin_heads`), still one float32 spoof logit, so evaluation, calibration,
prediction and export treat the run as any other. `train.loss_options` (scale, margins) reach the loss and the
head alike, so the two always agree; a model's own head options (e.g. `embedding_units`) stay its own.
"""

from models import losses
from tfrecord_builder.dataclass_config import ConfigError


def _options(train_config):
    try:
        losses.get_loss(train_config.loss, **train_config.loss_options)  # checks names and ranges
    except ValueError as error:
        raise ConfigError(f"train.loss_options: {error}") from None
    return dict(train_config.loss_options)


def build_loss(train_config):
    """The Keras loss of `train.loss` with `train.loss_options` and `train.label_smoothing`."""
    return losses.get_loss(train_config.loss, label_smoothing=train_config.label_smoothing, **_options(train_config))


def with_loss_head(params, train_config):
    """`model.params` plus the head arguments the loss needs (`head`, `head_options`), merged with the model's own.

    Raises:
        ConfigError: the model's params already choose another head than the loss needs.
    """
    extra = losses.head_arguments(train_config.loss, **_options(train_config))
    if not extra:
        return dict(params)
    chosen = params.get("head", "linear")
    if chosen not in ("linear", extra["head"]):
        raise ConfigError(f"model.params.head={chosen!r} does not fit train.loss={train_config.loss!r}, which trains "
                          f"the {extra['head']!r} head; drop model.params.head")
    head_options = {**dict(params.get("head_options") or {}), **extra["head_options"]}
    return {**params, "head": extra["head"], "head_options": head_options}


def check_loss_fits(loss, model):
    """A model loaded or built elsewhere must end in the head its loss trains (ValueError naming both)."""
    losses.check_compatible(loss, model)
