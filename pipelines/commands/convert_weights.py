"""`fakespeech convert-weights FAMILY CHECKPOINT OUT.weights.h5`: published PyTorch weights -> a Keras weights file.

    fakespeech convert-weights aasist AASIST.pth aasist.weights.h5
    fakespeech convert-weights wav2vec2 wav2vec2-xls-r-300m/ xls_r_300m.weights.h5

- `aasist` / `aasist_l`: the clovaai/aasist state dicts (`models.convert.convert`; needs torch). Use the file as
  `models.build("aasist", (64600,), pretrained_weights=OUT)`.
- `wav2vec2` (also XLS-R) / `wavlm` / `hubert`: a Hugging Face folder (config.json + model.safetensors, read without
  torch, or pytorch_model.bin) or a fairseq `.pt` (`models.ssl.convert.convert_checkpoint`). The architecture is the
  checkpoint's own; it is written beside OUT as `NAME.ssl_config.json` (`sidecar_config_path`), so that
  `model.pretrained_weights=OUT` builds the backbone of the right size without naming a preset.

OUT is written atomically (`tfrecord_builder.atomic`) and never replaced unless `--overwrite` is given. A
checkpoint that does not fit (another family or size, a missing or unknown tensor, a truncated file) exits 1 with
the file and the tensors named; a bad argument exits 2.
"""

import argparse
import json
import os
import warnings

from models.convert import VARIANTS as AASIST_VARIANTS
from models.convert import convert as convert_aasist
from models.heads import trainable_parameter_count
from models.ssl import FAMILIES as SSL_FAMILIES
from models.ssl.convert import UnusedTensorsWarning, convert_checkpoint, sidecar_config_path
from pipelines.commands.common import command
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError

PROG = "fakespeech convert-weights"
FAMILIES = tuple(AASIST_VARIANTS) + tuple(SSL_FAMILIES)
WEIGHTS_SUFFIX = ".weights.h5"


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert published PyTorch weights to a Keras .weights.h5: AASIST / AASIST-L state dicts "
        "(clovaai/aasist; needs torch) or wav2vec 2.0 / XLS-R / WavLM / HuBERT checkpoints (a Hugging Face folder "
        "or a fairseq .pt; the architecture is read from the checkpoint and written beside OUT as "
        "NAME.ssl_config.json).",
    )
    parser.add_argument("family", help=f"what the checkpoint holds: one of {', '.join(FAMILIES)}")
    parser.add_argument("checkpoint", help="AASIST.pth, a Hugging Face folder (config.json + model.safetensors or "
                        "pytorch_model.bin) or a fairseq .pt")
    parser.add_argument("out", help="output Keras weights file, ending in .weights.h5")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT (and its .ssl_config.json) if it exists")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="let torch unpickle arbitrary objects from a .pt/.bin (old fairseq checkpoints need it; "
                        "only for files you trust: unpickling can run code)")
    return parser


def check_arguments(args):
    """Refuses, before reading the checkpoint, a bad argument or an existing OUT (ConfigError) and a missing
    checkpoint (FileNotFoundError)."""
    if args.family not in FAMILIES:
        raise ConfigError(f"FAMILY {args.family!r}: unknown; choose from {', '.join(FAMILIES)}")
    if not str(args.out).endswith(WEIGHTS_SUFFIX):
        raise ConfigError(f"OUT {args.out}: must end with {WEIGHTS_SUFFIX} (a Keras weights file)")
    if not os.path.exists(args.checkpoint):
        raise FileNotFoundError(f"CHECKPOINT {args.checkpoint}: no such file or folder")
    if not args.overwrite:
        existing = [p for p in _outputs(args) if os.path.lexists(p)]
        if existing:
            raise ConfigError(f"{existing[0]} already exists; pass --overwrite to replace it")


def _outputs(args):
    return [args.out, sidecar_config_path(args.out)] if args.family in SSL_FAMILIES else [args.out]


def convert_model(args):
    """(converted Keras model (AASIST or `SslBackbone`), notes on the tensors left out); raises ValueError / OSError
    naming the file and the tensors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnusedTensorsWarning)
        model = _convert(args)
    notes = []
    for warning in caught:
        if issubclass(warning.category, UnusedTensorsWarning):
            notes.append(str(warning.message))
        else:  # not ours to silence
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return model, notes


def _convert(args):
    # The weights do not depend on the clip length the model is built for.
    if args.family in AASIST_VARIANTS:
        return convert_aasist(args.family, args.checkpoint)
    return convert_checkpoint(args.family, args.checkpoint, allow_pickle=args.allow_pickle)


def save_converted(model, args):
    """Writes OUT (and for an SSL backbone its architecture beside it) through the one atomic writer."""
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic.atomic_path(args.out, suffix=WEIGHTS_SUFFIX) as temp:  # save_weights infers the format from it
        model.save_weights(temp)
        if args.family in SSL_FAMILIES:
            # Once the weights are complete and just before they appear: neither file is left without the other
            # when saving fails.
            atomic.write_text(sidecar_config_path(args.out), json.dumps(model.config.to_dict(), indent=2) + "\n")


@command(PROG, failures=(ValueError, OSError, ImportError))
def main(argv=None):
    args = _parser().parse_args(argv)
    check_arguments(args)
    model, notes = convert_model(args)
    save_converted(model, args)
    for note in notes:  # pre-training / task-head tensors the backbone does not use
        print(f"note: {note}")
    what = args.family
    if args.family in SSL_FAMILIES:
        config = model.config
        what = f"{config.family}, {config.num_hidden_layers} layers of width {config.hidden_size}"
        print(f"wrote {sidecar_config_path(args.out)} (the architecture)")
    print(f"wrote {args.out}: {what}, {trainable_parameter_count(model):,} parameters")
    return 0
