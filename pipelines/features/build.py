"""The feature layer a `FeatureConfig` describes, and its output shape."""

from pipelines.config.stages import FEATURE_KINDS
from pipelines.features.chroma import Chroma
from pipelines.features.deep_voice import DeepVoiceFeatures
from pipelines.features.spectral import LFCC, MFCC, LogMelSpectrogram, LogSpectrogram, Waveform


def _stft_kwargs(cfg):
    return dict(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
                window=cfg.window, center=cfg.center)


def _log_kwargs(cfg):
    return dict(power=cfg.power, log_floor=cfg.log_floor, top_db=cfg.top_db, **_stft_kwargs(cfg))


def build_feature_layer(cfg, name="features"):
    """The feature layer that `cfg` (a `pipelines.config.FeatureConfig`) describes.

    "chroma" uses the STFT fields and a fixed tuning of 0 (librosa's `chroma_stft` semantics otherwise);
    "deep_voice" uses only `sample_rate`: the table is defined by librosa's defaults, one window per clip.
    """
    if cfg.kind == "waveform":
        return Waveform(name=name)
    if cfg.kind == "spectrogram":
        return LogSpectrogram(name=name, **_log_kwargs(cfg))
    if cfg.kind == "logmel":
        return LogMelSpectrogram(n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, name=name, **_log_kwargs(cfg))
    if cfg.kind == "mfcc":
        return MFCC(n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, n_coefficients=cfg.n_coefficients,
                    deltas=cfg.deltas, name=name, **_log_kwargs(cfg))
    if cfg.kind == "lfcc":
        return LFCC(n_filters=cfg.n_filters, fmin=cfg.fmin, fmax=cfg.fmax, n_coefficients=cfg.n_coefficients,
                    deltas=cfg.deltas, name=name, **_log_kwargs(cfg))
    if cfg.kind == "chroma":
        return Chroma(tuning=0.0, name=name, **_stft_kwargs(cfg))
    if cfg.kind == "deep_voice":
        return DeepVoiceFeatures(sample_rate=cfg.sample_rate, single_window=True, name=name)
    raise ValueError(f"FeatureConfig.kind must be one of {FEATURE_KINDS}, got {cfg.kind!r}")


def feature_output_shape(cfg, num_samples):
    """Static output shape of `build_feature_layer(cfg)` for clips of `num_samples`, without the batch axis."""
    if cfg.kind == "deep_voice" and num_samples != cfg.sample_rate:
        raise ValueError(f"features.kind='deep_voice' computes the table of one one-second window: the clip must be "
                         f"features.sample_rate={cfg.sample_rate} samples, got {num_samples} (data.clip_samples)")
    return tuple(build_feature_layer(cfg).compute_output_shape((None, num_samples))[1:])
