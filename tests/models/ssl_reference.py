"""Reference models and inputs for the SSL backbone tests: tiny randomly initialised `transformers` models.

Nothing is downloaded: each model is built from a small config, its weights perturbed so that every tensor
(layer norms included) matters, and saved with `save_pretrained` (safetensors) or as a `pytorch_model.bin`.
"""

import json
import os
import pathlib

import numpy as np

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared"
REAL_SPEECH = SHARED / "realdev" / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1032263.flac"  # bona fide, 1.5 s
SAMPLE_RATE = 16000

# Tiny but complete: 7 feature-encoder convolutions of the released models' kernels and strides, 2 layers.
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
# (family, layout) -> config options: post-LN with a group-norm feature encoder (base models), or pre-LN
# ("stable layer norm") with layer norms in the feature encoder (large / XLS-R).
LAYOUTS = {
    "post_ln": dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),
    "pre_ln": dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
}
WAVLM_BUCKETS = dict(num_buckets=32, max_bucket_distance=20)  # small enough that 1 s (49 frames) saturates


def hf_classes(family):
    import transformers

    return {
        "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
        "hubert": (transformers.HubertConfig, transformers.HubertModel),
        "wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
    }[family]


def tiny_hf_model(family, layout, seed=0, **extra):
    """A tiny `transformers` model of `family` in eval mode, every weight perturbed."""
    import torch

    config_class, model_class = hf_classes(family)
    options = {**SMALL, **LAYOUTS[layout], **(WAVLM_BUCKETS if family == "wavlm" else {}), **extra}
    torch.manual_seed(seed)
    model = model_class(config_class(**options)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def save_checkpoint(model, folder, weights_format="safetensors"):
    """Writes a Hugging Face checkpoint folder: config.json + model.safetensors, or + pytorch_model.bin."""
    import torch

    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)  # config.json + model.safetensors
    if weights_format == "bin":
        os.remove(os.path.join(folder, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"))
    return folder


def reference_outputs(model, waveforms, attention_mask=None):
    """(hidden_states list, last_hidden_state) of the PyTorch model, as NumPy."""
    import torch

    with torch.no_grad():
        kwargs = {} if attention_mask is None else {"attention_mask": torch.from_numpy(attention_mask)}
        out = model(torch.from_numpy(waveforms), output_hidden_states=True, **kwargs)
    return [h.numpy() for h in out.hidden_states], out.last_hidden_state.numpy()


def generated_speech_like(samples, batch=1, seed=0):
    """Harmonic tones with a moving pitch plus noise: a signal of speech-like spectrum, without any file."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    clips = []
    for _ in range(batch):
        pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
        voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
        clips.append(0.1 * voiced + 0.01 * rng.standard_normal(samples))
    return np.stack(clips).astype("float32")


def real_speech(samples):
    """The first `samples` of a real bona fide FLAC of ../shared/realdev (None when the corpus is absent)."""
    if not REAL_SPEECH.is_file():
        return None
    import soundfile as sf

    audio, rate = sf.read(str(REAL_SPEECH), dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    return audio[None, :samples]


def write_json(path, values):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(values, file)


def separable_batch(batch=16, samples=4000, seed=0):
    """Half bona fide (label 0), half spoof (label 1, with an added 2 kHz tone), as float32 waveforms."""
    rng = np.random.default_rng(seed)
    labels = np.tile([0.0, 1.0], batch // 2).astype("float32")
    tone = 0.3 * np.sin(2 * np.pi * 2000 * np.arange(samples) / SAMPLE_RATE)
    x = 0.1 * rng.standard_normal((batch, samples)) + labels[:, None] * tone
    return x.astype("float32"), labels[:, None]


def train_losses(model, steps=30):
    """Per-step losses of `steps` Adam steps on one `separable_batch` (the backend is Keras' current one)."""
    import keras

    x, y = separable_batch(samples=model.input_shape[1])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return [float(model.train_on_batch(x, y)) for _ in range(steps)]
