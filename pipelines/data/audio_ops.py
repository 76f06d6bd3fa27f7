"""In-graph clip handling for one utterance: pad, crop, split into windows, trim silence, normalise.

Every function takes a 1-D float32 waveform of any (dynamic) length (`crop_pcm`: the raw int16 PCM bytes of the
schema's `audio` field) and uses only TensorFlow ops, so it runs inside `tf.data.Dataset.map` on any host without
`tf.py_function`. Outputs that feed a batch have a static length.
"""

import tensorflow as tf

from pipelines.config.stages import NORMALIZE_MODES, PAD_MODES
from tfrecord_builder.audio_io import PCM_FULL_SCALE

# librosa.effects.trim's defaults, so that `trim_silence` matches it frame for frame.
TRIM_FRAME_LENGTH = 2048
TRIM_HOP_LENGTH = 512
_POWER_FLOOR = 1e-10  # librosa.power_to_db's amin
_SCALE_FLOOR = 1e-8  # keeps an all-zero utterance at zero instead of dividing by zero


def check_pad_mode(pad_mode):
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")


def pad_to_length(waveform, length, pad_mode="repeat"):
    """Pads (or truncates) to exactly `length` samples.

    "repeat" tiles the utterance from its start (as AASIST does) so a short clip carries no artificial silence;
    "zero" appends zeros. An empty utterance becomes zeros in both modes.

    Args:
        waveform: (samples,) float tensor.
        length: Python int, the static output length.
        pad_mode: "repeat" or "zero".

    Returns:
        (length,) tensor with a static shape.
    """
    return tf.ensure_shape(_pad_or_truncate(waveform, length, pad_mode), [length])


def _pad_or_truncate(waveform, length, pad_mode):
    """`pad_to_length` for a length that may be a tensor (no static shape)."""
    check_pad_mode(pad_mode)
    num_samples = tf.shape(waveform)[0]
    if pad_mode == "repeat":
        waveform = tf.tile(waveform, [(length + num_samples - 1) // tf.maximum(num_samples, 1)])
    waveform = waveform[:length]
    return tf.pad(waveform, [[0, length - tf.shape(waveform)[0]]])


def random_crop(waveform, length, seed, pad_mode="repeat"):
    """A contiguous `length`-sample slice at a uniform random offset, padded when the utterance is shorter.

    Args:
        waveform: (samples,) float tensor.
        length: Python int, output length.
        seed: shape (2,) integer tensor for `tf.random.stateless_uniform`; the same seed gives the same slice.
        pad_mode: how a shorter utterance is padded.

    Returns:
        (length,) tensor.
    """
    num_samples = tf.shape(waveform)[0]
    max_offset = tf.maximum(num_samples - length, 0)
    offset = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=max_offset + 1, dtype=tf.int32)
    return pad_to_length(waveform[offset : offset + length], length, pad_mode)


def crop_pcm(audio_bytes, length, seed=None, pad_mode="repeat"):
    """`random_crop` (or, without `seed`, the first window) of raw int16 PCM bytes, decoded to float32.

    Works on the serialised bytes so that only the kept `length` samples are converted to float: the same result
    as `random_crop(decode_audio(audio_bytes), length, seed, pad_mode)` for the same seed, with a fraction of the
    memory traffic (the input pipeline's main cost).

    Args:
        audio_bytes: scalar string tensor, little-endian int16 PCM (the schema's `audio` field).
        length: Python int, output length in samples.
        seed: shape (2,) integer tensor for the crop offset; None takes the first window.
        pad_mode: "repeat" or "zero".

    Returns:
        (length,) float32 tensor in [-1, 1).
    """
    check_pad_mode(pad_mode)
    num_samples = tf.strings.length(audio_bytes) // 2
    offset = 0
    if seed is not None:
        max_offset = tf.maximum(num_samples - length, 0)
        offset = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=max_offset + 1, dtype=tf.int32)
    if pad_mode == "repeat":
        repeats = tf.where(num_samples > 0, (length + num_samples - 1) // tf.maximum(num_samples, 1), 1)
        audio_bytes = tf.cond(
            repeats > 1,
            lambda: tf.strings.reduce_join(tf.tile(audio_bytes[tf.newaxis], [repeats])),
            lambda: audio_bytes,
        )
    window = tf.strings.substr(audio_bytes, 2 * offset, 2 * length)
    # fixed_length zero-fills what the window lacks, which is the zero padding.
    pcm = tf.io.decode_raw(window, tf.int16, little_endian=True, fixed_length=2 * length)
    return tf.ensure_shape(tf.cast(pcm, tf.float32) / PCM_FULL_SCALE, [length])


def num_windows(num_samples, length, hop):
    """How many windows of `length` with `hop` cover `num_samples`: 1 + ceil(max(num_samples - length, 0) / hop)."""
    excess = tf.maximum(num_samples - length, 0)
    return 1 + (excess + hop - 1) // hop


def all_windows(waveform, length, hop, pad_mode="repeat"):
    """Every window of an utterance, the last one padded so that the whole utterance is covered.

    The utterance is padded (as by `pad_to_length`) to `(n - 1) * hop + length` samples and framed, so window 0
    equals the first-window evaluation crop.

    Returns:
        (n, length) tensor, n = `num_windows(len(waveform), length, hop)`.
    """
    count = num_windows(tf.shape(waveform)[0], length, hop)
    covered = _pad_or_truncate(waveform, (count - 1) * hop + length, pad_mode)
    return tf.signal.frame(covered, length, hop, pad_end=False)  # (windows, length)


def trim_silence(waveform, top_db=40.0):
    """Drops leading and trailing frames quieter than `top_db` below the loudest frame.

    Same definition as `librosa.effects.trim` with its defaults: frame energy is the mean square over
    2048-sample frames every 512 samples, centred (zero-padded by 1024 on both sides); a frame is kept when its
    power in dB relative to the loudest frame exceeds `-top_db`; the kept span runs from the first kept frame's
    centre to the last kept frame's centre plus one hop.

    Returns:
        (trimmed_samples,) tensor.
    """
    num_samples = tf.shape(waveform)[0]
    half = TRIM_FRAME_LENGTH // 2
    padded = tf.pad(waveform, [[half, half]])
    frames = tf.signal.frame(padded, TRIM_FRAME_LENGTH, TRIM_HOP_LENGTH, pad_end=False)  # (frames, frame_length)
    power = tf.reduce_mean(tf.square(frames), axis=-1)
    power_db = 10.0 * _log10(tf.maximum(power, _POWER_FLOOR))
    reference_db = 10.0 * _log10(tf.maximum(tf.reduce_max(power), _POWER_FLOOR))
    loud = tf.where(power_db > reference_db - top_db)[:, 0]
    start = tf.cast(tf.reduce_min(loud), tf.int32) * TRIM_HOP_LENGTH
    end = tf.minimum(num_samples, (tf.cast(tf.reduce_max(loud), tf.int32) + 1) * TRIM_HOP_LENGTH)
    # An empty waveform has no loud frame; keep it as it is rather than slicing with undefined bounds.
    has_loud = tf.size(loud) > 0
    start = tf.where(has_loud, start, 0)
    end = tf.where(has_loud, end, num_samples)
    return waveform[start:end]


def normalize(waveform, mode="peak"):
    """Per-utterance normalisation: remove the mean, then scale to unit peak ("peak") or unit std ("std").

    An all-zero utterance stays all zeros.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"normalize_mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    centred = waveform - tf.reduce_mean(waveform)
    if mode == "peak":
        scale = tf.reduce_max(tf.abs(centred))
    else:
        scale = tf.math.reduce_std(centred)
    return centred / tf.maximum(scale, _SCALE_FLOOR)


def _log10(x):
    return tf.math.log(x) / tf.math.log(tf.constant(10.0, x.dtype))
