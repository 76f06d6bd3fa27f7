"""`Detector`: a ready detector, a shipped pretrained model or a trained run, for files and live streams.

    detector = Detector()                               # the shipped AASIST (models.pretrained.DEFAULT_PRETRAINED)
    detector = Detector("aasist_l")                     # another shipped preset, or its architecture's name
    detector = Detector(run="runs/lcnn")                # a trained run (with its calibration.json, if any)
    detector = Detector(calibration="calibration.json") # P(spoof) and threshold from `fakespeech calibrate`
    results = detector.predict(["clip.flac"])           # the results `fakespeech predict --format json` lists
    for item in detector.score_stream(chunks): ...      # one scored window per window, as audio arrives

A shipped model has no dev split of the user's audio to calibrate on, so its P(spoof) is the model's own
two-class softmax: the registry's AASIST outputs one logit `l_spoof - l_bonafide` of the published two-class head
(column 0 spoof, column 1 bona fide), and the score is its negation, so P(spoof) = softmax(l)[spoof] =
sigmoid(l_spoof - l_bonafide) = 1 / (1 + exp(score)). The decision threshold is P(spoof) = 0.5, i.e. score 0. In
the one calibration.json format that is the identity map (slope 1, offset 0, prior 0.5) with threshold 0
(`MODEL_SOFTMAX`); a calibration file replaces it (`calibration=`).
"""

import dataclasses
import math
import os

import soundfile

from models.pretrained import DEFAULT_PRETRAINED, get_pretrained
from pipelines.config import RunConfig, get_preset
from pipelines.evaluate.calibration import CalibrationState, Calibrator, read_calibration
from pipelines.serve import stream as streaming
from pipelines.serve.prediction import (
    NO_CALIBRATION_NOTE,
    THRESHOLD_DEV_EER,
    THRESHOLD_MODEL_SOFTMAX,
    Predictor,
    collect_audio_files,
    load_predictor,
    predict_files,
    window_lengths,
)
from pipelines.train.end_to_end import build_end_to_end
from tfrecord_builder.dataclass_config import ConfigError, deep_merge

MODEL_SOFTMAX = CalibrationState(0.0, Calibrator(slope=1.0, offset=0.0, prior_spoof=0.5), {"kind": "model_softmax"})
SOFTMAX_NOTE = ("p_spoof is the model's own two-class softmax, not calibrated on your audio; the decision threshold "
                "is p_spoof 0.5 (score 0). 'fakespeech calibrate' fits a calibration on your labelled dev scores")


def pretrained_run_config(preset):
    """The `RunConfig` of the training recipe of `preset`'s architecture, with the shipped weights as its model.

    The same windows, padding and end-to-end model as `fakespeech train --preset aasist --epochs 0` with the
    converted weights, so scores equal that run's.
    """
    recipe = deep_merge(get_preset(preset.architecture), {"model": {"params": {"pretrained": preset.name}}})
    return RunConfig.from_dict(recipe, where=f"pretrained {preset.name}")


def load_pretrained_predictor(name):
    """A `Predictor` for the shipped preset `name` (or alias), P(spoof) from the model's softmax."""
    preset = get_pretrained(name)
    run_config = pretrained_run_config(preset)
    model = build_end_to_end(run_config, with_augmentation=False)
    return Predictor(run_config, model, MODEL_SOFTMAX.threshold, MODEL_SOFTMAX.calibrator, preset.name,
                     threshold_source=THRESHOLD_MODEL_SOFTMAX)


def with_calibration(predictor, path):
    """`predictor` with the threshold and calibrator of the calibration file at `path`."""
    if not os.path.isfile(path):
        raise ConfigError(f"--calibration {path}: no such file")
    state = read_calibration(path)
    return dataclasses.replace(predictor, threshold=state.threshold, calibrator=state.calibrator,
                               threshold_source=THRESHOLD_DEV_EER)


def run_card(predictor):
    """A short Markdown card for a trained run: what it is and how it decides."""
    config = predictor.run_config
    lines = [f"# Trained run `{predictor.source}`", "",
             f"- Model: `{config.model.name}` on `{config.features.kind}` features",
             f"- Trained on: `{config.data.shards or 'unknown shards'}` (split `{config.data.train_split}`)",
             f"- Input: {config.data.sample_rate} Hz, windows of {config.data.clip_samples:,} samples "
             f"({config.data.clip_samples / config.data.sample_rate:.2f} s), padding `{config.data.pad_mode}`"]
    if predictor.calibrator is None:
        lines.append(f"- Decision: {NO_CALIBRATION_NOTE}")
    else:
        lines.append(f"- Decision: score >= {predictor.threshold:.4f} is bona fide ({predictor.threshold_source}); "
                     "P(spoof) from the calibration fitted on dev")
    return "\n".join(lines) + "\n"


def estimated_windows(predictor, paths, window=None, hop=None):
    """How many windows `paths` hold, from their headers (nothing decoded); unreadable files count none."""
    window_samples, hop_samples = window_lengths(predictor, window, hop)
    total = 0
    for entry in collect_audio_files(paths):
        try:
            info = soundfile.info(entry)
        except (TypeError, RuntimeError, OSError, soundfile.LibsndfileError):  # a dict (missing) or bad file
            continue
        samples = math.ceil(info.frames * predictor.sample_rate / max(info.samplerate, 1))
        total += 1 + -(-max(samples - window_samples, 0) // hop_samples)
    return total


def _power_of_two_above(count):
    return 1 << max(count - 1, 0).bit_length()


class Detector:
    """Scores audio with a shipped pretrained model or a trained run.

    Args:
        model: a shipped preset name or alias (`models.pretrained.available_pretrained()`); default: the shipped
            AASIST when `run` is not given either.
        run: a run directory, or a `.keras` file with the run's `config.json` beside it.
        calibration: a calibration.json (`fakespeech calibrate`, `evaluate`, `score`) replacing the threshold and
            P(spoof) of the model or run.
        batch_size: windows per model call for files.

    Example:
        >>> detector = Detector()  # doctest: +SKIP
        >>> result, = detector.predict(["clip.flac"])  # doctest: +SKIP
        >>> result["decision"], result["p_spoof"]  # doctest: +SKIP
    """

    def __init__(self, model=None, run=None, calibration=None, batch_size=32):
        if model is not None and run is not None:
            raise ConfigError("give --model NAME (a shipped model) or --run DIR (a trained run), not both")
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be positive, got {batch_size}")
        if run is not None:
            self.kind, predictor = "run", load_predictor(run)
            self.card = None
        else:
            try:
                preset = get_pretrained(model or DEFAULT_PRETRAINED)
            except ValueError as error:
                raise ConfigError(f"--model: {error}") from None
            self.kind, predictor = "pretrained", load_pretrained_predictor(preset.name)
            self.card = preset.card()
        self.calibration = calibration
        self.predictor = with_calibration(predictor, calibration) if calibration else predictor
        if self.card is None:
            self.card = run_card(self.predictor)
        self.name, self.batch_size = self.predictor.source, batch_size

    @property
    def sample_rate(self):
        return self.predictor.sample_rate

    @property
    def clip_samples(self):
        return self.predictor.clip_samples

    def note(self):
        """What the output should say about P(spoof) and the threshold, or None for a calibrated model."""
        if self.predictor.calibrator is None:
            return NO_CALIBRATION_NOTE
        if self.predictor.threshold_source == THRESHOLD_MODEL_SOFTMAX:
            return SOFTMAX_NOTE
        return None

    def header(self, window=None, hop=None, pool="mean"):
        """The header of `fakespeech predict --format json` (and of `POST /api/score`)."""
        threshold, threshold_source = self.predictor.decision_threshold
        header = {
            "model": self.name, "model_kind": self.kind, "sample_rate": self.sample_rate,
            "clip_samples": self.clip_samples, "window": window, "hop": hop, "pool": pool, "threshold": threshold,
            "threshold_source": threshold_source, "calibrated": self.predictor.calibrator is not None,
            "calibration": self.calibration,
        }
        note = self.note()
        if note:
            header["note"] = note
        return header

    def predict(self, paths, window=None, hop=None, pool="mean", progress=False):
        """`predict_files` with this detector: one result dict per file (see `pipelines.serve.prediction`).

        Batches hold at most `batch_size` windows, fewer when the files hold fewer (the next power of two above
        their count): the last batch is padded to its static size, and one short clip should not cost the model
        time of 32 windows.
        """
        batch_size = min(self.batch_size, _power_of_two_above(estimated_windows(self.predictor, paths, window, hop)))
        return predict_files(self.predictor, paths, window=window, hop=hop, pool=pool, batch_size=batch_size,
                             progress=progress)

    def stream(self, window=None, hop=None, pool="mean"):
        """A `WindowStream` to `push` chunks into (mono float32 at `sample_rate`)."""
        return streaming.WindowStream(self.predictor, window, hop, pool)

    def score_stream(self, chunks, window=None, hop=None, pool="mean"):
        """Yields a scored window dict per window of `chunks` as they complete, then `{"summary": ...}`.

        Args:
            chunks: an iterable of 1-D float32 arrays of samples at `sample_rate` (`pcm_chunks` makes them from
                raw PCM or a WAV stream).
            window, hop, pool: as `predict`; the hop may not exceed the window.
        """
        return streaming.score_stream(self.predictor, chunks, window, hop, pool)
