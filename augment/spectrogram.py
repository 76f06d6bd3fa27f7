"""SpecAugment (Park et al. 2019) time and frequency masking on (batch, time, bins) features."""

import keras
import tensorflow as tf

from augment.base import RandomAugmentation, uniform_int

FILLS = ("zero", "mean")


def _span_mask(length, starts, widths):
    """(batch, length) True inside any [start, start + width) span; starts and widths are (batch, spans)."""
    positions = tf.range(length)[None, None, :]
    inside = (positions >= starts[:, :, None]) & (positions < (starts + widths)[:, :, None])
    return tf.reduce_any(inside, axis=1)


@keras.saving.register_keras_serializable(package="fakespeech")
class SpecAugment(RandomAugmentation):
    """Time and frequency masks on (batch, time, bins) features, filled with zero or the utterance mean.

    Each mask has a width drawn uniformly in [0, max width] and a start drawn uniformly among the positions where it
    fits, so at most `time_masks * time_mask_width` frames and `freq_masks * freq_mask_width` bins are masked.
    `fill="mean"` writes the mean of that utterance's features before masking ("SpecAverage", Wang et al. 2021), a
    better neutral value than zero for log features, whose silence is a large negative number.

    Args:
        time_masks: number of time masks.
        time_mask_width: largest width of a time mask in frames.
        freq_masks: number of frequency masks.
        freq_mask_width: largest width of a frequency mask in bins.
        fill: "zero" or "mean".
        probability: chance that each example is augmented.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> SpecAugment(time_masks=2, time_mask_width=20, seed=0)(tf.ones((4, 101, 80)), training=True).shape
    TensorShape([4, 101, 80])
    """

    def __init__(self, time_masks=2, time_mask_width=20, freq_masks=2, freq_mask_width=8, fill="zero",
                 probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        if fill not in FILLS:
            raise ValueError(f"SpecAugment: fill must be one of {FILLS}, got {fill!r}")
        for name, value in (("time_masks", time_masks), ("time_mask_width", time_mask_width),
                            ("freq_masks", freq_masks), ("freq_mask_width", freq_mask_width)):
            if value < 0:
                raise ValueError(f"SpecAugment: {name} must be >= 0, got {value}")
        self.time_masks = int(time_masks)
        self.time_mask_width = int(time_mask_width)
        self.freq_masks = int(freq_masks)
        self.freq_mask_width = int(freq_mask_width)
        self.fill = fill

    def _draw_spans(self, batch, count, max_width, length, width_seed, start_seed):
        max_width = tf.minimum(max_width, length)
        widths = uniform_int([batch, count], width_seed, 0, max_width)
        starts = uniform_int([batch, count], start_seed, 0, length - widths)
        return starts, widths

    def get_random_transformation(self, data, training=True, seed=None):
        seeds = self._seeds(seed, 5)
        shape = tf.shape(data)
        batch, frames, bins = shape[0], shape[1], shape[2]
        time_starts, time_widths = self._draw_spans(batch, self.time_masks, self.time_mask_width, frames, *seeds[1:3])
        freq_starts, freq_widths = self._draw_spans(batch, self.freq_masks, self.freq_mask_width, bins, *seeds[3:5])
        return {"apply": self._draw_apply(batch, seeds[0]), "time_starts": time_starts, "time_widths": time_widths,
                "freq_starts": freq_starts, "freq_widths": freq_widths}

    def transform_inputs(self, inputs, transformation):
        shape = tf.shape(inputs)
        time_mask = _span_mask(shape[1], transformation["time_starts"], transformation["time_widths"])
        freq_mask = _span_mask(shape[2], transformation["freq_starts"], transformation["freq_widths"])
        mask = (time_mask[:, :, None] | freq_mask[:, None, :]) & transformation["apply"][:, None, None]
        if self.fill == "mean":
            fill = tf.reduce_mean(tf.cast(inputs, tf.float32), axis=[1, 2], keepdims=True)
            fill = tf.cast(fill, inputs.dtype)
        else:
            fill = tf.zeros([], inputs.dtype)
        return tf.where(mask, fill, inputs)  # (batch, time, bins)

    def get_config(self):
        config = super().get_config()
        config.update(time_masks=self.time_masks, time_mask_width=self.time_mask_width, freq_masks=self.freq_masks,
                      freq_mask_width=self.freq_mask_width, fill=self.fill)
        return config
