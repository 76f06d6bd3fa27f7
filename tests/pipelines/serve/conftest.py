"""Fixtures of the serve tests: the shipped detector, a live `fakespeech serve` app on the loopback interface, a FLAC."""

import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from pipelines.serve.detector import Detector

SERVER_UPLOAD_LIMIT = 1024 * 1024  # small, so that the size rejection needs no large file


@pytest.fixture(scope="session")
def shipped():
    """The default `Detector` (the shipped AASIST), built once per session."""
    return Detector()


@pytest.fixture(scope="session")
def served(shipped):
    """(base URL, Detector, upload limit in bytes) of the shipped-AASIST app, served by uvicorn in a thread on
    127.0.0.1 at a free port."""
    uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install '.[serve]'")
    from pipelines.serve.web.app import create_app  # imported here: it needs the serve extra checked just above

    app = create_app(shipped, max_upload_bytes=SERVER_UPLOAD_LIMIT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", shipped, SERVER_UPLOAD_LIMIT
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def flac(tmp_path_factory):
    """(path, bytes) of a 5-second 16 kHz FLAC (two AASIST windows) of a modulated tone in noise."""
    rng = np.random.default_rng(3)
    t = np.arange(5 * 16000) / 16000
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) + 0.01 * rng.standard_normal(len(t))
    path = str(tmp_path_factory.mktemp("upload") / "clip.flac")
    sf.write(path, audio, 16000, subtype="PCM_16")
    with open(path, "rb") as file:
        return path, file.read()
