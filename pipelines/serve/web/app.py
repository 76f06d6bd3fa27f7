"""The web page and JSON API of `fakespeech serve`: a small ASGI app (Starlette) around one `Detector`.

Routes:
- `GET /`: the page (static HTML + JS, no external resources: it works offline). Drop, pick or record a file; it
  shows the verdict, P(spoof), the window scores over the waveform and the model card.
- `GET /api/model`: the model's name, kind, rate, threshold, note, upload limit and card (Markdown and HTML).
- `POST /api/score`: one audio file, as `multipart/form-data` (field `file`: `curl -F file=@clip.flac`) or as the
  raw request body (`curl --data-binary @clip.flac -H 'Content-Type: audio/flac'`, name in `?filename=`).
  Answers what `fakespeech predict --format json` prints for that file (`?timeline=1`: with `--timeline`;
  `?pool=`, `?window=`, `?hop=` as the flags). `?waveform=N` adds the waveform's min/max envelope in N
  columns to the result (what the page draws).

Rejections answer `{"error": message}` with a 4xx status, and the server keeps serving: 413 above the upload
limit, 400 for an empty upload, a form without a `file` field or a bad parameter, 415 for content that is no audio
container libsndfile reads (checked on its first bytes), 422 for audio that does not decode.

Scoring runs in a worker thread (the event loop keeps answering), one request at a time: the model is shared.
"""

import email.parser
import email.policy
import os
import tempfile
import threading

import markdown
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipelines.serve.formats import json_document
from pipelines.serve.prediction import check_pool
from tfrecord_builder.audio_io import AudioError, pcm_to_float, read_audio
from tfrecord_builder.dataclass_config import ConfigError

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_WAVEFORM_POINTS = 4000
DRAIN_BYTES = 1024 * 1024 * 1024  # past this much, an oversized upload is cut off rather than read to its end
# First bytes of the containers libsndfile reads -> the extension the temporary file gets.
_MAGIC = (
    (b"fLaC", 0, ".flac"), (b"OggS", 0, ".ogg"), (b"ID3", 0, ".mp3"), (b".snd", 0, ".au"), (b"caff", 0, ".caf"),
    (b"NIST_1A", 0, ".sph"), (b"riff\x2e\x91\xcf\x11", 0, ".w64"), (b"RF64", 0, ".wav"),
)
KNOWN_FORMATS = "WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF, AU, CAF, W64, NIST SPHERE"


class Rejection(Exception):
    """A request the API refuses: an HTTP status and a message for the person who sent it."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def audio_extension(data):
    """The extension of the audio container `data` starts with, or None when it is none libsndfile reads."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return ".aiff"
    for magic, offset, extension in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return extension
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame without an ID3 tag
        return ".mp3"
    return None


async def read_body(request, limit):
    """The request body, refused with 413 above `limit` bytes.

    The rest of an oversized body is read and dropped (up to `DRAIN_BYTES`) before the answer, because a client
    still sending when the server closes sees a broken connection instead of the 413 and its message.
    """
    declared = request.headers.get("content-length")
    declared = int(declared) if declared and declared.isdigit() else None
    body, received = bytearray(), 0
    async for chunk in request.stream():
        received += len(chunk)
        if received <= limit:
            body += chunk
        elif received > DRAIN_BYTES:
            break
    if received > limit:
        size = f"{declared:,} bytes" if declared else "more"
        raise Rejection(413, f"upload of {size} is above the limit of {limit:,} bytes")
    return bytes(body)


def uploaded_file(content_type, body, query_name):
    """(file name, bytes) of the upload: the `file` field of a multipart form, or the whole body."""
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts() if message.is_multipart() else ():
            if part.get_param("name", header="content-disposition") == "file":
                return part.get_filename() or "upload", part.get_payload(decode=True) or b""
        raise Rejection(400, "the form has no 'file' field (send the audio as -F file=@clip.flac)")
    return query_name or "upload", body


def score_options(query):
    """(timeline, waveform points, pool, window, hop) from the query string; 400 for a bad value."""
    try:
        window = float(query["window"]) if query.get("window") else None
        hop = float(query["hop"]) if query.get("hop") else None
        points = int(query.get("waveform") or 0)
        pool = check_pool(query.get("pool") or "mean")
    except (ValueError, ConfigError) as error:
        raise Rejection(400, f"bad parameter: {error}") from None
    if not 0 <= points <= MAX_WAVEFORM_POINTS:
        raise Rejection(400, f"waveform must be between 0 and {MAX_WAVEFORM_POINTS} points, got {points}")
    timeline = query.get("timeline", "0").lower() in ("1", "true", "yes")
    return timeline, points, pool, window, hop


def waveform_envelope(path, sample_rate, points):
    """The min and max of the audio (as the model hears it) in `points` equal columns, for drawing."""
    waveform = pcm_to_float(read_audio(path, sample_rate).samples)
    edges = np.linspace(0, len(waveform), min(points, len(waveform)) + 1).astype(int)
    columns = [waveform[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return {"min": [round(float(c.min()), 4) for c in columns], "max": [round(float(c.max()), 4) for c in columns],
            "duration": len(waveform) / sample_rate}


class Scorer:
    """Scores uploads with one `Detector`, one at a time (the model is shared)."""

    def __init__(self, detector):
        self.detector, self.lock = detector, threading.Lock()

    def score(self, name, data, options):
        timeline, points, pool, window, hop = options
        extension = audio_extension(data)
        if extension is None:
            raise Rejection(415, f"{name}: not an audio file (its first bytes are no {KNOWN_FORMATS} header)")
        with tempfile.TemporaryDirectory(prefix="fakespeech-upload-") as folder:
            path = os.path.join(folder, f"upload{extension}")
            with open(path, "wb") as file:
                file.write(data)
            with self.lock:
                try:
                    (result,) = self.detector.predict([path], window=window, hop=hop, pool=pool)
                except ConfigError as error:
                    raise Rejection(400, f"bad parameter: {error}") from None
                if "error" in result:
                    raise Rejection(422, f"{name}: could not decode the audio ({result['error']})")
                try:
                    envelope = waveform_envelope(path, self.detector.sample_rate, points) if points else None
                except AudioError as error:
                    raise Rejection(422, f"{name}: could not decode the audio ({error.reason})") from None
        result["path"] = name
        if envelope is not None:
            result["waveform"] = envelope
        return json_document([result], self.detector.header(window, hop, pool), timeline)


def model_description(detector, max_upload_bytes):
    header = detector.header()
    return {
        "model": detector.name, "model_kind": detector.kind, "sample_rate": detector.sample_rate,
        "clip_samples": detector.clip_samples, "threshold": header["threshold"],
        "threshold_source": header["threshold_source"], "calibrated": header["calibrated"],
        "note": header.get("note"), "max_upload_bytes": max_upload_bytes, "card_markdown": detector.card,
        "card_html": markdown.markdown(detector.card, extensions=["tables", "fenced_code"]),
    }


def create_app(detector, max_upload_bytes=DEFAULT_MAX_UPLOAD_BYTES):
    """The ASGI app serving the page and the API for `detector` (a `pipelines.serve.detector.Detector`)."""
    scorer = Scorer(detector)
    description = model_description(detector, max_upload_bytes)

    async def index(request):
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    async def model(request):
        return JSONResponse(description)

    async def score(request):
        try:
            options = score_options(request.query_params)
            body = await read_body(request, max_upload_bytes)
            name, data = uploaded_file(request.headers.get("content-type", ""), body,
                                       request.query_params.get("filename"))
            if not data:
                raise Rejection(400, f"{name}: empty upload (0 bytes)")
            document = await run_in_threadpool(scorer.score, name, data, options)
        except Rejection as rejection:
            return JSONResponse({"error": rejection.message}, status_code=rejection.status)
        return JSONResponse(document)

    routes = [
        Route("/", index),
        Route("/api/model", model),
        Route("/api/score", score, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes)
