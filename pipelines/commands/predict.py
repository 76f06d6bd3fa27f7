"""`fakespeech predict [--model NAME | --run DIR] AUDIO...`: score audio files, folders or a live stream.

With neither `--model` nor `--run` the shipped AASIST (`models.pretrained.DEFAULT_PRETRAINED`) scores: no training,
no download. The form of fakespeech 0.1, a run directory (or `.keras` file) as the first argument
(`fakespeech predict runs/lcnn clip.wav`), is still read as `--run runs/lcnn`.
"""

import argparse
import os
import sys
import warnings

from models.pretrained import ALIASES, DEFAULT_PRETRAINED, available_pretrained
from pipelines.commands.common import EXIT_FAILURE, command, error
from pipelines.run_dir import CONFIG_FILE
from pipelines.serve import formats
from pipelines.serve.detector import Detector
from pipelines.serve.prediction import ShortAudioWarning, check_pool
from pipelines.serve.stream import SAMPLE_FORMATS, PcmFormat, pcm_chunks, wav_stream_format
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError

STREAM_FORMATS = ("auto", "wav", "raw")


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech predict",
        description=(
            "Score audio files (any format libsndfile reads, any rate and channel count) or a live stream. "
            f"Without --model or --run the shipped AASIST ({DEFAULT_PRETRAINED}, trained on ASVspoof 2019 LA; "
            "'fakespeech models --card NAME' describes it) scores. Scores are -logit: higher = more bona fide. "
            "A shipped model's p_spoof is its own two-class softmax and a file is 'spoof' when p_spoof > 0.5; a "
            "run decides at its dev EER threshold (calibration.json), or at 0 (logit 0) when uncalibrated; "
            "--calibration replaces either."
        ),
        epilog="The first argument may also be a run directory or .keras file (the older form): it is --run.",
    )
    parser.add_argument("audio", nargs="*", help="audio files and folders (searched recursively)")
    source = parser.add_mutually_exclusive_group()
    names = ", ".join(available_pretrained() + sorted(ALIASES))
    source.add_argument("--model", help=f"a shipped pretrained model: {names} (default: {DEFAULT_PRETRAINED})")
    source.add_argument("--run", help="a trained run directory, or a .keras file with the run's config.json beside it")
    parser.add_argument("--calibration", help="a calibration.json from 'fakespeech calibrate' (threshold and p_spoof)")
    parser.add_argument("--window", type=float, help="window length in seconds (default: the model's clip length)")
    parser.add_argument("--hop", type=float, help="hop between windows in seconds (default: the window)")
    parser.add_argument(
        "--pool", default="mean",
        help="how window scores become a file's score: mean, max, min or pNN (percentile). All on the "
        "bona-fide-high scale: 'min' takes the most spoof-like window (default: mean)",
    )
    parser.add_argument("--batch-size", type=int, default=32,
                        help="at most this many windows per model call (default: 32; fewer for fewer windows)")
    parser.add_argument("--format", choices=formats.FORMATS, default="table",
                        help="output format; 'scores' writes 'UTT SCORE' lines for 'fakespeech calibrate'")
    parser.add_argument("--output", help="write the output to this file (atomically) instead of stdout")
    parser.add_argument("--timeline", action="store_true", help="include per-window scores")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    stream = parser.add_argument_group(
        "streaming",
        "--stream - reads audio from standard input (or a file or FIFO) and prints a line per window as soon as "
        "its last sample has arrived: the first after one window (4.04 s for AASIST), then one per hop, each "
        "plus the model's time for one window; then the pooled verdict. Memory stays bounded. The stream must "
        "be at the model's rate (16 kHz for AASIST); resample first, e.g. "
        "'ffmpeg -i IN -f wav -ac 1 -ar 16000 - | fakespeech predict --stream -'.",
    )
    stream.add_argument("--stream", metavar="SOURCE", help="'-' for standard input, or a file or FIFO")
    stream.add_argument("--stream-format", choices=STREAM_FORMATS, default="auto",
                        help="wav (a RIFF header first), raw PCM, or auto: wav when the stream starts with RIFF")
    stream.add_argument("--rate", type=int, help="raw PCM: sample rate in Hz (default: the model's, 16000)")
    stream.add_argument("--sample-format", choices=tuple(SAMPLE_FORMATS), default="s16le",
                        help="raw PCM: little-endian sample format (default: s16le)")
    stream.add_argument("--channels", type=int, default=1, help="raw PCM: interleaved channels (default: 1)")
    return parser


def is_run(path):
    """Whether `path` names a run (a folder with config.json, or a .keras file): the older first-argument form."""
    return os.path.isfile(os.path.join(path, CONFIG_FILE)) or (path.endswith(".keras") and os.path.isfile(path))


def check_output(path):
    """`--output` is checked before any scoring, so that a bad path never costs the results."""
    if os.path.isdir(path):
        raise ConfigError(f"--output {path}: is a folder; give a file name, e.g. {os.path.join(path, 'scores.csv')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"--output {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--output {path}: the folder {folder} is not writable")


def _check_args(args):
    """(run or None, audio paths) after every check that needs no model."""
    run, audio = args.run, list(args.audio)
    if run is None and args.model is None and audio and is_run(audio[0]):
        run, audio = audio[0], audio[1:]
    check_pool(args.pool)
    if args.stream is not None:
        if audio:
            raise ConfigError("give AUDIO files or --stream, not both")
        if args.output or args.format == "scores":
            raise ConfigError("--stream prints each window as it is scored: redirect standard output instead of "
                              "--output, and use --format table, csv or json")
        if args.stream != "-" and not os.path.exists(args.stream):
            raise ConfigError(f"--stream {args.stream}: no such file or FIFO (use '-' for standard input)")
    elif not audio:
        raise ConfigError("no audio: give audio files or folders, or --stream - to read standard input")
    if args.calibration and not os.path.isfile(args.calibration):
        raise ConfigError(f"--calibration {args.calibration}: no such file")
    if args.output:
        check_output(args.output)
    return run, audio


class _Prefixed:
    """A binary stream with bytes already read from it put back in front (for sniffing the WAV header)."""

    def __init__(self, prefix, stream):
        self.prefix, self.stream = prefix, stream

    def read(self, size):
        head, self.prefix = self.prefix[:size], self.prefix[size:]
        return head + (self.stream.read(size - len(head)) if size > len(head) else b"")


def stream_chunks(binary, args, sample_rate):
    """Mono float32 chunks from a raw PCM or WAV binary stream, checked against the model's rate."""
    kind = args.stream_format
    if kind == "auto":
        prefix = binary.read(4)
        binary = _Prefixed(prefix, binary)
        kind = "wav" if prefix == b"RIFF" else "raw"
    if kind == "wav":
        pcm_format = wav_stream_format(binary)
    else:
        pcm_format = PcmFormat(args.rate or sample_rate, args.sample_format, args.channels)
    if pcm_format.sample_rate != sample_rate:
        raise ValueError(f"the stream is at {pcm_format.sample_rate} Hz and the model takes {sample_rate} Hz: "
                         f"resample first, e.g. ffmpeg -i IN -f wav -ac 1 -ar {sample_rate} - | "
                         "fakespeech predict --stream -")
    return pcm_chunks(binary, pcm_format)


def _predict_stream(detector, args, header):
    # The stream (and its traced scorer) exists before the header line, so that a feeder that starts on it finds
    # the model ready for the first window.
    window_stream = detector.stream(window=args.window, hop=args.hop, pool=args.pool)
    out = sys.stdout

    def emit(item):
        out.write(formats.stream_line(item, args.format))
        out.flush()  # a line per window as it is scored, even into a pipe

    out.write(formats.stream_header({**header, "stream": args.stream}, args.format))
    out.flush()
    opened = sys.stdin.buffer if args.stream == "-" else open(args.stream, "rb")
    try:
        for chunk in stream_chunks(opened, args, detector.sample_rate):
            for item in window_stream.push(chunk):
                emit(item)
    finally:
        if opened is not sys.stdin.buffer:
            opened.close()
    last, summary = window_stream.finish()
    for item in last + [{"summary": summary}]:
        emit(item)
    return 0


def _report_problems(results):
    for result in results:
        if "error" in result:
            error("fakespeech predict", f"{result['path']}: {result['error']}")
        if "warning" in result:
            print(f"fakespeech predict: warning: {result['warning']}", file=sys.stderr)


@command("fakespeech predict")
def main(argv=None):
    args = _parser().parse_args(argv)
    run, audio = _check_args(args)
    detector = Detector(args.model, run=run, calibration=args.calibration, batch_size=args.batch_size)
    header = detector.header(args.window, args.hop, args.pool)
    if "note" in header:
        print(f"fakespeech predict: note: {header['note']}", file=sys.stderr)
    if args.stream is not None:
        return _predict_stream(detector, args, header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortAudioWarning)  # reported below from each result, one line each
        results = detector.predict(audio, window=args.window, hop=args.hop, pool=args.pool, progress=not args.quiet)
    _report_problems(results)
    text = formats.render(results, header, args.format, args.timeline)
    if args.output:
        atomic.write_text(args.output, text)
    else:
        sys.stdout.write(text)
    # The others' results are written above; a file that could not be scored still fails the command.
    return EXIT_FAILURE if any("error" in result for result in results) else 0
