"""Keras 3 anti-spoofing models behind one registry: `models.build(name, input_shape, **config)`."""

from models.registry import available, build, get_entry, register_model

# Importing the architecture modules registers their builders.
from models import aasist  # noqa: E402,F401
from models import cnn  # noqa: E402,F401
from models import conformer  # noqa: E402,F401
from models import lcnn  # noqa: E402,F401
from models import rawnet2  # noqa: E402,F401
from models import resnet  # noqa: E402,F401
from models import sequence  # noqa: E402,F401  (dnn, conv1d, lstm)

__all__ = ["available", "build", "get_entry", "register_model"]
