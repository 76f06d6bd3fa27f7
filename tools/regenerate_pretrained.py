"""Regenerates the shipped pretrained weight files (models/pretrained/*.weights.h5) from the published checkpoints.

    python tools/regenerate_pretrained.py [--source ../shared/aasist] [--check]

For each preset of `models.pretrained.PRETRAINED`: checks the SHA-256 of its published `.pth` (clovaai/aasist,
MIT) against the one recorded in the preset, converts it with fakespeech's own converter (`models.convert.convert`,
which writes nothing) and saves the Keras weights in place of the shipped file (atomically). `--check` writes
nothing and instead compares the shipped file with a fresh conversion, tensor by tensor.

Needs torch (the `torch` extra) to read the `.pth` files; the shipped files are read without it.
"""

import argparse
import os
import sys

import numpy as np

from models.convert import convert
from models.heads import trainable_parameter_count
from models.pretrained import PRETRAINED
from models.registry import build
from tfrecord_builder import atomic

DEFAULT_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "aasist")


def source_checkpoint(preset, source_dir):
    """The path of `preset`'s published checkpoint in `source_dir`, after checking its SHA-256."""
    path = os.path.join(source_dir, preset.source_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the published {preset.source_file} is not there (--source)")
    digest = atomic.file_sha256(path)
    if digest != preset.source_sha256:
        raise ValueError(f"{path}: SHA-256 {digest} is not the published file's {preset.source_sha256}")
    return path


def differing_weights(preset, fresh):
    """Paths of the variables where the shipped weight file differs from the freshly converted model."""
    shipped = build(preset.architecture, pretrained=preset.name)
    return [a.path for a, b in zip(shipped.weights, fresh.weights)
            if a.shape != b.shape or not np.array_equal(np.asarray(a), np.asarray(b))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="folder holding AASIST.pth and AASIST-L.pth")
    parser.add_argument("--check", action="store_true", help="compare with a fresh conversion; write nothing")
    args = parser.parse_args(argv)
    failed = False
    for preset in PRETRAINED.values():
        model = convert(preset.architecture, source_checkpoint(preset, args.source), preset.input_samples)
        if args.check:
            differing = differing_weights(preset, model)
            failed = failed or bool(differing)
            print(f"{preset.name}: {'differs in ' + ', '.join(differing) if differing else 'equal'}")
            continue
        with atomic.atomic_path(preset.weights_path, suffix=".weights.h5") as temp:
            model.save_weights(temp)
        print(f"wrote {preset.weights_path}: {preset.architecture}, {trainable_parameter_count(model):,} "
              f"parameters, {os.path.getsize(preset.weights_path):,} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
