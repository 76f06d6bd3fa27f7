"""Layers and layer factories that several architectures share, so no architecture imports a sibling's pieces.

- `batch_norm`: batch normalisation with PyTorch's defaults, for models whose published weights come from PyTorch
  (AASIST, RawNet2) and for the ports of PyTorch baselines (LCNN, ResNet).
- `SpoofLogit`, `OUTPUT_MODES` and `two_class_outputs`: the two-class (spoof, bona fide) output of AASIST and
  RawNet2 turned into the registry's one spoof logit.
- `ZooModel`: the base of the zoo's functional models, whose config is their constructor arguments;
  `TwoClassModel`, its variant for AASIST and RawNet2.
"""

import inspect

import keras
from keras import ops

from models.heads import resolve_preset

# "spoof_logit": (batch, 1) float32, the registry contract; "two_class": the published (batch, 2) logits.
OUTPUT_MODES = ("spoof_logit", "two_class")


def batch_norm(name, axis=-1):
    """A `BatchNormalization` with PyTorch's defaults: eps 1e-5 and momentum 0.1 (Keras' 0.9).

    Converted running statistics then mean the same thing, and Keras' own momentum 0.99 would lag the batch
    statistics for the first few hundred steps, so that short runs score badly in inference mode.

    Example:
        >>> batch_norm("bn").momentum
        0.9
    """
    return keras.layers.BatchNormalization(axis=axis, epsilon=1e-5, momentum=0.9, name=name)


@keras.saving.register_keras_serializable(package="fakespeech")
class SpoofLogit(keras.layers.Layer):
    """Turns two-class logits (spoof, bona fide) into one spoof logit `l_spoof - l_bonafide`, in float32.

    `sigmoid(l_spoof - l_bonafide)` equals the two-class softmax probability of spoof, so binary cross-entropy on
    this logit is the two-class cross-entropy of the published models.

    Example:
        >>> SpoofLogit()(np.array([[2.0, -1.0]], "float32")).shape
        (1, 1)
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, logits):
        # (batch, 2) -> (batch, 1)
        logits = ops.cast(logits, "float32")
        return logits[:, :1] - logits[:, 1:2]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


def two_class_outputs(logits, output_mode):
    """The model output for `output_mode`: the (batch, 2) logits themselves, or the spoof logit "predictions"."""
    return logits if output_mode == "two_class" else SpoofLogit(name="predictions")(logits)


class ZooModel(keras.Model):
    """Base of the zoo's functional models: `get_config` returns the constructor arguments, read off the signature.

    A subclass builds its functional graph and ends its constructor with
    `super().__init__(inputs, outputs, locals(), **kwargs)`. Each named argument of its `__init__` (all but `self`,
    `input_shape` and `**kwargs`) is then kept, with the value the constructor normalised it to, as an attribute and
    a key of `get_config`; the names come from the signature, as scikit-learn's `get_params` reads them, so the
    config holds every constructor argument and nothing else. `get_config` starts with `name`, `trainable` and, for
    models built from an `input_shape`, the input shape without the batch axis.

    Args:
        inputs: the functional graph's input(s).
        outputs: its output(s).
        arguments: the subclass constructor's `locals()`.
        **kwargs: `keras.Model` arguments; `name` defaults to the class's `default_name`.

    Example:
        >>> class Tiny(ZooModel):
        ...     default_name = "tiny"
        ...     def __init__(self, input_shape, units=4, **kwargs):
        ...         inputs = keras.Input(input_shape)
        ...         super().__init__(inputs, keras.layers.Dense(units)(inputs), locals(), **kwargs)
        >>> Tiny((3,)).get_config()
        {'name': 'tiny', 'trainable': True, 'input_shape': (3,), 'units': 4}
    """

    # The model name when none is given (None: Keras names it after the class).
    default_name = None
    # Waveform models (AASIST, RawNet2) take `input_samples` instead, a named argument like any other.
    config_has_input_shape = True

    def __init__(self, inputs, outputs, arguments, **kwargs):
        if self.default_name:
            kwargs.setdefault("name", self.default_name)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._config_names = constructor_argument_names(type(self))
        for name in self._config_names:
            setattr(self, name, arguments[name])

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self.config_has_input_shape:
            config["input_shape"] = tuple(self.input_shape[1:])
        config.update((name, getattr(self, name)) for name in self._config_names)
        return config


def constructor_argument_names(cls):
    """The named arguments of `cls.__init__`, in order, without `self`, `input_shape` and `*args` / `**kwargs`."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in parameters if p.kind in named and p.name not in ("self", "input_shape"))


class TwoClassModel(ZooModel):
    """Base of the waveform models with published two-class (spoof, bona fide) logits: AASIST and RawNet2.

    They take `input_samples` (no `input_shape`) and an `output_mode` (`OUTPUT_MODES`), and their configs hold
    plain lists where the constructor keeps tuples, as their saved `.keras` files always have.
    """

    config_has_input_shape = False

    @staticmethod
    def check_arguments(model_name, input_samples, first_conv, output_mode, poolings_by_3):
        """Rejects an unknown `output_mode`, or a clip that leaves no frame after the sinc filter and the pools.

        `poolings_by_3`: how many max-pools by 3 along time follow the sinc filter of length `first_conv`.
        """
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{model_name} output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        taps = first_conv + 1 if first_conv % 2 == 0 else first_conv  # SincConv makes the length odd
        if input_samples - taps + 1 < 3**poolings_by_3:
            raise ValueError(
                f"input_samples={input_samples} is too short for {model_name} with first_conv={first_conv}: "
                f"needs at least {3**poolings_by_3 + taps - 1} samples"
            )

    @classmethod
    def build_for_clips(cls, name, input_shape, published_config, size_presets, preset, config):
        """The registry's build: `input_shape` (samples,), the published config, a size preset, then `config`."""
        if len(input_shape) != 1:
            raise ValueError(f"{name} takes waveforms, input_shape must be (samples,), got {input_shape}")
        config = {**published_config, **resolve_preset(size_presets, preset, config, name)}
        return cls(input_samples=input_shape[0], **config, name=name)

    def get_config(self):
        return {key: _tuples_to_lists(value) for key, value in super().get_config().items()}


def _tuples_to_lists(value):
    return [_tuples_to_lists(item) for item in value] if isinstance(value, tuple) else value
