"""Fine-tuning pretrained weights: freezing layers (`model.freeze`) and a learning rate of the SSL front end's own.

`model.freeze` names backbone layers, exactly or as `fnmatch` patterns (`"encoder_block_[01]"`). A frozen layer's
weights stay as loaded and a frozen batch normalisation runs in inference mode (Keras 3), keeping the statistics
the published model was trained with: a few hundred files cannot re-estimate them.

The SSL models (`ssl_aasist`, `ssl_linear`) freeze their front end with `model.params.ssl_trainable` ("all",
"none", "top:N" Transformer layers; `models.ssl_heads`), and `train.backbone_learning_rate` gives the front end's
variables (paths under "ssl_backbone/") their own learning rate on the same schedule shape: the optimizer becomes a
Keras `MultiOptimizer` holding one Adam per group, so each group keeps its own moments and its own decoupled weight
decay. (Scaling the front end's gradients before one Adam would not do: Adam's step does not depend on the
gradient's scale.) Both are plain Keras objects, so they run, save and resume on TensorFlow and JAX alike.
"""

import fnmatch
import re

import keras

from models.ssl import BACKBONE_NAME, TEST_PRESETS
from tfrecord_builder.dataclass_config import ConfigError

# The registered models with an SSL front end (models.ssl_heads).
SSL_MODELS = ("ssl_aasist", "ssl_linear")


def freeze_layers(backbone, patterns):
    """Sets `trainable = False` on the backbone's top-level layers that match any of `patterns`.

    Returns:
        The names of the frozen layers, in model order.

    Raises:
        ValueError: a pattern that matches no layer (naming it and the layers there are).
    """
    names = [layer.name for layer in backbone.layers]
    unmatched = [p for p in patterns if not fnmatch.filter(names, p)]
    if unmatched:
        raise ValueError(f"model.freeze: {unmatched} match no layer of {backbone.name!r}; its layers are "
                         f"{', '.join(names)}")
    frozen = []
    for layer in backbone.layers:
        if any(fnmatch.fnmatchcase(layer.name, p) for p in patterns):
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def check_ssl_settings(run_config):
    """Raises ConfigError for SSL settings that cannot work: a backbone learning rate for a model without an SSL
    front end, or an SSL model without pretrained weights (only the test-sized "tiny" preset trains from scratch)."""
    model = run_config.model
    if run_config.train.backbone_learning_rate is not None and model.name not in SSL_MODELS:
        raise ConfigError(f"train.backbone_learning_rate: applies to the SSL front end of {' / '.join(SSL_MODELS)}; "
                          f"model.name is {model.name!r} (use train.learning_rate)")
    if model.name not in SSL_MODELS or model.pretrained_weights:
        return
    if any(model.params.get(key) in TEST_PRESETS for key in ("preset", "ssl_preset")):
        return
    raise ConfigError(
        f"model.pretrained_weights: {model.name} fine-tunes a pretrained self-supervised front end and needs its "
        "checkpoint, which fakespeech never downloads. Get one yourself (e.g. 'huggingface-cli download "
        "facebook/wav2vec2-xls-r-300m --local-dir xls_r_300m'), then pass the folder "
        "(--set model.pretrained_weights=xls_r_300m) or convert it once ('fakespeech convert-weights wav2vec2 "
        "xls_r_300m xls_r_300m.weights.h5') and pass the .weights.h5"
    )


def backbone_train_config(train_config):
    """`train_config` at `backbone_learning_rate`, its floor scaled alike, so both groups follow one schedule shape."""
    ratio = train_config.backbone_learning_rate / train_config.learning_rate
    return train_config.replace(learning_rate=train_config.backbone_learning_rate,
                                min_learning_rate=train_config.min_learning_rate * ratio, backbone_learning_rate=None)


def trainable_backbone_variables(model):
    """The trainable variables of the SSL front end of `model` (anywhere inside it: paths under "ssl_backbone/")."""
    return [v for v in model.trainable_variables if v.path.startswith(BACKBONE_NAME + "/")]


def with_backbone_optimizer(back_end_optimizer, backbone_optimizer, model):
    """One optimizer that applies `backbone_optimizer` to the SSL front end's variables, `back_end_optimizer` to the
    rest; `back_end_optimizer` alone when the front end has nothing to train (frozen, or no SSL model)."""
    if not trainable_backbone_variables(model):
        return back_end_optimizer
    groups = keras.optimizers.OptimizerMap(back_end_optimizer, {f"{re.escape(BACKBONE_NAME)}/.*": backbone_optimizer})
    return keras.optimizers.MultiOptimizer(groups)
