"""Shards to training-ready batches: `make_dataset`, plus counts and class weights from the shard manifest.

A shard directory (local path or `gs://...`) is opened as a `tfrecord_builder.shards.ShardSet`, which checks the
manifest and the shard sizes and lists each split's files. Examples follow `tfrecord_builder.schema`.

Training (`training=True`)
    Shard files are shuffled and read interleaved (one record from each of several files in turn), records are
    shuffled in a buffer, each utterance is randomly cropped to `clip_samples` (shorter ones padded, `pad_mode`),
    and batches are cut with `drop_remainder=config.drop_remainder` (static batch dimension for TPU). The waveform
    augmenter, feature layer, spectrogram augmenter and batch mixer are then mapped on whole batches (vectorised;
    the augmenters with `training=True`). The dataset is one pass over the split and does not repeat: call
    `.repeat()` yourself (or give Keras `steps_per_epoch`) to train several epochs.

Evaluation (`training=False`)
    Deterministic, in file order, nothing dropped. `eval_windows="first"` takes the first `clip_samples` of each
    utterance (repeat- or zero-padded); `"all"` yields every window (hop `window_hop`, default `clip_samples`,
    the last window padded) as separate elements that share the utterance id and carry their `window` index, so
    scores can be averaged per utterance. With `config.drop_remainder` the last batch is padded to the full batch
    size, keeping shapes static: padding rows are zeros with `valid=False` in meta; without meta the dataset
    yields `(inputs, target, sample_weight)` with weight 0 on padding, which Keras `fit`/`evaluate` honour.
    Without `drop_remainder` the last batch is simply smaller. Augmenters and mixers are not applied.

Class balance (ASVspoof2019 LA train is about 1 bona fide : 9 spoof)
    The default, `balance="weights"`, keeps one epoch equal to one pass over the data (every utterance seen once,
    finite dataset, exact epoch accounting) and leaves the imbalance to the loss: `class_weights` gives weights
    inversely proportional to the class counts, as AASIST's weighted cross-entropy does (its 0.1 : 0.9 is the same
    1 : 9 ratio). `balance="sample"` mixes per-class datasets 1:1 with `tf.data.Dataset.sample_from_datasets`;
    each class repeats, so the dataset is infinite and the caller must pass `steps_per_epoch`. It reads every
    shard once per class stream, i.e. more I/O per batch. `balance="none"` does neither.

Determinism
    For a given `config.seed` the order of files and records, the crops and the class mixing are identical from
    run to run (`tf.data.Options.deterministic`, seeded shuffles, crops from stateless random ops keyed on a
    seeded `Dataset.random` stream), and differ from epoch to epoch of a repeated dataset. Augmentation layers
    draw from their own `seed`; they are mapped in order (not in parallel) so that their draws stay reproducible.

Options
    `trim_silence` drops leading/trailing frames more than `trim_top_db` below the loudest one (the definition of
    `librosa.effects.trim`). `normalize` removes each utterance's mean and scales it to unit peak
    (`normalize_mode="peak"`, samples stay in [-1, 1]) or unit standard deviation (`"std"`); both act on the whole
    utterance before cropping, so every window of an utterance shares one scale.
"""

import contextlib

import keras
import tensorflow as tf

from pipelines.data import audio_ops
from tfrecord_builder.schema import BONAFIDE, FEATURE_SPEC, SPOOF, TARGET_TO_KEY, decode_audio, parse_example
from tfrecord_builder.shards import ShardSet, ShardSetError

_MAX_FILES_READ_AT_ONCE = 16
AUTOTUNE = tf.data.AUTOTUNE


def open_shards(shards):
    """A `ShardSet` for a shards directory (or the set itself, so callers may open it once and pass it on)."""
    return shards if isinstance(shards, ShardSet) else ShardSet(shards)


@contextlib.contextmanager
def naming_damaged_shards(shards):
    """Turns TensorFlow's `DataLossError` (which names no file) into an error naming the damaged shard files."""
    try:
        yield
    except tf.errors.DataLossError:
        raise ShardSetError(shards.damaged_shards_message()) from None


def class_weights(shards, split):
    """`{0: w_bonafide, 1: w_spoof}` with w_c = total / (2 * count_c): the classes weigh equally in the loss.

    The mean weight over the split's examples is 1, so the loss keeps its scale.
    """
    shards = open_shards(shards)
    counts = shards.class_counts(split)
    total = sum(counts.values())
    missing = [TARGET_TO_KEY[t] for t, n in counts.items() if n == 0]
    if missing:
        raise ValueError(f"split {split!r} in {shards.directory} has no {missing} examples; class weights are "
                         "undefined")
    return {target: total / (len(counts) * n) for target, n in counts.items()}


def steps_per_epoch(shards, split, config):
    """Training batches in one pass over `split` (also the nominal epoch length for `balance="sample"`)."""
    num_examples = open_shards(shards).num_examples(split)
    if config.drop_remainder:
        return max(1, num_examples // config.batch_size)
    return -(-num_examples // config.batch_size)


def make_dataset(
    shards,
    split,
    config,
    training=False,
    with_meta=False,
    waveform_augment=None,
    feature_layer=None,
    spectrogram_augment=None,
    batch_mixer=None,
):
    """Builds the `tf.data` pipeline for one split (see the module docstring for training vs evaluation).

    Args:
        shards: directory of shards and `manifest.json`, local or `gs://`, or its opened `ShardSet`.
        split: split name, e.g. "train".
        config: `pipelines.config.DataConfig`.
        training: random crops, shuffling, augmentation; otherwise deterministic evaluation windows.
        with_meta: also yield a dict of `id`, `system_id`, `key` (strings), `window` (int32) and `valid` (bool).
        waveform_augment: layer applied to waveform batches (training only).
        feature_layer: layer turning waveform batches into features, e.g. (batch, time, bins).
        spectrogram_augment: layer applied to feature batches (training only).
        batch_mixer: mixes inputs and targets of a batch (training only): a Keras layer called as
            `layer((inputs, targets), training=True)` (`augment.MixUp`, `augment.CutMix`) or a function
            `mixer(inputs, targets) -> (inputs, targets)` (`pipelines.train.augmentation.build_batch_mixer`).

    Returns:
        A dataset of `(inputs, target)` batches, inputs float32 (batch, clip_samples) or the feature layer's
        output, target float32 (batch,) with 1 = spoof; `(inputs, target, meta)` with `with_meta`;
        `(inputs, target, sample_weight)` in padded evaluation without meta.
    """
    shards = open_shards(shards)
    files = shards.files(split)
    if training:
        elements = _training_elements(files, shards, split, config)
    else:
        elements = _evaluation_elements(files, shards.num_examples(split), config)
        if config.drop_remainder:
            # Enough padding to complete the last batch; any left over is dropped with the remainder.
            elements = elements.concatenate(_padding_elements(config).repeat(config.batch_size - 1))
    batches = elements.batch(
        config.batch_size, drop_remainder=config.drop_remainder, num_parallel_calls=AUTOTUNE, deterministic=True
    )
    batches = _apply_layers(batches, training, waveform_augment, feature_layer, spectrogram_augment, batch_mixer)
    if not with_meta:
        batches = batches.map(_without_meta(padded=not training and config.drop_remainder))
    options = tf.data.Options()
    options.deterministic = True
    return batches.with_options(options).prefetch(AUTOTUNE)


def _without_meta(padded):
    if padded:
        return lambda x, y, meta: (x, y, tf.cast(meta["valid"], tf.float32))
    return lambda x, y, meta: (x, y)


def _read_interleaved(files, seed):
    """Records from a seeded shuffle of the files, one record from each of several open files in turn."""
    names = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return names.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), _MAX_FILES_READ_AT_ONCE),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )


def _training_elements(files, shards, split, config):
    """Shuffled `(waveform, target, meta)` elements with random crops."""
    if config.balance == "sample":
        records = _balanced_records(files, shards, split, config)
    else:
        records = _read_interleaved(files, config.seed)
        records = records.apply(tf.data.experimental.assert_cardinality(shards.num_examples(split)))
        records = records.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    crop_keys = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)

    def prepare(serialized, crop_key):
        # Parsing and cropping in one map: each extra per-element stage costs a hand-off per clip.
        example = parse_example(serialized)
        seed = tf.stack([tf.constant(config.seed, tf.int64), crop_key])
        clip = _clip(example, config, seed)
        return clip, tf.cast(example["target"], tf.float32), _meta(example, window=0)

    return tf.data.Dataset.zip(records, crop_keys).map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)


def _balanced_records(files, shards, split, config):
    """Serialised examples drawn 1:1 from per-class streams, each shuffled and repeated (an infinite dataset)."""
    counts = shards.class_counts(split)
    for target, count in counts.items():
        if count == 0:
            raise ValueError(f"balance='sample' needs both classes, but split {split!r} has no {TARGET_TO_KEY[target]}")
    records = _read_interleaved(files, config.seed)
    streams = [
        records.filter(lambda record, t=target: tf.equal(_target_of(record), t))
        .shuffle(config.shuffle_buffer, seed=config.seed + 1 + target, reshuffle_each_iteration=True)
        .repeat()
        for target in (BONAFIDE, SPOOF)
    ]
    return tf.data.Dataset.sample_from_datasets(
        streams, weights=[0.5, 0.5], seed=config.seed, rerandomize_each_iteration=True
    )


def _target_of(serialized):
    """Only the label of a serialised example: each class stream skips the other class without decoding it."""
    return tf.io.parse_single_example(serialized, {"target": FEATURE_SPEC["target"]})["target"]


def _evaluation_elements(files, num_examples, config):
    """`(waveform, target, meta)` elements in file order: the first window, or every window, of each utterance."""
    records = tf.data.TFRecordDataset(files)
    records = records.apply(tf.data.experimental.assert_cardinality(num_examples))
    length = config.clip_samples

    def first_window(serialized):
        example = parse_example(serialized)
        clip = _clip(example, config, seed=None)
        return clip, tf.cast(example["target"], tf.float32), _meta(example, window=0)

    def every_window(serialized):
        example = parse_example(serialized)
        hop = config.window_hop or length
        windows = audio_ops.all_windows(_clean_waveform(example, config), length, hop, config.pad_mode)
        count = tf.shape(windows)[0]
        meta = {name: tf.fill([count], value) for name, value in _meta(example, window=0).items()}
        meta["window"] = tf.range(count, dtype=tf.int32)
        return windows, tf.fill([count], tf.cast(example["target"], tf.float32)), meta

    if config.eval_windows == "first":
        return records.map(first_window, num_parallel_calls=AUTOTUNE, deterministic=True)
    return records.map(every_window, num_parallel_calls=AUTOTUNE, deterministic=True).unbatch()


def _padding_elements(config):
    """One all-zero element marked `valid=False`, used to fill the last evaluation batch."""
    meta = {
        "id": tf.constant(""),
        "system_id": tf.constant(""),
        "key": tf.constant(""),
        "window": tf.constant(-1, tf.int32),
        "valid": tf.constant(False),
    }
    return tf.data.Dataset.from_tensors((tf.zeros([config.clip_samples]), tf.constant(0.0), meta))


def _clip(example, config, seed):
    """One `clip_samples` crop: random with a `seed`, else the first window."""
    if config.trim_silence or config.normalize:
        waveform = _clean_waveform(example, config)
        if seed is None:
            return audio_ops.pad_to_length(waveform, config.clip_samples, config.pad_mode)
        return audio_ops.random_crop(waveform, config.clip_samples, seed, config.pad_mode)
    # Unmodified audio is cropped before decoding: far fewer bytes to convert and copy.
    return audio_ops.crop_pcm(example["audio"], config.clip_samples, seed, config.pad_mode)


def _clean_waveform(example, config):
    waveform = decode_audio(example["audio"])
    if config.trim_silence:
        waveform = audio_ops.trim_silence(waveform, config.trim_top_db)
    if config.normalize:
        waveform = audio_ops.normalize(waveform, config.normalize_mode)
    return waveform


def _meta(example, window):
    key = tf.gather(tf.constant([TARGET_TO_KEY[BONAFIDE], TARGET_TO_KEY[SPOOF]]), example["target"])
    return {
        "id": example["id"],
        "system_id": example["system_id"],
        "key": key,
        "window": tf.constant(window, tf.int32),
        "valid": tf.constant(True),
    }


def _apply_layers(batches, training, waveform_augment, feature_layer, spectrogram_augment, batch_mixer):
    """Maps the optional layers over whole batches; only the feature layer runs outside training."""

    def on_inputs(layer, **call_kwargs):
        return lambda x, y, meta: (layer(x, **call_kwargs), y, meta)

    if training and waveform_augment is not None:
        batches = batches.map(on_inputs(waveform_augment, training=True))
    if feature_layer is not None:
        # Deterministic given its input, so it may run on several batches at once.
        batches = batches.map(on_inputs(feature_layer), num_parallel_calls=AUTOTUNE, deterministic=True)
    if training and spectrogram_augment is not None:
        batches = batches.map(on_inputs(spectrogram_augment, training=True))
    if training and batch_mixer is not None:
        batches = batches.map(lambda x, y, meta: (*_mix(batch_mixer, x, y), meta))
    return batches


def _mix(batch_mixer, inputs, targets):
    """A Keras mixing layer (`augment.MixUp`) takes the pair as one argument; a plain function takes two."""
    if isinstance(batch_mixer, keras.layers.Layer):
        return tuple(batch_mixer((inputs, targets), training=True))
    return batch_mixer(inputs, targets)
