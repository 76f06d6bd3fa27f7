"""The architecture of a wav2vec 2.0 / HuBERT / WavLM backbone as one frozen, validated dataclass.

Field names are those of the Hugging Face configurations (`Wav2Vec2Config`, `HubertConfig`, `WavLMConfig`), so a
checkpoint's `config.json` maps onto `SslConfig` key for key (`SslConfig.from_hf_config`); fairseq checkpoints are
translated in `models.ssl.checkpoint`. Defaults are those of `Wav2Vec2Config` (the wav2vec 2.0 base layout).
"""

import dataclasses
import math

FAMILIES = ("wav2vec2", "hubert", "wavlm")
FEATURE_NORMS = ("group", "layer")
ACTIVATIONS = ("gelu", "relu", "swish", "silu", "gelu_new", "tanh")


@dataclasses.dataclass(frozen=True)
class SslConfig:
    """Architecture and regularisation of a self-supervised speech backbone.

    Args:
        family: "wav2vec2", "hubert" (the wav2vec 2.0 encoder, other pre-training) or "wavlm" (adds the gated
            relative position bias).
        conv_dim, conv_kernel, conv_stride: channels, kernel sizes and strides of the convolutional feature encoder.
        conv_bias: whether its convolutions have a bias.
        feat_extract_norm: "group" (one per-channel group norm after the first convolution: base models) or
            "layer" (a layer norm after every convolution: large / XLS-R).
        feat_extract_activation: activation of the feature encoder and the positional convolution.
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size: Transformer sizes.
        hidden_act: activation of the feed-forward blocks.
        layer_norm_eps: epsilon of the Transformer's layer norms.
        do_stable_layer_norm: pre-layer-norm Transformer (large / XLS-R) instead of post-layer-norm (base).
        num_conv_pos_embeddings, num_conv_pos_embedding_groups: kernel size and groups of the convolutional
            relative position embedding.
        feat_proj_layer_norm: whether the feature projection starts with a layer norm (HuBERT may omit it).
        num_buckets, max_bucket_distance: WavLM's relative position buckets.
        hidden_dropout, attention_dropout, activation_dropout, feat_proj_dropout, layerdrop: training-time
            regularisation (taken from the checkpoint's configuration; they do not change the weights).

    Example:
        >>> SslConfig(family="wavlm", hidden_size=32, num_attention_heads=4).head_dim
        8
    """

    family: str = "wav2vec2"
    conv_dim: tuple = (512,) * 7
    conv_kernel: tuple = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    do_stable_layer_norm: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    feat_proj_layer_norm: bool = True
    num_buckets: int = 320
    max_bucket_distance: int = 800
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    feat_proj_dropout: float = 0.0
    layerdrop: float = 0.0

    def __post_init__(self):
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        _check_choice("family", self.family, FAMILIES)
        _check_choice("feat_extract_norm", self.feat_extract_norm, FEATURE_NORMS)
        _check_choice("feat_extract_activation", self.feat_extract_activation, ACTIVATIONS)
        _check_choice("hidden_act", self.hidden_act, ACTIVATIONS)
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) >= 1):
            raise ValueError(
                f"SslConfig: conv_dim, conv_kernel and conv_stride need one entry per convolution, got lengths "
                f"{len(self.conv_dim)}, {len(self.conv_kernel)}, {len(self.conv_stride)}"
            )
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "num_buckets",
                     "max_bucket_distance"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SslConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if min(self.conv_dim + self.conv_kernel + self.conv_stride) < 1:
            raise ValueError("SslConfig: conv_dim, conv_kernel and conv_stride must be positive integers")
        if self.max_bucket_distance <= self.num_buckets // 4:
            # Log-spaced buckets start at num_buckets // 4 and saturate at max_bucket_distance.
            raise ValueError(
                f"SslConfig.max_bucket_distance={self.max_bucket_distance} must exceed num_buckets // 4 = "
                f"{self.num_buckets // 4}"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"SslConfig.hidden_size={self.hidden_size} is not divisible by num_attention_heads="
                f"{self.num_attention_heads}"
            )
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(
                f"SslConfig.hidden_size={self.hidden_size} is not divisible by num_conv_pos_embedding_groups="
                f"{self.num_conv_pos_embedding_groups}"
            )
        for name in ("hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "layerdrop"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and 0.0 <= value < 1.0):
                raise ValueError(f"SslConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not (math.isfinite(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ValueError(f"SslConfig.layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}")

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    @property
    def total_stride(self):
        return math.prod(self.conv_stride)

    def frames(self, samples):
        """Number of feature frames for `samples` input samples (the convolution length formula), or None."""
        if samples is None:
            return None
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            samples = (samples - kernel) // stride + 1
        return samples

    def min_samples(self):
        """The shortest input that yields one feature frame."""
        samples = 1
        for kernel, stride in reversed(list(zip(self.conv_kernel, self.conv_stride))):
            samples = (samples - 1) * stride + kernel
        return samples

    def to_dict(self):
        values = dataclasses.asdict(self)
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            values[name] = list(values[name])
        return values

    @classmethod
    def from_dict(cls, values, where="SslConfig"):
        """Builds a config from a mapping, rejecting unknown keys by name."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected a mapping of SslConfig fields, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{where}: unknown SslConfig key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**values)

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes}, where="SslConfig.replace")

    def architecture_differences(self, other):
        """Names of the fields that change the weights' shapes or meaning (not the dropout rates)."""
        regularisation = {"hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "layerdrop"}
        return [
            field.name
            for field in dataclasses.fields(self)
            if field.name not in regularisation and getattr(self, field.name) != getattr(other, field.name)
        ]

    def to_hf_config(self):
        """The equivalent Hugging Face config mapping (with `model_type`), e.g. to build a PyTorch reference."""
        values = self.to_dict()
        values["model_type"] = values.pop("family")
        if self.family != "hubert":
            values.pop("feat_proj_layer_norm")
        if self.family != "wavlm":
            values.pop("num_buckets")
            values.pop("max_bucket_distance")
        values["num_feat_extract_layers"] = len(self.conv_dim)
        return values

    @classmethod
    def from_hf_config(cls, hf_config, where="config.json"):
        """Translates a Hugging Face `config.json` mapping (wav2vec2, hubert or wavlm) into an `SslConfig`.

        Raises:
            ValueError: another `model_type`, or an option this backbone does not implement (adapters, HuBERT's
                batch-normalised positional convolution), naming the key and `where`.
        """
        model_type = hf_config.get("model_type")
        if model_type not in FAMILIES:
            raise ValueError(
                f"{where}: model_type {model_type!r} is not a supported self-supervised backbone; "
                f"supported: {', '.join(FAMILIES)}"
            )
        unsupported = {
            "add_adapter": bool(hf_config.get("add_adapter")),
            "adapter_attn_dim": hf_config.get("adapter_attn_dim") is not None,
            "conv_pos_batch_norm": bool(hf_config.get("conv_pos_batch_norm")),
        }
        used = sorted(key for key, present in unsupported.items() if present)
        if used:
            raise ValueError(f"{where}: option(s) {used} are not implemented by the Keras backbone")
        names = {field.name for field in dataclasses.fields(cls)} - {"family"}
        values = {name: hf_config[name] for name in names if name in hf_config}
        if model_type != "hubert":
            values["feat_proj_layer_norm"] = True  # only HuBERT may leave the feature projection's norm out
        if model_type != "wavlm":
            values.pop("num_buckets", None)
            values.pop("max_bucket_distance", None)
        try:
            return cls(family=model_type, **values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"SslConfig.{name} must be one of {choices}, got {value!r}")
