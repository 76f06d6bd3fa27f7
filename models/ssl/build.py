"""Builds an `SslBackbone` from a preset name and / or pretrained weights (a converted file or a checkpoint)."""

from models.ssl.backbone import BACKBONE_NAME, SslBackbone
from models.ssl.convert import assign_checkpoint, load_backbone_weights, read_checkpoint, read_sidecar_config
from models.ssl.presets import DEFAULT_PRESET, preset_config


def resolve_backbone_config(preset=None, checkpoint_config=None, overrides=None):
    """The backbone `SslConfig` from a preset name, a checkpoint's config, or both (which must agree).

    Args:
        preset: a name of `models.ssl.presets.BACKBONE_PRESETS`, or None (the checkpoint's architecture, else
            "xls_r_300m").
        checkpoint_config: the `SslConfig` of the pretrained weights, or None.
        overrides: dict of `SslConfig` fields to change last (e.g. dropout rates).

    Raises:
        ValueError: a preset whose architecture differs from the checkpoint's, naming the differing fields.
    """
    if checkpoint_config is not None:
        config = checkpoint_config
        if preset is not None:
            differences = preset_config(preset).architecture_differences(checkpoint_config)
            if differences:
                raise ValueError(
                    f"the pretrained weights are not a {preset!r} backbone: their configuration differs in "
                    f"{differences}; leave the preset out to take the architecture from the weights"
                )
    else:
        config = preset_config(preset or DEFAULT_PRESET)
    return config.replace(**overrides) if overrides else config


def build_backbone(preset=None, input_samples=None, pretrained_weights=None, use_attention_mask=False,
                   trainable_layers=None, gradient_checkpointing=False, name=BACKBONE_NAME, allow_pickle=False,
                   **overrides):
    """Builds an `SslBackbone`, optionally with pretrained weights.

    Args:
        preset: a backbone preset name (`models.ssl.presets.BACKBONE_PRESETS`), or None: the architecture of the
            pretrained weights, else "xls_r_300m".
        input_samples: clip length in samples, or None for any length.
        pretrained_weights: None; a converted Keras `.weights.h5` (its architecture is read from the
            `NAME.ssl_config.json` beside it when present, else it must match `preset`); or a checkpoint (a Hugging
            Face folder with config.json, or a fairseq `.pt`), converted in memory.
        use_attention_mask, trainable_layers, gradient_checkpointing: see `SslBackbone`.
        name: the model name (and the prefix of its variable paths).
        allow_pickle: see `models.ssl.checkpoint.read_checkpoint`.
        **overrides: `SslConfig` fields to change, e.g. `hidden_dropout=0.0`.

    Raises:
        ValueError / CheckpointError: an unknown preset, weights of another architecture than the preset, a bad
            checkpoint (see `models.ssl.convert`).

    Example:
        >>> build_backbone("tiny", input_samples=4000).count_params() > 0
        True
    """
    checkpoint, weights_config = read_pretrained(pretrained_weights, allow_pickle)
    config = resolve_backbone_config(preset, weights_config, overrides)
    backbone = SslBackbone(config, input_samples=input_samples, use_attention_mask=use_attention_mask,
                           trainable_layers=trainable_layers, gradient_checkpointing=gradient_checkpointing, name=name)
    return load_pretrained(backbone, pretrained_weights, checkpoint)


def read_pretrained(pretrained_weights, allow_pickle=False):
    """(checkpoint or None, architecture `SslConfig` or None) of pretrained backbone weights.

    A checkpoint (folder or `.pt`) is read whole; for a converted `.weights.h5` only the architecture stored beside
    it (`NAME.ssl_config.json`, when present) is read, the weights being loaded by `load_pretrained`.
    """
    if pretrained_weights is None:
        return None, None
    if str(pretrained_weights).endswith(".weights.h5"):
        return None, read_sidecar_config(pretrained_weights)
    checkpoint = read_checkpoint(pretrained_weights, allow_pickle=allow_pickle)
    return checkpoint, checkpoint.config


def load_pretrained(backbone, pretrained_weights, checkpoint=None):
    """Loads `checkpoint` (from `read_pretrained`) or the `.weights.h5` at `pretrained_weights` into `backbone`."""
    if checkpoint is not None:
        return assign_checkpoint(backbone, checkpoint)
    if pretrained_weights is not None:
        return load_backbone_weights(backbone, pretrained_weights)
    return backbone
