"""`FeatureLayer`, the base of every feature layer, and the one place that decides which ops a layer computes with.

Inside a model, in eager calls and under `jax.jit` or `tf.function` the layers compute with `keras.ops`, so they run
on whichever Keras backend is active. `tf.data` is different: it traces its map functions into TensorFlow graphs on
the host whatever the backend, and `keras.ops` under JAX cannot take a symbolic `tf.Tensor`. When a layer is called
on TensorFlow graph tensors while the Keras backend is not TensorFlow, it therefore computes with Keras's own
TensorFlow implementation of the same `keras.ops` functions (`self.ops` below), and nothing else changes.

This is the mechanism of Keras 3's `keras.src.layers.preprocessing.data_layer.DataLayer` (the base of
`keras.layers.MelSpectrogram`). We do not subclass it: its `__call__` casts the inputs to the compute dtype, which
under a mixed policy would round the waveform to 16 bits before the STFT, and its `self.backend` exposes backend
modules (`backend.numpy.pad`) rather than the `keras.ops` names the layers are written in. The private Keras pieces
used here (the "inside a TF graph" test, the TensorFlow op modules, two `Layer` flags) are used nowhere
else in `pipelines/features`; tests/pipelines/features/test_backends.py runs the tf.data path under JAX, so a Keras
release that moves them fails there.
"""

import functools
import importlib

import keras
from keras.src.utils import backend_utils, jax_utils  # private; see the module docstring


class _TensorFlowOps:
    """`keras.ops` names bound to Keras's TensorFlow backend: `keras.ops.X` is `keras.src.ops.<family>.X`, which
    dispatches to `keras.src.backend.<backend>.<family>.X`; we call the TensorFlow one directly."""

    def __getattr__(self, name):
        return _tensorflow_op(name)


@functools.lru_cache(maxsize=None)
def _tensorflow_op(name):
    family = getattr(keras.ops, name).__module__.rsplit(".", 1)[-1]  # "numpy", "math", "core" or "nn"
    # Imported on first use only: under JAX without a tf.data pipeline (a Colab TPU runtime ships no TensorFlow)
    # the feature layers must not need TensorFlow at all.
    return getattr(importlib.import_module(f"keras.src.backend.tensorflow.{family}"), name)


_TENSORFLOW_OPS = _TensorFlowOps()


def _is_foreign_tf_graph(inputs):
    """True when `inputs` are TensorFlow graph tensors (a tf.data map) and the Keras backend is not TensorFlow."""
    if keras.backend.backend() == "tensorflow":
        return False
    sample = keras.tree.flatten(inputs)[0]
    return (not isinstance(sample, keras.KerasTensor) and backend_utils.in_tf_graph()
            and not jax_utils.is_in_jax_tracing_scope(sample))


class FeatureLayer(keras.layers.Layer):
    """Base of the feature layers: float32 math under any dtype policy, and `self.ops` for the backend in use.

    Subclasses write `call` with `ops = self.ops` (the `keras.ops` namespace, or its TensorFlow twin inside a tf.data
    graph under another backend), cast the waveform to float32 themselves and return `self.compute_dtype`.

    Args:
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # An STFT in bfloat16 loses most of its dynamic range: the layers cast to float32 themselves.
        self.autocast = False
        self._tf_data_ops = None

    @property
    def ops(self):
        return self._tf_data_ops or keras.ops

    def __call__(self, inputs, *args, **kwargs):
        if not _is_foreign_tf_graph(inputs):
            return super().__call__(inputs, *args, **kwargs)
        # Layer.__call__ would convert graph tensors to the backend's arrays (impossible for symbolic tensors) and,
        # not recognising them as tensors, refuse them as positional arguments.
        saved = self._convert_input_args, self._allow_non_tensor_positional_args
        self._convert_input_args, self._allow_non_tensor_positional_args = False, True
        self._tf_data_ops = _TENSORFLOW_OPS
        try:
            return super().__call__(inputs, *args, **kwargs)
        finally:
            self._tf_data_ops = None
            self._convert_input_args, self._allow_non_tensor_positional_args = saved
