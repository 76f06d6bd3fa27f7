"""The TFRecord example schema, shared by the shard writer and every reader.

One `tf.train.Example` per utterance. Audio is stored as raw little-endian 16-bit PCM bytes so that
`tf.io.decode_raw` (a native op, on every device and under XLA-free input pipelines) recovers the exact samples;
no tensorflow-io and no `tf.py_function` is needed.

| key          | type   | meaning                                                          |
|--------------|--------|------------------------------------------------------------------|
| audio        | bytes  | mono int16 PCM, little-endian, `audio_len` samples                |
| audio_len    | int64  | number of samples                                                |
| sample_rate  | int64  | samples per second (16000 for ASVspoof2019)                       |
| id           | bytes  | utterance id, e.g. `LA_T_1138215`                                 |
| speaker_id   | bytes  | speaker id, e.g. `LA_0079` (`-` when unknown)                     |
| system_id    | bytes  | attack id (`A01`..`A19`, `AA`..`CC` for PA) or `-` for bona fide  |
| target       | int64  | 1 = spoof, 0 = bona fide                                          |
| split        | bytes  | `train`, `dev` or `eval`                                          |
| track        | bytes  | `LA`, `PA`, or the corpus name for other corpora                  |
| environment  | bytes  | PA acoustic environment id (e.g. `aaa`), `-` elsewhere            |
| corpus       | bytes  | corpus name, e.g. `asvspoof2019`                                  |
"""

import numpy as np
import tensorflow as tf

from tfrecord_builder.audio_io import PCM_FULL_SCALE

BONAFIDE = 0
SPOOF = 1
KEY_TO_TARGET = {"bonafide": BONAFIDE, "spoof": SPOOF}
TARGET_TO_KEY = {v: k for k, v in KEY_TO_TARGET.items()}

STRING_FIELDS = ("id", "speaker_id", "system_id", "split", "track", "environment", "corpus")
INT_FIELDS = ("audio_len", "sample_rate", "target")

FEATURE_SPEC = {
    "audio": tf.io.FixedLenFeature([], tf.string),
    **{name: tf.io.FixedLenFeature([], tf.int64) for name in INT_FIELDS},
    **{name: tf.io.FixedLenFeature([], tf.string, default_value="-") for name in STRING_FIELDS},
}


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def encode_example(samples, sample_rate, **fields):
    """Serialises one utterance.

    Args:
        samples: 1-D int16 array (mono PCM).
        sample_rate: samples per second.
        **fields: the string fields of `STRING_FIELDS` and `target`.

    Returns:
        The serialised `tf.train.Example` as bytes.
    """
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"audio must be a 1-D int16 array, got {samples.dtype} with shape {samples.shape}")
    unknown = set(fields) - set(STRING_FIELDS) - {"target"}
    if unknown:
        raise ValueError(f"unknown example fields: {sorted(unknown)}")
    feature = {
        "audio": _bytes(samples.astype("<i2").tobytes()),
        "audio_len": _int(samples.shape[0]),
        "sample_rate": _int(sample_rate),
        "target": _int(fields["target"]),
    }
    for name in STRING_FIELDS:
        feature[name] = _bytes(str(fields.get(name, "-")).encode("utf-8"))
    # Deterministic: the features map would otherwise be ordered by the per-process string hash seed.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def parse_example(serialized):
    """Parses one serialised example (a scalar string tensor) into a dict of tensors, audio still as bytes."""
    return tf.io.parse_single_example(serialized, FEATURE_SPEC)


def decode_audio(audio_bytes):
    """Decodes the `audio` field to a float32 waveform in [-1, 1), shape (samples,)."""
    pcm = tf.io.decode_raw(audio_bytes, tf.int16, little_endian=True)
    return tf.cast(pcm, tf.float32) / PCM_FULL_SCALE
