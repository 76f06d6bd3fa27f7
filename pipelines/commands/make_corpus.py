"""`fakespeech make-corpus OUT`: write a synthetic corpus in the ASVspoof2019 layout (or another corpus's)."""

import argparse
import collections
import time

from pipelines.commands.common import command
from tfrecord_builder.synthetic import layout, other_corpora
from tfrecord_builder.synthetic.staging import check_output_folder, write_corpus


def _counts(text):
    """`B:S` -> (bona fide, spoof) utterance counts."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected BONAFIDE:SPOOF counts like 20:60, got {text!r}")
    return int(parts[0]), int(parts[1])


def _splits(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in layout.SPLITS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(layout.SPLITS)}, got {text!r}")
    return names


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


OTHER_LAYOUTS = {
    "for": other_corpora.generate_for,
    "deep-voice": other_corpora.generate_deep_voice,
    "wavefake": other_corpora.generate_wavefake,
    "in-the-wild": other_corpora.generate_in_the_wild,
    "folders": other_corpora.generate_class_folders,
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech make-corpus",
        description="Generate a synthetic corpus (speech-like bona fide audio, one processing per attack id) "
                    "as 16 kHz 16-bit FLAC files with CM protocols, in the exact ASVspoof2019 layout.",
    )
    parser.add_argument("out", metavar="OUT", help="output folder; the corpus goes in OUT/LA (or OUT/LA/LA for kaggle)")
    parser.add_argument("--corpus", choices=("asvspoof2019", *OTHER_LAYOUTS), default="asvspoof2019",
                        help="asvspoof2019 (default; the options below), or a miniature copy of another corpus's "
                             "layout for 'fakespeech build --corpus': " + ", ".join(OTHER_LAYOUTS))
    parser.add_argument("--track", choices=layout.TRACKS, default="LA", help="LA: TTS/VC attacks; PA: replay (default LA)")
    parser.add_argument("--layout", choices=layout.LAYOUTS, default="official",
                        help="official: OUT/LA/ASVspoof2019_LA_*; kaggle: OUT/LA/LA/ASVspoof2019_LA_* (default official)")
    for split, (bona, spoof) in layout.DEFAULT_COUNTS.items():
        parser.add_argument(f"--{split}", type=_counts, default=(bona, spoof), metavar="B:S",
                            help=f"bona fide:spoof utterances in {split} (default {bona}:{spoof})")
    parser.add_argument("--splits", type=_splits, default=list(layout.SPLITS), metavar="LIST",
                        help="comma-separated splits to write (default train,dev,eval)")
    parser.add_argument("--min-seconds", type=_positive, default=1.0, metavar="S", help="shortest utterance (default 1.0)")
    parser.add_argument("--max-seconds", type=_positive, default=3.0, metavar="S", help="longest utterance (default 3.0)")
    parser.add_argument("--sample-rate", type=int, default=16000, metavar="HZ", help="samples per second (default 16000)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="the same seed writes the same bytes (default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a corpus an earlier make-corpus wrote in OUT (files it did not write are never "
                             "touched; without this flag a non-empty OUT is refused)")
    return parser


@command("fakespeech make-corpus")
def main(argv=None):
    """Entry point of `fakespeech make-corpus`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.min_seconds > args.max_seconds:
        parser.error(f"--min-seconds {args.min_seconds} is above --max-seconds {args.max_seconds}")
    if args.sample_rate < 4000:
        parser.error(f"--sample-rate must be at least 4000, got {args.sample_rate}")
    check_output_folder(args.out, args.overwrite)
    return _generate(args)


def _generate(args):
    start = time.perf_counter()
    description = {"options": {k: v for k, v in vars(args).items() if k not in ("out", "overwrite")}}
    if args.corpus != "asvspoof2019":
        out = write_corpus(args.out, lambda staging: OTHER_LAYOUTS[args.corpus](staging, seed=args.seed),
                           description)
        print(f"wrote a miniature {args.corpus} corpus to {out} in {time.perf_counter() - start:.1f} s "
              f"(build it with: fakespeech build --corpus {args.corpus} --data {out} --out DIR)")
        return 0
    counts = {split: getattr(args, split) for split in args.splits}
    out = write_corpus(args.out, lambda staging: layout.generate_asvspoof2019(
        staging, track=args.track, layout=args.layout, counts=counts, min_seconds=args.min_seconds,
        max_seconds=args.max_seconds, sample_rate=args.sample_rate, seed=args.seed,
    ), description)
    root = layout.corpus_root(out, args.track, args.layout)
    print(f"wrote {args.track} corpus ({args.layout} layout) to {root} in {time.perf_counter() - start:.1f} s")
    for split in layout.SPLITS:
        if split in counts:
            _print_split(root, args.track, split)
    return 0


def _print_split(root, track, split):
    per_system = collections.Counter()
    for line in layout.protocol_path(root, track, split).read_text(encoding="utf-8").splitlines():
        per_system[line.split()[3]] += 1
    bona = per_system.pop("-", 0)
    systems = " ".join(f"{name}:{n}" for name, n in sorted(per_system.items()))
    print(f"  {split}: {bona} bonafide, {sum(per_system.values())} spoof ({systems})")
