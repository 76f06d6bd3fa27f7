"""One module per `fakespeech` subcommand, each with `main(argv) -> int`."""
