"""The `fakespeech` console command: the table of subcommands, each a `main(argv) -> int` in its own module."""

import argparse
import importlib
import sys

# name -> (module, function, one-line help). Modules are imported only when their subcommand runs, so
# `fakespeech --help` does not pay for importing TensorFlow.
COMMANDS = {
    "make-corpus": ("pipelines.commands.make_corpus", "main", "generate a synthetic corpus in the ASVspoof2019 layout"),
    "build": ("pipelines.commands.build", "main", "build stratified TFRecord shards from a corpus"),
    "inspect": ("pipelines.commands.inspect", "main", "count utterances per split, label and attack; --verify shards"),
    "models": ("pipelines.commands.models", "main", "list registered models with input kind and parameter count"),
    "convert-weights": ("pipelines.commands.convert_weights", "main",
                        "convert published PyTorch AASIST or wav2vec 2.0 / WavLM / HuBERT weights to Keras"),
    "train": ("pipelines.commands.train", "main", "train a model on shards"),
    "evaluate": ("pipelines.commands.evaluate", "main", "score a split and write the ASVspoof report"),
    "score": ("pipelines.commands.score", "main", "compute the ASVspoof report for an existing score file"),
    "predict": ("pipelines.commands.predict", "main", "score audio files or a stream (default: the shipped AASIST)"),
    "calibrate": ("pipelines.commands.calibrate", "main", "fit a threshold and P(spoof) calibration on dev scores"),
    "serve": ("pipelines.commands.serve", "main", "a local web page and JSON API that score uploaded audio"),
    "export": ("pipelines.commands.export", "main", "export a run as SavedModel or TFLite"),
    "demo": ("pipelines.commands.demo", "main", "generate a corpus, build, train, evaluate: the whole flow"),
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech",
        description="Detect spoofed and deepfake speech: corpora -> TFRecord shards -> Keras models -> ASVspoof metrics.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'fakespeech COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(f"fakespeech {version('fakespeech')}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        parser.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    module_name, function, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module_name), function)
    return int(command(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
