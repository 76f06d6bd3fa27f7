"""Named backbone sizes: the architectures of the public checkpoints, as `SslConfig` keyword arguments.

They let a model be built (and its parameter count read) without a checkpoint; when weights are loaded from a
checkpoint, its own configuration decides the architecture and must agree with the preset (see
`models.ssl.backbone.build_backbone`). Dropout rates are those of each checkpoint's Hugging Face configuration.

`tiny` is a test-sized model (XLS-R layout: layer-norm feature encoder, pre-layer-norm Transformer) for unit tests
and smoke runs; it is listed in `TEST_PRESETS` so that listings can leave it out.
"""

from models.ssl.config import SslConfig

_STANDARD_CONV = {"conv_dim": (512,) * 7, "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}
_BASE = {**_STANDARD_CONV, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "feat_extract_norm": "group", "conv_bias": False, "do_stable_layer_norm": False}
_LARGE = {**_STANDARD_CONV, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
          "intermediate_size": 4096, "feat_extract_norm": "layer", "conv_bias": True, "do_stable_layer_norm": True}
_DROPOUT = {"hidden_dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "feat_proj_dropout": 0.1,
            "layerdrop": 0.1}

BACKBONE_PRESETS = {
    # facebook/wav2vec2-base: 95 M parameters, LibriSpeech 960 h.
    "wav2vec2_base": {"family": "wav2vec2", **_BASE, **_DROPOUT, "activation_dropout": 0.0, "layerdrop": 0.05},
    # facebook/wav2vec2-large-lv60: 317 M, Libri-Light 60 kh; the layer-norm / pre-LN layout of large models.
    "wav2vec2_large": {"family": "wav2vec2", **_LARGE, **_DROPOUT},
    # facebook/wav2vec2-xls-r-300m: 128 languages, 436 kh; the front end of SSL-AASIST (Tak et al. 2022).
    "xls_r_300m": {"family": "wav2vec2", **_LARGE, **_DROPOUT},
    # facebook/wav2vec2-xls-r-1b: 965 M.
    "xls_r_1b": {"family": "wav2vec2", **_LARGE, **_DROPOUT, "hidden_size": 1280, "num_hidden_layers": 48,
                 "intermediate_size": 5120},
    # microsoft/wavlm-base-plus: 95 M, 94 kh.
    "wavlm_base_plus": {"family": "wavlm", **_BASE, **_DROPOUT, "num_buckets": 320, "max_bucket_distance": 800},
    # microsoft/wavlm-large: 317 M, 94 kh (no convolution bias, unlike the other large models).
    "wavlm_large": {"family": "wavlm", **_LARGE, **_DROPOUT, "conv_bias": False, "num_buckets": 320,
                    "max_bucket_distance": 800},
    # facebook/hubert-base-ls960: 95 M.
    "hubert_base": {"family": "hubert", **_BASE, **_DROPOUT},
    # facebook/hubert-large-ll60k: 317 M.
    "hubert_large": {"family": "hubert", **_LARGE, **_DROPOUT},
    # Test-sized: 2 layers of width 32 on a 16-channel feature encoder (a few thousand parameters).
    "tiny": {"family": "wav2vec2", **_STANDARD_CONV, "conv_dim": (16,) * 7, "hidden_size": 32,
             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "feat_extract_norm": "layer",
             "conv_bias": True, "do_stable_layer_norm": True, "num_conv_pos_embeddings": 16,
             "num_conv_pos_embedding_groups": 4, "hidden_dropout": 0.0, "attention_dropout": 0.0,
             "activation_dropout": 0.0, "feat_proj_dropout": 0.0, "layerdrop": 0.0},
}
TEST_PRESETS = ("tiny",)
DEFAULT_PRESET = "xls_r_300m"


def preset_config(name):
    """The `SslConfig` of a named preset; a clear error lists the names."""
    if name not in BACKBONE_PRESETS:
        raise ValueError(f"unknown SSL backbone preset {name!r}; choose from {', '.join(BACKBONE_PRESETS)}")
    return SslConfig(**BACKBONE_PRESETS[name])
