"""Throughput of the input pipeline on generated 4-second clips, with peak memory, all in one process.

(a) shards -> decode -> random crop -> batches of raw waveform (the host side feeding an accelerator);
(b) shards -> decode -> random crop -> log-mel -> SpecAugment -> MixUp -> batches, over several epochs, with the
    resident memory after each epoch (it should stay flat);
(c) the original notebooks' approach: a warmed-up Python loop over the same clips as FLAC files,
    soundfile load + `librosa.feature.melspectrogram` per file.
Prints clips/s for each and the ratio (b)/(c). Targets on 2 cores: (a) >= 2,000 clips/s, (b) >= 500 clips/s and
>= 2.5 x (c).

    python benchmarks/bench_pipeline.py --clips 2048 --epochs 3

The clips come from `tfrecord_builder.synthetic.generate_asvspoof2019` (a small pool of distinct utterances copied
under new ids, since synthesis speed is not what is measured), or from NumPy tones and noise if it is absent.
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import numpy as np
import soundfile as sf
import tensorflow as tf

from pipelines.data import datasets
from pipelines.config import DataConfig
from tfrecord_builder.schema import encode_example

SAMPLE_RATE = 16000
CLIP_SECONDS = 4.0
MEL = dict(n_fft=512, win_length=400, hop_length=160, n_mels=80)  # 25 ms windows every 10 ms, as the features use
LOG_FLOOR = 1e-6


def rss_mib():
    with open("/proc/self/status", encoding="ascii") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024.0


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def generate_pool(workdir, pool_size, seed):
    """`pool_size` distinct (target, system_id, int16 samples) utterances of CLIP_SECONDS."""
    try:
        from tfrecord_builder.synthetic import layout
    except ImportError:
        return _numpy_pool(pool_size, seed)
    n_bonafide = max(1, pool_size // 10)
    layout.generate_asvspoof2019(
        workdir, counts={"train": (n_bonafide, pool_size - n_bonafide)}, min_seconds=CLIP_SECONDS,
        max_seconds=CLIP_SECONDS, sample_rate=SAMPLE_RATE, seed=seed,
    )
    root = layout.corpus_root(workdir, "LA", "official")
    pool = []
    with open(layout.protocol_path(root, "LA", "train"), encoding="utf-8") as f:
        for line in f:
            _, utt_id, _, system_id, key = line.split()
            samples, _ = sf.read(layout.audio_dir(root, "LA", "train") / f"{utt_id}.flac", dtype="int16")
            pool.append((int(key == "spoof"), system_id, samples))
    return pool


def _numpy_pool(pool_size, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(CLIP_SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    pool = []
    for index in range(pool_size):
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.05 * rng.standard_normal(t.shape)
        target = int(index % 10 != 0)
        pool.append((target, "A01" if target else "-", np.round(tone * 32767).astype(np.int16)))
    return pool


def write_corpus(workdir, pool, num_clips, num_shards):
    """Shards (+ manifest) and one FLAC per clip, holding the same samples."""
    shard_dir = os.path.join(workdir, "shards")
    flac_dir = os.path.join(workdir, "flac")
    os.makedirs(shard_dir, exist_ok=True)
    os.makedirs(flac_dir, exist_ok=True)
    clips = [(f"LA_T_{i:07d}", *pool[i % len(pool)]) for i in range(num_clips)]
    flac_files = [os.path.join(flac_dir, f"{utt_id}.flac") for utt_id, *_ in clips]
    for index, (path, clip) in enumerate(zip(flac_files, clips)):
        if index < len(pool):
            sf.write(path, clip[3], SAMPLE_RATE, subtype="PCM_16")
        else:
            shutil.copyfile(flac_files[index % len(pool)], path)
    shards = []
    for index, part in enumerate(np.array_split(np.arange(num_clips), num_shards)):
        members = [clips[i] for i in part]
        name = f"train-{index:05d}-of-{num_shards:05d}-{len(members)}.tfrec"
        path = os.path.join(shard_dir, name)
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for utt_id, target, system_id, samples in members:
                writer.write(encode_example(samples, SAMPLE_RATE, id=utt_id, system_id=system_id, target=target))
        os.replace(path + ".tmp", path)
        shards.append({"file": name, "num_examples": len(members), "counts": _counts(members)})
    manifest = {"sample_rate": SAMPLE_RATE, "splits": {"train": {
        "num_examples": num_clips, "counts": _counts(clips), "attacks": {}, "shards": shards}}}
    with open(os.path.join(shard_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return shard_dir, flac_files


def _counts(clips):
    spoof = sum(c[1] for c in clips)
    return {"bonafide": len(clips) - spoof, "spoof": spoof}


def cpu_seconds():
    """User + system CPU time of this process (all threads): a rate per CPU-second is robust to a busy machine."""
    times = os.times()
    return times.user + times.system


def time_epochs(dataset, epochs):
    """(clips/s, clips per CPU-second, resident MiB after the pass) for each full pass over `dataset`."""
    results = []
    for _ in range(epochs):
        start, cpu_start, clips = time.perf_counter(), cpu_seconds(), 0
        for inputs, _ in dataset:
            clips += int(inputs.shape[0])
        results.append((clips / (time.perf_counter() - start), clips / (cpu_seconds() - cpu_start), rss_mib()))
    return results


def _steady(epochs):
    """Mean (clips/s, clips/CPU-s) after the first epoch, which also traces graphs and fills caches."""
    later = epochs[1:] or epochs
    return tuple(sum(values) / len(later) for values in zip(*(e[:2] for e in later)))


def _print_epochs(name, epochs):
    for epoch, (rate, cpu_rate, rss) in enumerate(epochs, 1):
        print(f"{name} epoch {epoch}: {rate:7.0f} clips/s  {cpu_rate:7.0f} clips/CPU-s  RSS {rss:6.0f} MiB")


def feature_and_augment_layers(seed):
    """The (b) path's layers: log-mel, SpecAugment and MixUp, as the trainer builds them."""
    from augment import MixUp, SpecAugment
    from pipelines.features import LogMelSpectrogram

    return (
        LogMelSpectrogram(sample_rate=SAMPLE_RATE, log_floor=LOG_FLOOR, **MEL),
        SpecAugment(time_masks=2, time_mask_width=20, freq_masks=2, freq_mask_width=8, seed=seed),
        MixUp(alpha=0.4, seed=seed),
    )


def librosa_loop(flac_files, clip_samples, warmup):
    """Clips/s of the per-file notebook loop, after `warmup` files (librosa's JIT and caches)."""
    import librosa

    def one(path):
        waveform, sample_rate = sf.read(path, dtype="float32")
        waveform = np.resize(waveform, clip_samples)  # repeat-pad / crop like the pipeline's first window
        mel = librosa.feature.melspectrogram(
            y=waveform, sr=sample_rate, htk=True, norm=None, power=2.0, center=True, window="hann", **MEL
        )
        return np.log(mel + LOG_FLOOR).T  # (time, mel)

    for path in flac_files[:warmup]:
        one(path)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    for path in flac_files[warmup:]:
        one(path)
    clips = len(flac_files) - warmup
    return clips / (time.perf_counter() - start), clips / (cpu_seconds() - cpu_start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2048, help="clips in the shards")
    parser.add_argument("--pool", type=int, default=64, help="distinct generated utterances behind the clips")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--shuffle-buffer", type=int, default=256,
        help="records in the shuffle buffer; the default is the share of an epoch that DataConfig's 2048 is of "
             "LA train (25,380): a buffer as large as this small corpus would only measure its fill",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs of (a) and (b); the first one warms up")
    parser.add_argument("--baseline-clips", type=int, default=300, help="files timed in the librosa loop (c)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_pipeline_")
    try:
        start = time.perf_counter()
        pool = generate_pool(os.path.join(workdir, "corpus"), args.pool, args.seed)
        shard_dir, flac_files = write_corpus(workdir, pool, args.clips, args.shards)
        print(f"corpus: {args.clips} clips of {CLIP_SECONDS:g} s in {args.shards} shards "
              f"({time.perf_counter() - start:.0f} s to generate); cores: {os.cpu_count()}")
        config = DataConfig(batch_size=args.batch_size, shuffle_buffer=args.shuffle_buffer, seed=args.seed)
        print(f"load average before: {os.getloadavg()[0]:.1f} (figures are per process; a busy machine lowers clips/s "
              f"much more than clips/CPU-s)")

        raw = datasets.make_dataset(shard_dir, "train", config, training=True)
        raw_epochs = time_epochs(raw, args.epochs)
        _print_epochs("(a) raw waveform", raw_epochs)

        features, spec_augment, mixup = feature_and_augment_layers(args.seed)
        full = datasets.make_dataset(
            shard_dir, "train", config, training=True, feature_layer=features, spectrogram_augment=spec_augment,
            batch_mixer=mixup,
        )
        full_epochs = time_epochs(full, args.epochs)
        _print_epochs("(b) log-mel+SpecAugment+MixUp", full_epochs)

        baseline_files = flac_files[: args.baseline_clips + 10]
        baseline, baseline_cpu = librosa_loop(baseline_files, config.clip_samples, warmup=10)
        print(f"(c) librosa loop: {baseline:8.0f} clips/s  {baseline_cpu:8.0f} clips/CPU-s")

        (a_rate, a_cpu), (b_rate, b_cpu) = _steady(raw_epochs), _steady(full_epochs)
        print(f"summary (mean of epochs after the first): "
              f"(a) {a_rate:.0f} clips/s (target >= 2000); (b) {b_rate:.0f} clips/s (target >= 500); "
              f"(c) {baseline:.0f} clips/s; (b)/(c) = {b_rate / baseline:.2f}x (target >= 2.5x); "
              f"per CPU-second (a) {a_cpu:.0f}, (b) {b_cpu:.0f}, (c) {baseline_cpu:.0f}; "
              f"peak RSS {peak_rss_mib():.0f} MiB; (b) RSS from epoch 2 to {len(full_epochs)}: "
              f"{full_epochs[-1][2] - full_epochs[min(1, len(full_epochs) - 1)][2]:+.0f} MiB; "
              f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
