"""`fakespeech serve [--model NAME | --run DIR] [--host 127.0.0.1] [--port 8000]`: a local page and JSON API.

Needs the `serve` extra (`pip install 'fakespeech[serve]'`: starlette, uvicorn, markdown); the page itself loads
nothing from the internet. See `pipelines.serve.web.app` for the routes and the rejections.
"""

import argparse
import ipaddress
import sys

from models.pretrained import ALIASES, DEFAULT_PRETRAINED, available_pretrained
from pipelines.commands.common import command
from pipelines.serve.detector import Detector
from tfrecord_builder.dataclass_config import ConfigError

try:  # the serve extra (starlette, uvicorn, markdown) is optional: without it only this command fails, clearly
    import uvicorn

    from pipelines.serve.web.app import create_app

    _MISSING_EXTRA = None
except ImportError as missing:
    uvicorn = create_app = None
    _MISSING_EXTRA = missing.name

DEFAULT_PORT = 8000


def _parser():
    parser = argparse.ArgumentParser(
        prog="fakespeech serve",
        description="Serve a local web page where a person drops or records audio and sees the verdict, "
        "P(spoof), the window scores over the waveform and the model card; plus POST /api/score (the JSON of "
        "'fakespeech predict --format json'). Needs: pip install 'fakespeech[serve]'.",
    )
    source = parser.add_mutually_exclusive_group()
    names = ", ".join(available_pretrained() + sorted(ALIASES))
    source.add_argument("--model", help=f"a shipped pretrained model: {names} (default: {DEFAULT_PRETRAINED})")
    source.add_argument("--run", help="a trained run directory, or a .keras file with the run's config.json beside it")
    parser.add_argument("--calibration", help="a calibration.json from 'fakespeech calibrate'")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted (default: 20)")
    return parser


def _check(args):
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise ConfigError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"fakespeech serve: warning: listening on {args.host}: anyone who reaches it can upload audio "
              "(the page has no login)", file=sys.stderr)


def _web_stack():
    """(uvicorn, create_app), or a usage error naming the extra when it is not installed."""
    if _MISSING_EXTRA:
        raise ConfigError(f"fakespeech serve needs the serve extra ({_MISSING_EXTRA} is missing): "
                          "pip install 'fakespeech[serve]'")
    return uvicorn, create_app


@command("fakespeech serve")
def main(argv=None):
    args = _parser().parse_args(argv)
    _check(args)
    uvicorn, create_app = _web_stack()
    detector = Detector(args.model, run=args.run, calibration=args.calibration)
    app = create_app(detector, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    print(f"fakespeech serve: {detector.name} on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
