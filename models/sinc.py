"""The fixed sinc-convolution front end of RawNet2 and AASIST: mel-spaced band-pass filters on raw waveforms."""

import keras
import numpy as np


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_band_edges(filters, sample_rate, n_fft=512):
    """Returns `filters + 1` band edges in Hz, equally spaced on the mel scale from 0 Hz to Nyquist.

    The reference implementations take the extremes from a 512-point FFT frequency grid; its end points are exactly
    0 Hz and `sample_rate // 2`, which is what this reproduces.
    """
    grid = (sample_rate // 2) * np.linspace(0.0, 1.0, n_fft // 2 + 1)
    mel = _hz_to_mel(grid)
    return _mel_to_hz(np.linspace(mel.min(), mel.max(), filters + 1))


def sinc_band_pass_kernel(filters, kernel_size, sample_rate):
    """Hamming-windowed ideal band-pass filters, shape (kernel_size, 1, filters), ready for a 1-D convolution.

    Each filter is the difference of two low-pass sinc filters at consecutive mel band edges. `kernel_size` must
    be odd so that every filter is symmetric around its centre tap.
    """
    edges = mel_band_edges(filters, sample_rate)
    taps = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    window = np.hamming(kernel_size)
    bank = np.empty((filters, kernel_size), dtype=np.float64)
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        high_pass = (2.0 * high / sample_rate) * np.sinc(2.0 * high * taps / sample_rate)
        low_pass = (2.0 * low / sample_rate) * np.sinc(2.0 * low * taps / sample_rate)
        bank[i] = window * (high_pass - low_pass)
    return bank.T[:, None, :].astype(np.float32)


@keras.saving.register_keras_serializable(package="fakespeech")
class SincConv(keras.layers.Layer):
    """A bank of fixed (not trained) mel-spaced sinc band-pass filters applied to raw waveforms, no padding.

    This is the first layer of RawNet2 (Tak et al., ICASSP 2021) and AASIST (Jung et al., ICASSP 2022) in their
    published form: the band edges are spaced on the mel scale and the filters are windowed by a Hamming window;
    nothing in the layer is learned, so it holds no weights. As in the references, an even `kernel_size` is
    raised by one so that the filters are symmetric.

    Args:
        filters: number of band-pass filters (output channels).
        kernel_size: filter length in samples (made odd).
        sample_rate: sampling rate of the input in Hz.

    Example:
        >>> layer = SincConv(filters=70, kernel_size=128)
        >>> layer(np.zeros((2, 16000), "float32")).shape
        (2, 15871, 70)
    """

    def __init__(self, filters, kernel_size, sample_rate=16000, **kwargs):
        # The fixed band-pass kernels and raw samples lose too much in bfloat16/float16: filter in float32 and
        # hand the next layer its compute dtype.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.sample_rate = int(sample_rate)
        self.taps = self.kernel_size + 1 if self.kernel_size % 2 == 0 else self.kernel_size
        self._bank = sinc_band_pass_kernel(self.filters, self.taps, self.sample_rate)

    def call(self, waveforms):
        # (batch, samples) -> (batch, samples, 1) -> (batch, samples - taps + 1, filters)
        kernel = keras.ops.convert_to_tensor(self._bank, dtype="float32")
        signal = keras.ops.expand_dims(keras.ops.cast(waveforms, "float32"), axis=-1)
        return keras.ops.cast(keras.ops.conv(signal, kernel, strides=1, padding="valid"), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else samples - self.taps + 1
        return (input_shape[0], frames, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "sample_rate": self.sample_rate})
        return config
