"""Shard-build throughput and memory at 1 and 2 workers, and full-scale protocol parsing.

    python benchmarks/bench_build.py                      # generates a corpus in a temporary folder
    python benchmarks/bench_build.py --data ROOT --splits train

Prints figures only (no asserts). Peak memory: `tracemalloc` peak of the building process (Python and NumPy
allocations) and the resident-set high-water mark of the process.
"""

import argparse
import math
import pathlib
import resource
import sys
import tempfile
import time
import tracemalloc

import soundfile as sf

# Only light modules at the top: decoding workers are spawned and re-import this script as their main module,
# so a TensorFlow import here would be paid again in every worker.
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import audio_path, find_corpus_root, track_dir
from tfrecord_builder.protocols import protocol_file, read_protocol
from tfrecord_builder.sharding import assign_shards

REAL_PROTOCOLS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "asvspoof2019" / "LA_cm_protocols"


def audio_seconds(root, track, splits):
    total = 0.0
    for split in splits:
        for entry in read_protocol(protocol_file(track_dir(root, track), track, split), track):
            info = sf.info(str(audio_path(root, track, split, entry.utt_id)))
            total += info.frames / info.samplerate
    return total


def bench_build(data, track, splits, workers, shard_size, scratch):
    from tfrecord_builder.builder import build_shards  # imports TensorFlow; see the note on imports

    config = BuildConfig(data=str(data), out=str(scratch / f"shards_w{workers}"), track=track, splits=splits,
                         shard_size=shard_size, workers=workers)
    tracemalloc.start()
    start = time.perf_counter()
    manifest = build_shards(config, progress=False)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return manifest, seconds, peak


def bench_protocols():
    if not REAL_PROTOCOLS.is_dir():
        print(f"real protocols: skipped ({REAL_PROTOCOLS} not found)")
        return
    for path in sorted(REAL_PROTOCOLS.glob("*.txt")):
        parsed = math.inf
        for _ in range(3):  # best of three: the first read may come from a cold disk
            start = time.perf_counter()
            entries = read_protocol(path, "LA")
            parsed = min(parsed, time.perf_counter() - start)
        start = time.perf_counter()
        assign_shards(entries, "train", num_shards=32, seed=0)
        assigned = time.perf_counter() - start
        print(f"{path.name}: {len(entries)} lines parsed in {parsed * 1e3:.0f} ms "
              f"({len(entries) / parsed:,.0f} lines/s); stratified into 32 shards in {assigned * 1e3:.0f} ms")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="corpus root (default: generate one)")
    parser.add_argument("--track", default="LA")
    parser.add_argument("--splits", default="train")
    parser.add_argument("--bonafide", type=int, default=40, help="generated bona fide utterances per split")
    parser.add_argument("--spoof", type=int, default=120, help="generated spoof utterances per split")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--shard-size", type=int, default=40)
    args = parser.parse_args(argv)
    splits = tuple(args.splits.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        data = args.data
        if data is None:
            from tfrecord_builder.synthetic import generate_asvspoof2019

            start = time.perf_counter()
            data = generate_asvspoof2019(scratch / "corpus", track=args.track,
                                         counts={s: (args.bonafide, args.spoof) for s in splits})
            print(f"generated corpus in {time.perf_counter() - start:.1f} s")
        root = find_corpus_root(data, args.track)
        seconds_of_audio = audio_seconds(root, args.track, splits)
        baseline = None
        for workers in (int(w) for w in args.workers.split(",")):
            manifest, seconds, peak = bench_build(root, args.track, splits, workers, args.shard_size, scratch)
            files = manifest["totals"]["num_examples"]
            baseline = baseline or files / seconds
            print(f"workers={workers}: {files} files, {seconds_of_audio:.0f} s of audio in {seconds:.2f} s -> "
                  f"{files / seconds:.1f} files/s, {seconds_of_audio / seconds:.0f} audio-s/s "
                  f"({files / seconds / baseline:.2f}x workers=1); traced peak {peak / 2**20:.1f} MiB "
                  f"vs {manifest['totals']['bytes'] / 2**20:.1f} MiB of shards")
    # Only the parent's high-water mark: Linux carries it over execve, so spawned workers would report it again.
    usage_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS of the building process: {usage_self:.0f} MiB (TensorFlow included)")
    bench_protocols()
    return 0


if __name__ == "__main__":
    sys.exit(main())
