"""Filtering helpers written against a Keras backend namespace (`ops`, see augment.base), on (..., samples) signals.

Convolutions run through the FFT: exact linear convolution (zero padding, no wrap-around), in float32. Real FFTs
come back from Keras as (real, imaginary) pairs; products of spectra are written out on those pairs.
"""


def fast_fft_length(minimum):
    """The smallest 2^a 3^b 5^c >= minimum: lengths the FFT handles quickly."""
    best = 1 << (int(minimum) - 1).bit_length()
    power5 = 1
    while power5 < best:
        power3 = power5
        while power3 < best:
            length = power3
            while length < minimum:
                length *= 2
            best = min(best, length)
            power3 *= 3
        power5 *= 5
    return best


def signal_length(ops, x):
    """The last axis length: a Python int when static, else a scalar tensor (a tf.data batch of unknown length)."""
    return ops.shape(x)[-1]


def fft_size(ops, minimum):
    """An FFT length >= minimum: a fast one for a static minimum, the next power of two for a dynamic one."""
    if isinstance(minimum, int):
        return fast_fft_length(minimum)
    exponent = ops.numpy.ceil(ops.numpy.log2(ops.cast(minimum, "float32")))
    return ops.cast(2.0**exponent, "int32")


def complex_multiply(a, b):
    """(real, imag) * (real, imag)."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def fft_convolve(ops, signals, taps, fft_length):
    """Full linear convolution of signals (..., n) with taps (..., k), broadcast over the leading axes.

    Returns the first `fft_length` samples of the circular convolution; with fft_length >= n + k - 1 that is the
    full convolution followed by zeros.
    """
    spectrum = complex_multiply(ops.math.rfft(signals, fft_length), ops.math.rfft(taps, fft_length))
    return ops.math.irfft(spectrum, fft_length)


def causal_filter(ops, signals, taps):
    """FIR filtering like `scipy.signal.lfilter(taps, 1, x)`: the full convolution cut to the input length."""
    length = signal_length(ops, signals)
    fft_length = fft_size(ops, length + ops.shape(taps)[-1] - 1)
    return fft_convolve(ops, signals, taps, fft_length)[..., :length]


def centred_filter(ops, signals, taps):
    """Zero-delay FIR filtering with odd-length taps, like `numpy.convolve(x, taps, mode="same")`.

    With linear-phase (symmetric) taps the output is not shifted against the input.
    """
    length = signal_length(ops, signals)
    half = (ops.shape(taps)[-1] - 1) // 2
    fft_length = fft_size(ops, length + ops.shape(taps)[-1] - 1)
    return fft_convolve(ops, signals, taps, fft_length)[..., half:half + length]


def power(ops, x):
    """Mean square over the last axis."""
    return ops.numpy.mean(ops.numpy.square(x), axis=-1)
