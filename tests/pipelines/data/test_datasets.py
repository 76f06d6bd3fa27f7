"""`pipelines.datasets` against the known waveforms of the `tiny_shards` fixture (see conftest.py)."""

import collections
import math

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from pipelines.data import audio_ops, datasets
from pipelines.config import DataConfig

CLIP = 400
BATCH = 4


def config(**changes):
    return DataConfig(clip_samples=CLIP, batch_size=BATCH, shuffle_buffer=16).replace(**changes)


def by_id(shards, split):
    return {u.id: u for u in shards.utterances[split]}


def text(values):
    return [v.decode() for v in np.asarray(values).reshape(-1)]


def collect(dataset):
    """All batches concatenated: inputs, targets and meta as NumPy arrays."""
    inputs, targets, metas = [], [], collections.defaultdict(list)
    for x, y, meta in dataset:
        inputs.append(x.numpy())
        targets.append(y.numpy())
        for name, value in meta.items():
            metas[name].append(value.numpy())
    return np.concatenate(inputs), np.concatenate(targets), {k: np.concatenate(v) for k, v in metas.items()}


def repeat_pad(waveform, length):
    return np.tile(waveform, math.ceil(length / len(waveform)))[:length]


def test_training_batches_have_static_shapes(tiny_shards):
    dataset = datasets.make_dataset(tiny_shards.directory, "train", config(), training=True)
    x_spec, y_spec = dataset.element_spec
    assert x_spec.shape.as_list() == [BATCH, CLIP] and x_spec.dtype == tf.float32
    assert y_spec.shape.as_list() == [BATCH] and y_spec.dtype == tf.float32
    batches = list(dataset)
    assert len(batches) == len(tiny_shards.utterances["train"]) // BATCH


@pytest.mark.parametrize("pad_mode", ["repeat", "zero"])
def test_eval_first_window_is_start_of_utterance_padded(tiny_shards, pad_mode):
    cfg = config(pad_mode=pad_mode, drop_remainder=False)
    inputs, targets, meta = collect(datasets.make_dataset(tiny_shards.directory, "dev", cfg, with_meta=True))
    expected = tiny_shards.utterances["dev"]  # evaluation keeps file order
    assert text(meta["id"]) == [u.id for u in expected]
    for clip, target, utt in zip(inputs, targets, expected):
        wave = utt.waveform
        zero_padded = np.pad(wave, (0, max(CLIP - len(wave), 0)))[:CLIP]
        reference = repeat_pad(wave, CLIP) if pad_mode == "repeat" else zero_padded
        np.testing.assert_array_equal(clip, reference)
        assert target == utt.target


def test_random_crop_is_contiguous_slice_of_original(tiny_shards):
    cfg = config(drop_remainder=False)
    inputs, targets, meta = collect(
        datasets.make_dataset(tiny_shards.directory, "train", cfg, training=True, with_meta=True)
    )
    originals = by_id(tiny_shards, "train")
    assert sorted(text(meta["id"])) == sorted(originals)  # one pass, every utterance once
    for clip, target, utt_id, key in zip(inputs, targets, text(meta["id"]), text(meta["key"])):
        utt = originals[utt_id]
        assert target == utt.target and key == ("spoof" if utt.target else "bonafide")
        wave = utt.waveform
        if len(wave) < CLIP:
            np.testing.assert_array_equal(clip, repeat_pad(wave, CLIP))
        else:
            windows = np.lib.stride_tricks.sliding_window_view(wave, CLIP)
            assert np.any(np.all(windows == clip, axis=1)), utt_id


def test_all_windows_cover_each_utterance_with_ceil_count(tiny_shards):
    hop = 300
    cfg = config(eval_windows="all", window_hop=hop, drop_remainder=False)
    inputs, _, meta = collect(datasets.make_dataset(tiny_shards.directory, "dev", cfg, with_meta=True))
    ids, windows = text(meta["id"]), meta["window"]
    for utt in tiny_shards.utterances["dev"]:
        rows = [i for i, utt_id in enumerate(ids) if utt_id == utt.id]
        count = 1 + math.ceil(max(len(utt.waveform) - CLIP, 0) / hop)
        assert len(rows) == count, utt.id
        assert windows[rows].tolist() == list(range(count))
        covered = repeat_pad(utt.waveform, (count - 1) * hop + CLIP)
        for row, window in zip(rows, windows[rows]):
            np.testing.assert_array_equal(inputs[row], covered[window * hop : window * hop + CLIP])


def test_eval_pads_last_batch_and_marks_padding_invalid(tiny_shards):
    dev = tiny_shards.utterances["dev"]
    dataset = datasets.make_dataset(tiny_shards.directory, "dev", config(drop_remainder=True), with_meta=True)
    assert dataset.element_spec[0].shape.as_list() == [BATCH, CLIP]
    inputs, _, meta = collect(dataset)
    assert len(inputs) == math.ceil(len(dev) / BATCH) * BATCH
    valid = meta["valid"]
    assert [i for i, ok in zip(text(meta["id"]), valid) if ok] == [u.id for u in dev]
    assert not np.any(inputs[~valid])


def test_eval_without_meta_yields_zero_weight_on_padding(tiny_shards):
    dev = tiny_shards.utterances["dev"]
    weights = np.concatenate([w.numpy() for _, _, w in datasets.make_dataset(tiny_shards.directory, "dev", config())])
    np.testing.assert_array_equal(weights, [1.0] * len(dev) + [0.0] * (len(weights) - len(dev)))


def test_eval_without_drop_remainder_keeps_short_last_batch(tiny_shards):
    dev = tiny_shards.utterances["dev"]
    sizes = [len(y) for _, y in datasets.make_dataset(tiny_shards.directory, "dev", config(drop_remainder=False))]
    assert sizes == [BATCH] * (len(dev) // BATCH) + [len(dev) % BATCH]


def test_balanced_sampling_draws_classes_one_to_one(tiny_shards):
    num_batches = 50
    dataset = datasets.make_dataset(tiny_shards.directory, "train", config(balance="sample"), training=True)
    targets = np.concatenate([y.numpy() for _, y in dataset.take(num_batches)])
    draws = num_batches * BATCH
    assert len(targets) == draws  # the balanced dataset repeats: it did not run dry
    assert abs(targets.mean() - 0.5) < 4 * math.sqrt(0.25 / draws)  # 4 binomial standard deviations


def test_class_weights_and_counts_from_manifest(tiny_shards):
    train = tiny_shards.utterances["train"]
    spoof = sum(u.target for u in train)
    bonafide = len(train) - spoof
    weights = datasets.class_weights(tiny_shards.directory, "train")
    assert weights == pytest.approx({0: len(train) / (2 * bonafide), 1: len(train) / (2 * spoof)})
    assert datasets.open_shards(tiny_shards.directory).num_examples("train") == len(train)
    assert datasets.steps_per_epoch(tiny_shards.directory, "train", config()) == len(train) // BATCH
    assert datasets.steps_per_epoch(tiny_shards.directory, "dev", config(drop_remainder=False)) == math.ceil(6 / BATCH)


def two_epochs(shards_dir, seed):
    cfg = config(seed=seed, drop_remainder=False)
    dataset = datasets.make_dataset(shards_dir, "train", cfg, training=True, with_meta=True).repeat(2)
    return [(x.numpy(), text(meta["id"])) for x, _, meta in dataset]


def test_same_seed_gives_same_batches_and_other_seed_differs(tiny_shards):
    first, again, other = (two_epochs(tiny_shards.directory, seed) for seed in (1, 1, 2))
    for (x1, ids1), (x2, ids2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        assert ids1 == ids2
    assert [ids for _, ids in first] != [ids for _, ids in other]
    steps = len(first) // 2
    epoch_one = [ids for _, ids in first[:steps]]
    epoch_two = [ids for _, ids in first[steps:]]
    assert epoch_one != epoch_two  # a repeated dataset reshuffles every epoch


@pytest.mark.slow  # importing librosa (numba) alone takes several seconds
def test_trim_silence_matches_librosa(tiny_shards):
    wave = tiny_shards.utterances["quiet"][0].waveform
    expected, _ = librosa.effects.trim(
        wave, top_db=30.0, frame_length=audio_ops.TRIM_FRAME_LENGTH, hop_length=audio_ops.TRIM_HOP_LENGTH
    )
    np.testing.assert_array_equal(audio_ops.trim_silence(tf.constant(wave), 30.0).numpy(), expected)
    cfg = config(clip_samples=len(wave), pad_mode="zero", trim_silence=True, trim_top_db=30.0, drop_remainder=False)
    (clip,), _ = next(iter(datasets.make_dataset(tiny_shards.directory, "quiet", cfg)))
    np.testing.assert_array_equal(clip.numpy(), np.pad(expected, (0, len(wave) - len(expected))))


@pytest.mark.parametrize("mode", ["peak", "std"])
def test_normalize_per_utterance(tiny_shards, mode):
    cfg = config(normalize=True, normalize_mode=mode, drop_remainder=False)
    inputs, _, _ = collect(datasets.make_dataset(tiny_shards.directory, "dev", cfg, with_meta=True))
    for clip, utt in zip(inputs, tiny_shards.utterances["dev"]):
        centred = utt.waveform.astype(np.float64) - utt.waveform.mean(dtype=np.float64)
        scale = np.abs(centred).max() if mode == "peak" else centred.std()
        np.testing.assert_allclose(clip, repeat_pad(centred / scale, CLIP), rtol=1e-5, atol=1e-6)


def test_normalize_keeps_silence_silent():
    assert not np.any(audio_ops.normalize(tf.zeros([CLIP]), "std").numpy())


def test_feature_layer_is_applied_to_batches(tiny_shards):
    frames = 4
    reshape = keras.layers.Reshape((frames, CLIP // frames))
    cfg = config(drop_remainder=False)
    plain = datasets.make_dataset(tiny_shards.directory, "dev", cfg)
    featured = datasets.make_dataset(tiny_shards.directory, "dev", cfg, feature_layer=reshape)
    for (x, _), (features, _) in zip(plain, featured):
        np.testing.assert_array_equal(features.numpy(), x.numpy().reshape(len(x), frames, CLIP // frames))


def test_url_style_paths_go_through_gfile(tiny_shards):
    # gs:// cannot be reached here; file:// takes the same scheme-qualified tf.io.gfile code path.
    url = "file://" + tiny_shards.directory
    assert len(datasets.open_shards(url).files("train")) == 3
    sizes = [len(y) for _, y in datasets.make_dataset(url, "dev", config(drop_remainder=False))]
    assert sum(sizes) == len(tiny_shards.utterances["dev"])


def test_bad_arguments_name_the_problem(tiny_shards):
    with pytest.raises(ValueError, match="balance"):
        datasets.make_dataset(tiny_shards.directory, "train", config(balance="oversample"))
    with pytest.raises(ValueError, match="split 'test' is not in .*manifest.json; it has"):
        datasets.make_dataset(tiny_shards.directory, "test", config())


@pytest.mark.parametrize("pad_mode", ["repeat", "zero"])
def test_crop_before_decoding_equals_crop_after(tiny_shards, pad_mode):
    for index, utt in enumerate(tiny_shards.utterances["train"]):
        pcm = tf.constant(utt.samples.astype("<i2").tobytes())
        seed = tf.constant([3, index], tf.int64)
        expected = audio_ops.random_crop(tf.constant(utt.waveform), CLIP, seed, pad_mode)
        np.testing.assert_array_equal(audio_ops.crop_pcm(pcm, CLIP, seed, pad_mode), expected)
        first = audio_ops.pad_to_length(tf.constant(utt.waveform), CLIP, pad_mode)
        np.testing.assert_array_equal(audio_ops.crop_pcm(pcm, CLIP, None, pad_mode), first)


def test_training_crop_of_normalized_utterance_is_contiguous(tiny_shards):
    cfg = config(normalize=True, drop_remainder=False)
    inputs, _, meta = collect(datasets.make_dataset(tiny_shards.directory, "train", cfg, training=True, with_meta=True))
    originals = by_id(tiny_shards, "train")
    for clip, utt_id in zip(inputs, text(meta["id"])):
        wave = originals[utt_id].waveform
        wave = (wave - wave.mean()) / np.abs(wave - wave.mean()).max()
        if len(wave) < CLIP:
            np.testing.assert_allclose(clip, repeat_pad(wave, CLIP), rtol=1e-5, atol=1e-6)
        else:
            windows = np.lib.stride_tricks.sliding_window_view(wave, CLIP)
            assert np.min(np.max(np.abs(windows - clip), axis=1)) < 1e-5, utt_id


class Negate(keras.layers.Layer):
    """Negates its input while training: an augmentation whose effect is known exactly."""

    def call(self, inputs, training=False):
        return -inputs if training else inputs


class SwapPairs(keras.layers.Layer):
    """A batch mixer layer: takes `(inputs, targets)` as one argument, reverses the batch order of both."""

    def call(self, data, training=False):
        inputs, targets = data
        return (inputs[::-1], targets[::-1]) if training else data


def reverse_batch(inputs, targets):
    return inputs[::-1], targets[::-1]


def test_augmenters_and_mixers_run_on_training_batches_only(tiny_shards):
    cfg = config(seed=5)
    directory = tiny_shards.directory
    plain = list(datasets.make_dataset(directory, "train", cfg, training=True))
    layer_mixed = datasets.make_dataset(
        directory, "train", cfg, training=True, waveform_augment=Negate(), batch_mixer=SwapPairs()
    )
    function_mixed = datasets.make_dataset(
        directory, "train", cfg, training=True, spectrogram_augment=Negate(), batch_mixer=reverse_batch
    )
    for mixed in (layer_mixed, function_mixed):
        for (x, y), (x_aug, y_aug) in zip(plain, mixed):
            np.testing.assert_array_equal(x_aug.numpy(), -x.numpy()[::-1])
            np.testing.assert_array_equal(y_aug.numpy(), y.numpy()[::-1])
    evaluation = datasets.make_dataset(directory, "dev", cfg, waveform_augment=Negate(), batch_mixer=SwapPairs())
    for (x, y, _), (x_eval, y_eval, _) in zip(datasets.make_dataset(directory, "dev", cfg), evaluation):
        np.testing.assert_array_equal(x_eval.numpy(), x.numpy())
        np.testing.assert_array_equal(y_eval.numpy(), y.numpy())
