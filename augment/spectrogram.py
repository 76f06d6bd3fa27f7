"""SpecAugment (Park et al. 2019) time and frequency masking on (batch, time, bins) features."""

import keras

from augment.base import RandomAugmentation, uniform_int

FILLS = ("zero", "mean")


def _span_mask(ops, length, starts, widths):
    """(batch, length) True inside any [start, start + width) span; starts and widths are (batch, spans)."""
    positions = ops.numpy.arange(length)[None, None, :]
    starts, widths = ops.cast(starts, "int32"), ops.cast(widths, "int32")
    inside = ops.numpy.logical_and(positions >= starts[:, :, None], positions < (starts + widths)[:, :, None])
    return ops.numpy.any(inside, axis=1)


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
    >>> layer = SpecAugment(time_masks=2, time_mask_width=20, seed=0)
    >>> tuple(layer(np.ones((4, 101, 80), "float32"), training=True).shape)
    (4, 101, 80)
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

    def _draw_spans(self, batch, count, max_width, length, seed):
        ops = self.backend
        max_width = ops.numpy.minimum(max_width, length)
        widths = uniform_int(ops, (batch, count), seed, 0, max_width)
        starts = uniform_int(ops, (batch, count), seed, 0, length - widths)
        return starts, widths

    def get_random_transformation(self, data, training=True, seed=None):
        ops, seed = self.backend, self._generator(seed)
        batch, frames, bins = ops.shape(data)[:3]
        apply = self._draw_apply(batch, seed)
        time_starts, time_widths = self._draw_spans(batch, self.time_masks, self.time_mask_width, frames, seed)
        freq_starts, freq_widths = self._draw_spans(batch, self.freq_masks, self.freq_mask_width, bins, seed)
        return {"apply": apply, "time_starts": time_starts, "time_widths": time_widths,
                "freq_starts": freq_starts, "freq_widths": freq_widths}

    def transform_inputs(self, inputs, transformation):
        ops = self.backend
        x = ops.cast(inputs, "float32")
        _, frames, bins = ops.shape(x)[:3]
        time_mask = _span_mask(ops, frames, transformation["time_starts"], transformation["time_widths"])
        freq_mask = _span_mask(ops, bins, transformation["freq_starts"], transformation["freq_widths"])
        mask = ops.numpy.logical_or(time_mask[:, :, None], freq_mask[:, None, :])
        mask = ops.numpy.logical_and(mask, transformation["apply"][:, None, None])
        fill = ops.numpy.mean(x, axis=(1, 2), keepdims=True) if self.fill == "mean" else 0.0
        return ops.numpy.where(mask, fill, x)  # (batch, time, bins)

