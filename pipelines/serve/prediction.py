"""`predict_files`: score audio files of any format, rate and channel count with a trained run.

Each file is read with soundfile (whatever libsndfile decodes), averaged to mono and polyphase-resampled to the
model's rate (`tfrecord_builder.audio_io.read_audio`, the same reader the shard builder uses, so the model sees
audio prepared exactly as in training), then cleaned like an evaluation utterance (the run's `trim_silence` and
`normalize` settings) and cut into sliding windows:

- `window` seconds (default: the model's clip length, `data.clip_samples`) every `hop` seconds (default: the
  window, i.e. no overlap). Windows start at 0, hop, 2 hop, ... until the file is covered; the last window and a
  file shorter than one window are padded with the run's `pad_mode` ("repeat" by default: the audio is tiled from
  its start, as in training and evaluation). A window shorter than the clip length is padded the same way to
  exactly `clip_samples`, the model's static input length.
- Each window's score is `-logit` of the model: higher = more bona fide (the ASVspoof convention).
- The pooled score of a file is on that same bona-fide-high scale: "mean", "max", "min" or "pNN" (the NN-th
  percentile, linear interpolation as `numpy.percentile`) of its window scores. Note the direction: "max" is the
  most bona-fide-looking window; to flag a file when ANY window looks spoofed (maximum spoofness) use "min".
- With a calibrated run (`calibration.json`, written by `fakespeech evaluate`), `p_spoof` is the calibrated
  posterior probability of spoof of the pooled score and the decision threshold is the dev-set EER threshold on
  the score scale. Without one, `p_spoof` is omitted and the threshold is 0 on the score scale, i.e. logit 0 (the
  uncalibrated sigmoid's 0.5). A file is "bonafide" when its pooled score >= the threshold, else "spoof".

Windows of all files are packed into batches of a static size (the last batch zero-padded), so one traced graph
serves every batch.
"""

import dataclasses
import os
import warnings
from typing import Optional

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pipelines.data import audio_ops
from pipelines.run_dir import RunDir
from pipelines.train.runtime import current_runtime
from tfrecord_builder.audio_io import AudioError, pcm_to_float, read_audio
from tfrecord_builder.dataclass_config import ConfigError

AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf",
    ".w64", ".rf64", ".sph", ".nist",
)
THRESHOLD_DEV_EER = "dev_eer"
THRESHOLD_LOGIT_ZERO = "logit_zero"
THRESHOLD_MODEL_SOFTMAX = "model_softmax"  # a shipped model: P(spoof) 0.5 of its own two-class softmax, score 0
THRESHOLD_NAMES = {THRESHOLD_DEV_EER: "dev EER threshold", THRESHOLD_LOGIT_ZERO: "logit 0, uncalibrated",
                   THRESHOLD_MODEL_SOFTMAX: "P(spoof) 0.5 of the model's softmax, uncalibrated"}
NO_CALIBRATION_NOTE = "run is not calibrated (no calibration.json): p_spoof omitted, threshold is logit 0"


class ShortAudioWarning(UserWarning):
    """An audio file is shorter than one window and was padded."""


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded run: its `RunConfig`, Keras model and (optional) dev threshold and calibrator."""

    run_config: object
    model: object
    threshold: Optional[float]
    calibrator: Optional[object]
    source: str
    threshold_source: str = THRESHOLD_DEV_EER  # what a non-None threshold is: see THRESHOLD_NAMES
    # Traced window and batch functions by (window, hop, batch size): repeated calls skip retracing.
    traced: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def sample_rate(self):
        return self.run_config.data.sample_rate

    @property
    def clip_samples(self):
        return self.run_config.data.clip_samples

    @property
    def decision_threshold(self):
        """(threshold on the score scale, where it comes from)."""
        if self.threshold is None:
            return 0.0, THRESHOLD_LOGIT_ZERO
        return float(self.threshold), self.threshold_source


def load_predictor(run_dir_or_model):
    """Loads a run directory, or a `.keras` file with the run's `config.json` (and `calibration.json`) beside it."""
    path = os.fspath(run_dir_or_model)
    if os.path.isdir(path):
        run, model_path = RunDir(path), None
    elif path.endswith(".keras") and os.path.isfile(path):
        run, model_path = RunDir(os.path.dirname(os.path.abspath(path))), path
    else:
        raise FileNotFoundError(f"{path}: expected a run directory or a .keras model file")
    run_config = run.load_config()
    with current_runtime().scope():  # the weights placed on the runtime's devices
        model = run.load_model(model_path)
    calibration = run.load_calibration()
    threshold, calibrator = (calibration.threshold, calibration.calibrator) if calibration else (None, None)
    return Predictor(run_config, model, threshold, calibrator, path)


def collect_audio_files(paths):
    """Expands folders (recursively, audio extensions only, sorted); files named explicitly are kept as given.

    Returns:
        A list, in input order, of paths to score and `{"path", "error"}` dicts for paths that do not exist or
        folders that hold no audio.
    """
    entries = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(path)
                for name in names
                if name.lower().endswith(AUDIO_EXTENSIONS)
            )
            if not found:
                found = [{"path": path, "error": f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in folder"}]
            entries.extend(found)
        elif os.path.exists(path):
            entries.append(path)
        else:
            entries.append({"path": path, "error": "no such file or folder"})
    return entries


def window_lengths(predictor, window=None, hop=None):
    """(window, hop) in samples at the model's rate from seconds; the window may not exceed the clip length."""
    rate, clip = predictor.sample_rate, predictor.clip_samples
    window_samples = clip if window is None else int(round(window * rate))
    if not 0 < window_samples <= clip:
        raise ConfigError(
            f"--window must be positive and at most the model's clip length {clip / rate:g} s "
            f"({clip} samples at {rate} Hz), got {window} s"
        )
    hop_samples = window_samples if hop is None else int(round(hop * rate))
    if hop_samples <= 0:
        raise ConfigError(f"--hop must be at least one sample (1/{rate} s), got {hop} s")
    return window_samples, hop_samples


def make_window_function(data_config, window_samples, hop_samples):
    """A traced `waveform (samples,) -> (windows (n, clip_samples), cleaned length)`: the run's cleaning + padding.

    Window times are on the cleaned audio, which differs from the file only when the run trims silence.
    """
    clip = data_config.clip_samples

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def windows_of(waveform):
        if data_config.trim_silence:
            waveform = audio_ops.trim_silence(waveform, data_config.trim_top_db)
        if data_config.normalize:
            waveform = audio_ops.normalize(waveform, data_config.normalize_mode)
        num_samples = tf.shape(waveform)[0]
        windows = audio_ops.all_windows(waveform, window_samples, hop_samples, data_config.pad_mode)
        if window_samples < clip:
            windows = tf.map_fn(
                lambda w: audio_ops.pad_to_length(w, clip, data_config.pad_mode),
                windows,
                fn_output_signature=tf.TensorSpec([clip], tf.float32),
            )
        return windows, num_samples  # (windows, clip_samples), samples after cleaning

    return windows_of


def make_batch_scorer(model, batch_size, clip_samples):
    """A compiled `(batch_size, clip_samples) -> (batch_size,)` numpy scorer: `-logit`, higher = more bona fide.

    It runs on the process's runtime (`pipelines.train.runtime`), either Keras backend, the batch split over the
    devices (padded up to a multiple of them when it does not divide).
    """
    forward = current_runtime().forward(model)

    def score_batch(waveforms):
        logits = forward(np.asarray(waveforms, np.float32).reshape(batch_size, clip_samples))  # (batch, 1)
        return -logits.reshape(batch_size)

    return score_batch


def score_window_stream(score_batch, window_arrays, batch_size, clip_samples):
    """Scores the rows of successive `(n_i, clip_samples)` arrays, packed into full batches across arrays.

    Returns:
        A float64 array of all rows' scores in order.
    """
    buffer = np.zeros((batch_size, clip_samples), np.float32)
    filled, scores = 0, []
    for windows in window_arrays:
        start = 0
        while start < len(windows):
            take = min(batch_size - filled, len(windows) - start)
            buffer[filled : filled + take] = windows[start : start + take]
            filled, start = filled + take, start + take
            if filled == batch_size:
                scores.append(np.asarray(score_batch(buffer)))
                filled = 0
    if filled:
        buffer[filled:] = 0.0  # padding rows: their scores are dropped
        scores.append(np.asarray(score_batch(buffer))[:filled])
    return np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)


def pool_scores(scores, pool="mean"):
    """Pools window scores (bona-fide-high scale): "mean", "max", "min" or "pNN" (NN-th percentile, 0-100)."""
    scores = np.asarray(scores, dtype=np.float64)
    if pool == "mean":
        return float(np.mean(scores))
    if pool == "max":
        return float(np.max(scores))
    if pool == "min":
        return float(np.min(scores))
    return float(np.percentile(scores, percentile_of(pool)))


def percentile_of(pool):
    """The percentile of a "pNN" pool name; raises ValueError naming the argument for anything else."""
    error = ConfigError(f"--pool must be mean, max, min or pNN with 0 <= NN <= 100 (e.g. p10), got {pool!r}")
    if not (isinstance(pool, str) and pool.startswith("p")):
        raise error
    try:
        value = float(pool[1:])
    except ValueError:
        raise error from None
    if not 0.0 <= value <= 100.0:
        raise error
    return value


def check_pool(pool):
    if pool not in ("mean", "max", "min"):
        percentile_of(pool)
    return pool


def _read_windows(path, predictor, windows_of, window_samples, hop_samples):
    """(windows, result dict without scores) for one file; raises AudioError naming the file."""
    rate = predictor.sample_rate
    decoded = read_audio(path, rate)
    waveform = pcm_to_float(decoded.samples)
    windows, num_samples = windows_of(tf.constant(waveform))
    windows, num_samples = windows.numpy(), int(num_samples)
    result = {
        "path": path,
        "duration": len(waveform) / rate,
        "source_rate": int(decoded.source_rate),
        "channels": int(decoded.channels),
    }
    if num_samples < window_samples:
        message = (
            f"{path}: audio is {num_samples / rate:.3f} s, shorter than one window ({window_samples / rate:g} s); "
            f"padded ({predictor.run_config.data.pad_mode})"
        )
        warnings.warn(message, ShortAudioWarning, stacklevel=3)
        result["warning"] = message
    starts = np.arange(len(windows)) * hop_samples
    result["_starts"] = starts / rate
    result["_ends"] = np.minimum(starts + window_samples, num_samples) / rate
    return windows, result


def _finish(result, scores, predictor, pool):
    threshold, threshold_source = predictor.decision_threshold
    pooled = pool_scores(scores, pool)
    starts, ends = result.pop("_starts"), result.pop("_ends")
    result.update({"windows": int(len(scores)), "pool": pool, "score": pooled})
    if predictor.calibrator is not None:
        result["p_spoof"] = float(predictor.calibrator.predict_proba_spoof(np.array([pooled]))[0])
    result["decision"] = "bonafide" if pooled > threshold else "spoof"  # as metrics.decision_metrics
    result["threshold"] = threshold
    result["threshold_source"] = threshold_source
    result["timeline"] = [
        {"start": float(s), "end": float(e), "score": float(v)} for s, e, v in zip(starts, ends, scores)
    ]
    return result


def predict_files(run_dir_or_model, paths, window=None, hop=None, pool="mean", batch_size=32, progress=False):
    """Scores audio files and folders with a trained run.

    Args:
        run_dir_or_model: a run directory, a `.keras` file with `config.json` beside it, or a `Predictor`.
        paths: files and folders (searched recursively for audio extensions).
        window: window length in seconds (default: the model's clip length; at most that).
        hop: hop between windows in seconds (default: the window).
        pool: how window scores become the file's score: "mean", "max", "min" or "pNN" (see module docstring;
            all on the bona-fide-high scale).
        batch_size: windows per model call (static; the last batch is zero-padded).
        progress: show a tqdm progress bar over files (on stderr).

    Returns:
        One dict per input file (folders expanded), in input order. A scored file has `path`, `duration`,
        `source_rate`, `channels`, `windows`, `pool`, `score`, `p_spoof` (calibrated runs only), `decision`,
        `threshold`, `threshold_source` ("dev_eer" or "logit_zero") and `timeline` (a list of `{start, end,
        score}` in seconds), plus `warning` when the audio was shorter than a window. A file that could not be
        scored has `path` and `error` only.

    Example:
        >>> results = predict_files("runs/lcnn", ["clip.flac"], pool="min")  # doctest: +SKIP
        >>> results[0]["decision"], results[0]["score"]  # doctest: +SKIP
    """
    check_pool(pool)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    predictor = run_dir_or_model if isinstance(run_dir_or_model, Predictor) else load_predictor(run_dir_or_model)
    window_samples, hop_samples = window_lengths(predictor, window, hop)
    entries = collect_audio_files(paths)
    key = (window_samples, hop_samples, batch_size)
    if key not in predictor.traced:
        predictor.traced[key] = (
            make_window_function(predictor.run_config.data, window_samples, hop_samples),
            make_batch_scorer(predictor.model, batch_size, predictor.clip_samples),
        )
    windows_of, score_batch = predictor.traced[key]
    results = list(entries)  # paths are replaced by their result dicts
    readable = []

    def window_arrays():
        for index, entry in enumerate(tqdm(entries, desc="scoring", unit="file", disable=None if progress else True)):
            if isinstance(entry, dict):
                continue
            try:
                windows, result = _read_windows(entry, predictor, windows_of, window_samples, hop_samples)
            except AudioError as error:
                results[index] = {"path": entry, "error": error.reason}
                continue
            readable.append((index, result, len(windows)))
            yield windows

    scores = score_window_stream(score_batch, window_arrays(), batch_size, predictor.clip_samples)
    offset = 0
    for index, result, count in readable:
        results[index] = _finish(result, scores[offset : offset + count], predictor, pool)
        offset += count
    return results
