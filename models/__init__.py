"""Keras 3 anti-spoofing models behind one registry: `models.build(name, input_shape, **config)`."""

from models.registry import available, build, get_entry, register_model

# Importing the architecture modules registers their builders.
from models import aasist  # noqa: E402,F401
from models import cnn  # noqa: E402,F401
from models import conformer  # noqa: E402,F401
from models import gmm  # noqa: E402,F401  (the LFCC-GMM baseline's back end, fitted by pipelines.train.gmm)
from models import lcnn  # noqa: E402,F401
from models import losses  # noqa: E402,F401  (registers the margin losses, so compiled .keras files load)
from models import rawnet2  # noqa: E402,F401
from models import resnet  # noqa: E402,F401
from models import sequence  # noqa: E402,F401  (dnn, conv1d, lstm)
from models import ssl_heads  # noqa: E402,F401  (ssl_aasist, ssl_linear)

__all__ = ["available", "build", "get_entry", "register_model"]
