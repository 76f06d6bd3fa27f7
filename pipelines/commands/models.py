"""`fakespeech models`: a table of the registered models, their input kind, parameter count and public presets.

Presets a model registers as hidden (test-only sizes such as "tiny") are not listed; `--preset NAME` still builds
them by name. `--card NAME` prints the model card of a shipped pretrained model.
"""

import argparse

import models
from models.heads import trainable_parameter_count
from models.pretrained import PRETRAINED, get_pretrained
from pipelines.commands.common import command
from tfrecord_builder.dataclass_config import ConfigError

DEFAULT_FEATURE_SHAPE = (400, 80)  # 4 s of 10 ms frames, 80 bins
DEFAULT_WAVEFORM_SAMPLES = 64600  # ~4 s at 16 kHz, the AASIST clip length


def _shape(text):
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape {text!r}: expected comma-separated integers like 400,80")
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"--input-shape {text!r}: dimensions must be positive")
    return shape


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech models", description="List registered models with input kind and parameter count."
    )
    parser.add_argument(
        "--input-shape",
        type=_shape,
        default=DEFAULT_FEATURE_SHAPE,
        help="feature shape without batch, e.g. 400,80 (time, bins); used by feature and vector models",
    )
    parser.add_argument(
        "--waveform-samples", type=int, default=DEFAULT_WAVEFORM_SAMPLES, help="input length of waveform models"
    )
    parser.add_argument("--name", action="append", help="only this model (repeatable); default: all")
    parser.add_argument("--preset", help="build each model with this named size preset (see the presets column)")
    parser.add_argument("--card", metavar="NAME", help="print the model card of a shipped pretrained model and exit")
    return parser


def model_rows(names, feature_shape, waveform_samples, preset=None):
    """Returns [(name, input kind, input shape, (all, trainable) parameter counts or None, error or "", public
    presets)] per model."""
    rows = []
    for name in names:
        entry = models.get_entry(name)
        shape = (waveform_samples,) if entry.input_kind == "waveform" else tuple(feature_shape)
        config = {} if preset is None else {"preset": preset}
        try:
            model = models.build(name, shape, **config)
            count, error = (model.count_params(), trainable_parameter_count(model)), ""
        except Exception as exc:  # a model that cannot take this shape must not hide the others
            count, error = None, f"{type(exc).__name__}: {exc}".splitlines()[0]
        rows.append((name, entry.input_kind, shape, count, error, entry.presets))
    return rows


def print_card(name):
    try:
        preset = get_pretrained(name)
    except ValueError as error:
        raise ConfigError(f"--card: {error}") from None
    print(preset.card(), end="")
    return 0


@command("fakespeech models")
def main(argv=None):
    """Prints name, input kind, input shape, parameter counts and public presets of each registered model; returns 1
    if any fails to build, 2 for an unknown --name or --card."""
    args = _parser().parse_args(argv)
    if args.card:
        return print_card(args.card)
    names = args.name or models.available()
    unknown = [name for name in names if name not in models.available()]
    if unknown:
        raise ConfigError(f"--name {unknown[0]!r}: unknown model; available: {', '.join(models.available())}")
    rows = model_rows(names, args.input_shape, args.waveform_samples, args.preset)
    # Papers count trainable parameters (AASIST's 297,866); batch-norm statistics are in the total.
    print(f"{'name':<14} {'input kind':<10} {'input shape':<14} {'presets':<28} {'parameters':>12} {'trainable':>12}")
    for name, kind, shape, count, error, presets in rows:
        shown = f"{count[0]:>12,} {count[1]:>12,}" if count is not None else f"{'-':>12}  build failed: {error}"
        print(f"{name:<14} {kind:<10} {str(shape):<14} {','.join(presets) or '-':<28} {shown}")
    shipped = ", ".join(f"{preset.name} ({preset.architecture})" for preset in PRETRAINED.values())
    print(f"shipped pretrained models (models.build(ARCH, pretrained=NAME); --card NAME): {shipped}")
    return 1 if any(row[4] for row in rows) else 0
