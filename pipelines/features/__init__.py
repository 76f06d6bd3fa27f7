"""In-graph audio features as Keras layers: waveform (batch, samples) -> features.

- `spectral`: the STFT layers (`LogSpectrogram`, `LogMelSpectrogram`, `MFCC`, `LFCC`) and `Waveform`.
- `chroma`: `Chroma`, librosa `chroma_stft` semantics, and librosa's tuning estimate.
- `deep_voice`: `DeepVoiceFeatures`, DEEP-VOICE's 26-feature table per one-second window (`DEEP_VOICE_COLUMNS`).
- `filterbanks`: the NumPy constants (windows, mel / linear / chroma filterbanks, DCT, delta kernels).
- `base`: `FeatureLayer`, and how the layers run inside tf.data under either Keras backend.
- `build`: `build_feature_layer(cfg)` and `feature_output_shape(cfg, num_samples)` for a `FeatureConfig`.
"""

from pipelines.features.build import FEATURE_KINDS, build_feature_layer, feature_output_shape
from pipelines.features.chroma import Chroma
from pipelines.features.deep_voice import DEEP_VOICE_COLUMNS, DeepVoiceFeatures
from pipelines.features.filterbanks import WINDOWS, num_frames
from pipelines.features.spectral import LFCC, MFCC, LogMelSpectrogram, LogSpectrogram, Waveform

__all__ = [
    "DEEP_VOICE_COLUMNS", "FEATURE_KINDS", "LFCC", "MFCC", "WINDOWS", "Chroma", "DeepVoiceFeatures",
    "LogMelSpectrogram", "LogSpectrogram", "Waveform", "build_feature_layer", "feature_output_shape", "num_frames",
]
