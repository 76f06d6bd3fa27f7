"""Scoring a live audio stream window by window: the windows of `predict_files`, scored as soon as they are complete.

`WindowStream(predictor)` takes successive chunks of mono float32 samples at the model's rate (`push`) and returns
the windows that became complete, each scored; `finish()` scores the last, padded window exactly as `predict_files`
pads the end of a file, and gives the pooled summary. For the same samples the windows are the same as offline
(starts 0, hop, 2 hop, ...; the last one and a stream shorter than one window repeat-padded from the stream's
start, or zero-padded, as the model's `pad_mode` says), so the window scores equal `predict`'s timeline.

Memory is bounded whatever the stream's length: the stream keeps the samples of the window being filled (at most
one window plus one chunk), the stream's first window (for the repeat padding of the last one), and running sums
for the pooled score (all window scores only for a percentile pool).

Latency: a window is scored when its last sample has arrived, so the first score comes one window (4.04 s for the
shipped AASIST) after the stream starts and the next ones every hop, each plus the model's time for one window
at batch 1 (the scorer is traced when the stream is created, before any audio). Measured for the shipped AASIST
fed in real time through `fakespeech predict --stream -` on the 2-core development machine (busy: load average
11-13): each window's line came 0.28 to 0.83 s after its last sample (two runs of 4 windows).

`pcm_chunks(binary_stream, PcmFormat(...))` and `wav_stream_format(binary_stream)` turn raw PCM or a WAV stream
(as `ffmpeg ... -f wav -` or `arecord` write it, with an unknown data length) into such chunks.
"""

import dataclasses
import struct

import numpy as np

from pipelines.serve.prediction import check_pool, make_batch_scorer, pool_scores, window_lengths
from tfrecord_builder.audio_io import PCM_FULL_SCALE
from tfrecord_builder.dataclass_config import ConfigError

# Raw sample formats: name -> (numpy dtype, full scale). Little-endian, interleaved channels.
SAMPLE_FORMATS = {"s16le": ("<i2", 32768.0), "s32le": ("<i4", 2.0**31), "f32le": ("<f4", 1.0)}
DEFAULT_CHUNK_FRAMES = 4000  # 0.25 s at 16 kHz per read: small against a 4 s window
_WAV_FORMAT_PCM, _WAV_FORMAT_FLOAT, _WAV_FORMAT_EXTENSIBLE = 1, 3, 0xFFFE


@dataclasses.dataclass(frozen=True)
class PcmFormat:
    """How raw PCM bytes encode samples.

    Args:
        sample_rate: frames per second; must be the model's rate (resample with ffmpeg or sox before).
        sample_format: "s16le" (16-bit signed), "s32le" (32-bit signed) or "f32le" (32-bit float in [-1, 1]).
        channels: interleaved channels, averaged to mono as `read_audio` does for files.

    Example:
        >>> PcmFormat(16000, "s16le", 2).frame_bytes
        4
    """

    sample_rate: int = 16000
    sample_format: str = "s16le"
    channels: int = 1

    def __post_init__(self):
        if self.sample_format not in SAMPLE_FORMATS:
            raise ConfigError(f"--sample-format must be one of {', '.join(SAMPLE_FORMATS)}, got {self.sample_format!r}")
        if self.sample_rate <= 0:
            raise ConfigError(f"--rate must be positive, got {self.sample_rate}")
        if self.channels <= 0:
            raise ConfigError(f"--channels must be positive, got {self.channels}")

    @property
    def frame_bytes(self):
        return np.dtype(SAMPLE_FORMATS[self.sample_format][0]).itemsize * self.channels


def _read_exactly(stream, size, what):
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"WAV stream ended inside its {what} ({len(data)} of {size} bytes)")
    return data


def wav_stream_format(stream):
    """Reads a WAV header from a binary stream up to the start of its samples; returns their `PcmFormat`.

    Accepts RIFF/WAVE with PCM 16/32-bit or IEEE float 32-bit samples (plain or WAVE_FORMAT_EXTENSIBLE); chunks
    before `data` are skipped; the data size may be unknown (0 or 0xFFFFFFFF: read to the end of the stream).
    """
    riff = _read_exactly(stream, 12, "RIFF header")
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise ValueError("not a WAV stream (no RIFF/WAVE header); for raw PCM pass --stream-format raw")
    pcm_format = None
    while True:
        chunk_id, size = struct.unpack("<4sI", _read_exactly(stream, 8, "chunk header"))
        if chunk_id == b"data":
            if pcm_format is None:
                raise ValueError("WAV stream has its data chunk before the fmt chunk")
            return pcm_format
        body = _read_exactly(stream, size + (size & 1), f"{chunk_id.decode('latin-1')!r} chunk")
        if chunk_id == b"fmt ":
            pcm_format = _wav_fmt(body)


def _wav_fmt(body):
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _WAV_FORMAT_EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the format tag
    names = {(_WAV_FORMAT_PCM, 16): "s16le", (_WAV_FORMAT_PCM, 32): "s32le", (_WAV_FORMAT_FLOAT, 32): "f32le"}
    if (tag, bits) not in names:
        raise ValueError(f"WAV stream has format tag {tag} with {bits}-bit samples; streams take 16/32-bit PCM or "
                         "32-bit float")
    return PcmFormat(rate, names[tag, bits], channels)


def pcm_chunks(stream, pcm_format, chunk_frames=DEFAULT_CHUNK_FRAMES):
    """Yields mono float32 chunks (at most `chunk_frames` samples) from a binary stream of raw PCM.

    Samples become float exactly as files do in `predict`: 16-bit mono is int16 / 32768; other formats and
    multichannel audio are averaged to mono in float64 and rounded to int16 once (`read_audio`'s rule). A partial
    frame at the very end of the stream is dropped.
    """
    dtype, scale = SAMPLE_FORMATS[pcm_format.sample_format]
    frame_bytes, pending = pcm_format.frame_bytes, b""
    while True:
        data = stream.read(chunk_frames * frame_bytes - len(pending))
        if not data:
            return
        pending += data
        usable = len(pending) - len(pending) % frame_bytes
        if usable:
            frames = np.frombuffer(pending[:usable], dtype=dtype).reshape(-1, pcm_format.channels)
            pending = pending[usable:]
            yield _to_model_floats(frames, scale)


def _to_model_floats(frames, scale):
    if frames.dtype == np.dtype("<i2") and frames.shape[1] == 1:
        return frames[:, 0].astype(np.float32) / np.float32(PCM_FULL_SCALE)
    mono = frames.astype(np.float64).mean(axis=1) / scale
    pcm = np.clip(np.round(mono * PCM_FULL_SCALE), -32768, 32767)
    return (pcm / PCM_FULL_SCALE).astype(np.float32)


class WindowStream:
    """Windows of a live stream, scored as they complete (see the module docstring).

    Args:
        predictor: a loaded `Predictor` (a shipped preset or a run).
        window: window length in seconds (default: the model's clip length).
        hop: seconds between window starts (default: the window); at most the window.
        pool: how `summary()` pools the window scores, as `predict --pool`.

    Example:
        >>> stream = WindowStream(predictor)  # doctest: +SKIP
        >>> for chunk in chunks:  # doctest: +SKIP
        ...     for window in stream.push(chunk):
        ...         print(window["start"], window["score"])
        >>> last, summary = stream.finish()  # doctest: +SKIP
    """

    def __init__(self, predictor, window=None, hop=None, pool="mean"):
        data = predictor.run_config.data
        if data.trim_silence or data.normalize:
            raise ConfigError("this model cleans each whole file first (data.trim_silence / data.normalize), which a "
                              "stream cannot do before it ends; score files with it instead")
        self.window_samples, self.hop_samples = window_lengths(predictor, window, hop)
        if self.hop_samples > self.window_samples:
            raise ConfigError(f"--hop may not exceed --window when streaming ({hop} s > {window} s)")
        self.predictor, self.pool = predictor, check_pool(pool)
        self.rate, self.clip, self.pad_mode = predictor.sample_rate, predictor.clip_samples, data.pad_mode
        key = ("stream", self.clip)
        if key not in predictor.traced:
            predictor.traced[key] = make_batch_scorer(predictor.model, 1, self.clip)
        self._score_batch = predictor.traced[key]
        self._score_batch(np.zeros((1, self.clip), np.float32))  # traced now, not when the first window is due
        self._buffer = np.zeros(0, np.float32)  # samples from the next window's start on
        self._head = np.zeros(0, np.float32)  # the stream's first window, for the repeat padding at the end
        self._total = 0  # samples received
        self._next = 0  # index of the next window
        self._sum, self._min, self._max, self._scores = 0.0, np.inf, -np.inf, []
        self._finished = False

    def push(self, samples):
        """Adds mono float32 samples at the model's rate; returns the windows completed by them, scored."""
        if self._finished:
            raise ValueError("the stream is finished")
        samples = np.asarray(samples, np.float32).reshape(-1)
        if len(self._head) < self.window_samples:
            self._head = np.concatenate([self._head, samples[: self.window_samples - len(self._head)]])
        self._total += len(samples)
        self._buffer = np.concatenate([self._buffer, samples])
        done = []
        while len(self._buffer) >= self.window_samples:
            done.append(self._score(self._buffer[: self.window_samples], self.window_samples))
            self._buffer = self._buffer[self.hop_samples :]
        return done

    def finish(self):
        """Scores the last window (padded, when the stream did not end on a window boundary).

        Returns:
            (the remaining scored windows, a list of zero or one, `summary()`).
        """
        if self._finished:
            raise ValueError("the stream is finished")
        self._finished = True
        if self._total == 0:
            raise ValueError("the stream held no audio (0 samples)")
        start = self._next * self.hop_samples
        covered_windows = 1 + -(-max(self._total - self.window_samples, 0) // self.hop_samples)
        last = []
        if self._next < covered_windows:
            tail = self._buffer[: self._total - start]  # the samples from this window's start to the end
            last.append(self._score(self._pad(tail, self.window_samples), len(tail)))
        return last, self.summary()

    def summary(self):
        """The pooled score of the windows so far, on predict's scale (None before the first window)."""
        count = self._next
        if not count:
            return None
        if self.pool == "mean":
            pooled = self._sum / count
        elif self.pool in ("min", "max"):
            pooled = self._min if self.pool == "min" else self._max
        else:
            pooled = pool_scores(self._scores, self.pool)
        return {"windows": count, "duration": self._total / self.rate, "pool": self.pool,
                **self._verdict(pooled)}

    def _pad(self, tail, length):
        """`tail` continued as `predict` continues the end of a file: the stream's start tiled, or zeros."""
        if self.pad_mode == "zero" or len(tail) >= length:
            return np.pad(tail, (0, length - len(tail)))[:length]
        if self._total < self.window_samples:  # shorter than one window: the whole stream is the tail
            return np.resize(tail, length)  # cyclic repetition, as tf.tile then slicing
        return np.concatenate([tail, self._head[: length - len(tail)]])

    def _score(self, window, valid):
        clip = window if self.window_samples == self.clip else self._pad_window(window)
        score = float(np.asarray(self._score_batch(clip[np.newaxis]))[0])
        start = self._next * self.hop_samples
        self._next += 1
        self._sum, self._min, self._max = self._sum + score, min(self._min, score), max(self._max, score)
        if self.pool not in ("mean", "min", "max"):
            self._scores.append(score)
        return {"window": self._next - 1, "start": start / self.rate, "end": (start + valid) / self.rate,
                **self._verdict(score)}

    def _pad_window(self, window):
        # A window shorter than the model's clip is padded on its own, as predict's window function does.
        if self.pad_mode == "zero":
            return np.pad(window, (0, self.clip - len(window)))
        return np.resize(window, self.clip)

    def _verdict(self, score):
        threshold, _ = self.predictor.decision_threshold
        verdict = {"score": score}
        if self.predictor.calibrator is not None:
            verdict["p_spoof"] = float(self.predictor.calibrator.predict_proba_spoof(np.array([score]))[0])
        verdict["decision"] = "bonafide" if score > threshold else "spoof"  # as predict_files
        return verdict


def score_stream(predictor, chunks, window=None, hop=None, pool="mean"):
    """Yields one scored window dict per window of the chunks (mono float32 at the model's rate), as they complete.

    The last item is `{"summary": ...}`: the pooled score, P(spoof) and decision of the whole stream.
    """
    stream = WindowStream(predictor, window, hop, pool)
    for chunk in chunks:
        yield from stream.push(chunk)
    last, summary = stream.finish()
    yield from last
    yield {"summary": summary}
