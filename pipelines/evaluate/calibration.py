"""Score calibration: an affine map from raw CM scores to bona-fide-vs-spoof log-likelihood ratios, fitted on dev.

The map llr = slope * score + offset is fitted by prior-weighted logistic regression (Brümmer's linear calibration,
as in the BOSARIS toolkit): bona fide is the positive class and each class carries half the total weight whatever
its count, so the fitted log-odds are LLRs (the effective training prior is 0.5) and the objective is exactly Cllr.
Posterior probabilities then need a prior: `prior_spoof`, by default the spoof fraction of the dev set the
calibrator was fitted on (what an unweighted logistic regression would have learnt), stored with the map.

Written in NumPy (Newton's method on two parameters); a tiny L2 penalty on the slope keeps the fit finite when
dev scores separate the classes perfectly.
"""

import dataclasses
from typing import Optional

import numpy as np

from pipelines.evaluate.metrics import compute_eer
from pipelines.evaluate.score_files import check_score_table, split_by_key
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import read_json

_SLOPE_PENALTY = 1e-6  # on standardised scores: negligible unless the classes separate perfectly
_MAX_NEWTON_STEPS = 100


def _weighted_logistic_loss(params, x, y, weights):
    logits = params[0] * x + params[1]
    # log(1 + exp(-logit)) for bona fide (y=1), log(1 + exp(logit)) for spoof (y=0)
    signed = np.where(y == 1, -logits, logits)
    return float(np.sum(weights * np.logaddexp(0.0, signed)) + 0.5 * _SLOPE_PENALTY * params[0] ** 2)


def _newton_step(params, x, y, weights):
    logits = params[0] * x + params[1]
    p = 1.0 / (1.0 + np.exp(-logits))
    residual = weights * (p - y)
    gradient = np.array([np.sum(residual * x) + _SLOPE_PENALTY * params[0], np.sum(residual)])
    curvature = weights * p * (1.0 - p)
    hessian = np.array(
        [
            [np.sum(curvature * x * x) + _SLOPE_PENALTY, np.sum(curvature * x)],
            [np.sum(curvature * x), np.sum(curvature) + 1e-12],
        ]
    )
    return np.linalg.solve(hessian, gradient), gradient


def fit_llr_map(scores, is_bonafide):
    """(slope, offset) minimising the Cllr of slope * score + offset on these scores."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_bonafide, dtype=np.float64)
    center, scale = float(np.mean(scores)), float(np.std(scores)) or 1.0
    x = (scores - center) / scale
    n_bona, n_spoof = float(np.sum(y)), float(np.sum(1.0 - y))
    weights = np.where(y == 1, 0.5 / n_bona, 0.5 / n_spoof)
    params = np.zeros(2)
    loss = _weighted_logistic_loss(params, x, y, weights)
    for _ in range(_MAX_NEWTON_STEPS):
        step, gradient = _newton_step(params, x, y, weights)
        if np.max(np.abs(gradient)) < 1e-10:
            break
        # Halve the Newton step until the loss does not rise: plain Newton can overshoot on near-separable data.
        for _ in range(30):
            candidate = params - step
            candidate_loss = _weighted_logistic_loss(candidate, x, y, weights)
            if candidate_loss <= loss:
                break
            step = step / 2.0
        else:
            break
        params, loss = candidate, candidate_loss
    slope = params[0] / scale
    return float(slope), float(params[1] - slope * center)


def _check_inputs(scores, labels):
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype == object and all(isinstance(label, str) for label in labels):
        labels = labels.astype(str)  # pandas hands string columns over as object arrays
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in length: {scores.size} vs {labels.size}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("calibration scores must be finite (found NaN or inf)")
    if labels.dtype.kind in "US":
        unknown = sorted(set(labels.tolist()) - {"bonafide", "spoof"})
        if unknown:
            raise ValueError(f"labels must be 'bonafide' or 'spoof', found {unknown}")
        is_bonafide = labels == "bonafide"
    else:
        if not np.all(np.isin(labels, (0, 1))):
            raise ValueError("numeric labels must be 1 (bona fide) or 0 (spoof)")
        is_bonafide = labels == 1
    if is_bonafide.all() or not is_bonafide.any():
        raise ValueError("calibration needs dev scores of both classes (bona fide and spoof)")
    return scores, is_bonafide


@dataclasses.dataclass(frozen=True)
class Calibrator:
    """Affine score-to-LLR map fitted on dev scores; bona fide is the positive class.

    Args:
        slope: multiplies the raw score.
        offset: added after scaling; slope * score + offset is the natural-log LLR of bona fide vs spoof.
        prior_spoof: prior used to turn LLRs into posterior probabilities.

    Example:
        >>> calibrator = Calibrator.fit([2.0, 3.0, 0.5, 1.0], ["bonafide", "bonafide", "spoof", "bonafide"])
        >>> calibrator.predict_proba_spoof([0.0]).shape
        (1,)
    """

    slope: float = 1.0
    offset: float = 0.0
    prior_spoof: float = 0.5

    @classmethod
    def fit(cls, scores, labels, prior_spoof: Optional[float] = None):
        """Fit on dev scores; labels are "bonafide"/"spoof" strings or 1 (bona fide) / 0 (spoof)."""
        scores, is_bonafide = _check_inputs(scores, labels)
        slope, offset = fit_llr_map(scores, is_bonafide)
        if prior_spoof is None:
            prior_spoof = float(np.mean(~is_bonafide))
        if not 0.0 < prior_spoof < 1.0:
            raise ValueError(f"prior_spoof must lie strictly between 0 and 1, got {prior_spoof}")
        return cls(slope=slope, offset=offset, prior_spoof=float(prior_spoof))

    def llr(self, scores):
        """Calibrated log-likelihood ratios (bona fide vs spoof, natural log)."""
        return self.slope * np.asarray(scores, dtype=np.float64) + self.offset

    def predict_proba_spoof(self, scores):
        """Posterior probability of spoof under `prior_spoof`."""
        log_posterior_odds_bona = self.llr(scores) + np.log((1.0 - self.prior_spoof) / self.prior_spoof)
        return 1.0 / (1.0 + np.exp(log_posterior_odds_bona))

    def to_dict(self):
        return {"kind": "linear_llr", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        kind = data.pop("kind", "linear_llr")
        if kind != "linear_llr":
            raise ValueError(f"unknown calibrator kind {kind!r}")
        unknown = sorted(set(data) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown calibrator keys: {', '.join(unknown)}")
        return cls(**{key: float(value) for key, value in data.items()})



@dataclasses.dataclass(frozen=True)
class CalibrationState:
    """What `calibration.json` holds: the dev EER threshold (on the score scale) and the calibrator fitted with it.

    The one format of that file, whoever writes it (`fakespeech evaluate` in a run directory, `fakespeech score`,
    `fakespeech calibrate`); `source` says what it was fitted on (shards and split, or a score file).
    """

    threshold: float
    calibrator: Calibrator
    source: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return {"eer_threshold": float(self.threshold), "calibrator": self.calibrator.to_dict(), **self.source}

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        if "calibrator" not in data:
            raise ValueError("no 'calibrator' entry")
        threshold = data.pop("eer_threshold", None)
        if threshold is None:
            raise ValueError("no 'eer_threshold' entry")
        return cls(float(threshold), Calibrator.from_dict(data.pop("calibrator")), data)


def fit_on_dev(scores, **source):
    """The dev EER threshold and a `Calibrator` fitted on a dev score table, as a `CalibrationState`."""
    check_score_table(scores)
    _, threshold = compute_eer(*split_by_key(scores))
    calibrator = Calibrator.fit(scores["score"].to_numpy(), scores["key"].to_numpy())
    return CalibrationState(threshold, calibrator, source)


def write_calibration(path, state):
    atomic.write_json(path, state.to_dict())


def read_calibration(path):
    """The `CalibrationState` in `path`; errors name the file and what is wrong with it."""
    try:
        return CalibrationState.from_dict(read_json(path))
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a fakespeech calibration file ({error})") from None
