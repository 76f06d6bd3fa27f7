"""Self-supervised speech front ends in Keras 3: wav2vec 2.0, XLS-R, HuBERT and WavLM, with a checkpoint converter.

    from models.ssl import build_backbone, convert_checkpoint
    backbone = convert_checkpoint("wav2vec2", "path/to/wav2vec2-xls-r-300m")   # Hugging Face folder or fairseq .pt
    outputs = backbone(waveforms)          # {"hidden_states": [...], "last_hidden_state": ...}

Modules: `config` (the architecture dataclass), `presets` (named sizes), `layers` and `backbone` (the model),
`safetensors_io` / `checkpoint` (reading checkpoints), `convert` (mapping tensors to variables), `build`.
"""

from models.ssl.backbone import BACKBONE_NAME, SslBackbone
from models.ssl.build import build_backbone, load_pretrained, read_pretrained, resolve_backbone_config
from models.ssl.checkpoint import read_checkpoint
from models.ssl.config import FAMILIES, SslConfig
from models.ssl.convert import CheckpointError, UnusedTensorsWarning, convert_checkpoint, sidecar_config_path
from models.ssl.presets import BACKBONE_PRESETS, DEFAULT_PRESET, TEST_PRESETS, preset_config

__all__ = [
    "BACKBONE_NAME", "BACKBONE_PRESETS", "CheckpointError", "DEFAULT_PRESET", "FAMILIES", "SslBackbone",
    "SslConfig", "TEST_PRESETS", "UnusedTensorsWarning", "build_backbone", "convert_checkpoint", "load_pretrained",
    "preset_config", "read_checkpoint", "read_pretrained", "resolve_backbone_config", "sidecar_config_path",
]
