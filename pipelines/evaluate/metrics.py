"""ASVspoof metrics in plain NumPy: EER, min t-DCF (2019 legacy and 2021 revised), minDCF, actDCF, Cllr, ROC AUC.

Convention: higher score = more bona fide. Definitions follow the official ASVspoof evaluation code (our own
implementation, not a copy):

- DET curve, EER, ASV error rates: `eval_metrics.py` of the ASVspoof 2019 t-DCF package (tDCF_python_v2), the same
  functions ship unchanged in the ASVspoof 2021 (`eval-package/eval_metrics.py`) and ASVspoof 5
  (`evaluation-package/calculate_modules.py`) packages.
- min t-DCF 2019: `compute_tDCF_legacy` of the ASVspoof 2021 package (= `compute_tDCF` of the 2019 package);
  Kinnunen et al., Odyssey 2018, and the ASVspoof 2019 evaluation plan.
- min t-DCF 2021: `compute_tDCF` of the ASVspoof 2021 package; Kinnunen et al., IEEE/ACM TASLP 2020.
- minDCF, actDCF, Cllr: `compute_mindcf`, `compute_actDCF`, `calculate_CLLR` of the ASVspoof 5 package.

Ties: the official DET curve concatenates (bona fide, spoof) scores and sorts them with a stable sort, so among
equal scores the bona fide trials come first and are "rejected" before the tied spoof trials; ties are not
grouped into one operating point. The curve therefore walks through points where only part of a tie has been
passed, and a tie between the classes is resolved against the system: bona fide [0, 0] vs spoof [0, 0] gives
EER 1.0, not 0.5. We reproduce this exactly (it is what published numbers were computed with).
"""

import dataclasses

import numpy as np

BONAFIDE = "bonafide"
SPOOF = "spoof"


@dataclasses.dataclass(frozen=True)
class TDCF2019CostModel:
    """ASVspoof 2019 (legacy) t-DCF cost model: priors and the separate ASV and CM costs of the evaluation plan."""

    p_spoof: float = 0.05
    p_tar: float = 0.95 * 0.99  # 0.9405
    p_non: float = 0.95 * 0.01  # 0.0095
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0


@dataclasses.dataclass(frozen=True)
class TDCF2021CostModel:
    """ASVspoof 2021 (revised) t-DCF cost model: costs of the tandem system's decisions."""

    p_spoof: float = 0.05
    p_tar: float = 0.95 * 0.99
    p_non: float = 0.95 * 0.01
    c_miss: float = 1.0
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0


@dataclasses.dataclass(frozen=True)
class DCFCostModel:
    """The ASVspoof 5 CM detection cost (Pspoof 0.05, Cmiss 1, Cfa 10) used for minDCF and actDCF."""

    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 10.0


@dataclasses.dataclass(frozen=True)
class ASVErrorRates:
    """ASV error rates at the ASV EER threshold (accept when score >= threshold, as the official code does)."""

    eer: float
    threshold: float
    p_fa: float  # nontarget accepted
    p_miss: float  # target rejected
    p_miss_spoof: float  # spoof rejected
    p_fa_spoof: float  # spoof accepted

    def to_dict(self):
        return dataclasses.asdict(self)


def _as_scores(values, name):
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name}: no scores (the class is empty)")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name}: scores must be finite, found {array[bad]} at index {bad}")
    return array


def check_scores(bona_scores, spoof_scores, min_distinct=2):
    """Validate two score arrays; returns them as float64 1-D arrays.

    Raises ValueError for an empty class, NaN/inf, or fewer than `min_distinct` distinct scores overall (hard
    decisions cannot trace a DET curve).
    """
    bona = _as_scores(bona_scores, "bona fide scores")
    spoof = _as_scores(spoof_scores, "spoof scores")
    distinct = np.unique(np.concatenate([bona, spoof])).size
    if distinct < min_distinct:
        raise ValueError(
            f"scores must take at least {min_distinct} distinct values, got {distinct}: soft scores are needed, "
            "not hard decisions"
        )
    return bona, spoof


def compute_det_curve(bona_scores, spoof_scores):
    """Miss (FRR) and false-alarm (FAR) rates at every operating point, as the official `compute_det_curve`.

    Point i rejects the i lowest-scoring trials of the stable sort of (bona fide, spoof); point 0 rejects none.
    Returns (frr, far, thresholds), each of length n_bona + n_spoof + 1; thresholds[0] is the lowest score
    minus 0.001 and thresholds[i] the i-th sorted score (the official convention).
    """
    bona, spoof = check_scores(bona_scores, spoof_scores)
    scores = np.concatenate([bona, spoof])
    is_bona = np.concatenate([np.ones(bona.size), np.zeros(spoof.size)])
    order = np.argsort(scores, kind="mergesort")
    bona_rejected = np.cumsum(is_bona[order])
    spoof_rejected = np.arange(1, scores.size + 1) - bona_rejected
    frr = np.concatenate([[0.0], bona_rejected / bona.size])
    far = np.concatenate([[1.0], (spoof.size - spoof_rejected) / spoof.size])
    thresholds = np.concatenate([[scores[order[0]] - 0.001], scores[order]])
    return frr, far, thresholds


def compute_eer(bona_scores, spoof_scores):
    """Equal error rate and its threshold, as the official `compute_eer`.

    EER is the mean of FRR and FAR at the DET point where |FRR - FAR| is smallest (the first such point; where two
    points tie in exact arithmetic, floating-point rounding of the rates decides, as in the official code).
    The threshold is the score of the last rejected trial, so `score > threshold` reproduces that operating
    point when there are no ties at the threshold.

    Example:
        >>> compute_eer([2.0, 3.0], [0.0, 1.0])
        (0.0, 1.0)
    """
    frr, far, thresholds = compute_det_curve(bona_scores, spoof_scores)
    index = int(np.argmin(np.abs(frr - far)))
    return float((frr[index] + far[index]) / 2.0), float(thresholds[index])


def asv_error_rates(target_scores, nontarget_scores, spoof_scores):
    """ASV error rates at the ASV EER threshold, as the official `obtain_asv_error_rates`.

    The threshold is the EER threshold of target vs nontarget; a trial is accepted when score >= threshold.
    """
    target = _as_scores(target_scores, "ASV target scores")
    nontarget = _as_scores(nontarget_scores, "ASV nontarget scores")
    spoof = _as_scores(spoof_scores, "ASV spoof scores")
    eer, threshold = compute_eer(target, nontarget)
    p_miss_spoof = float(np.mean(spoof < threshold))
    return ASVErrorRates(
        eer=eer,
        threshold=threshold,
        p_fa=float(np.mean(nontarget >= threshold)),
        p_miss=float(np.mean(target < threshold)),
        p_miss_spoof=p_miss_spoof,
        p_fa_spoof=1.0 - p_miss_spoof,
    )


def _check_priors(cost):
    priors = (cost.p_tar, cost.p_non, cost.p_spoof)
    if min(priors) < 0 or abs(sum(priors) - 1.0) > 1e-10:
        raise ValueError(f"t-DCF priors must be non-negative and sum to one, got {priors}")


def _tdcf_det(bona_scores, spoof_scores):
    # The official t-DCF code asks for at least three distinct CM scores ("soft scores, not decisions").
    bona, spoof = check_scores(bona_scores, spoof_scores, min_distinct=3)
    return compute_det_curve(bona, spoof)


def tdcf_2019_curve(bona_scores, spoof_scores, asv, cost=TDCF2019CostModel()):
    """Normalised legacy t-DCF (ASVspoof 2019) at every CM operating point: (tdcf_norm, thresholds).

    t-DCF(s) = C1 Pmiss_cm(s) + C2 Pfa_cm(s), normalised by min(C1, C2), where
    C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv and C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv).
    """
    _check_priors(cost)
    p_miss_cm, p_fa_cm, thresholds = _tdcf_det(bona_scores, spoof_scores)
    c1 = cost.p_tar * (cost.c_miss_cm - cost.c_miss_asv * asv.p_miss) - cost.p_non * cost.c_fa_asv * asv.p_fa
    c2 = cost.c_fa_cm * cost.p_spoof * (1.0 - asv.p_miss_spoof)
    if c1 < 0 or c2 < 0:
        raise ValueError(f"t-DCF weights must be non-negative (C1={c1}, C2={c2}): check the ASV error rates")
    if min(c1, c2) == 0:
        raise ValueError(f"t-DCF is undefined: min(C1, C2) is zero (C1={c1}, C2={c2})")
    return (c1 * p_miss_cm + c2 * p_fa_cm) / min(c1, c2), thresholds


def tdcf_2021_curve(bona_scores, spoof_scores, asv, cost=TDCF2021CostModel()):
    """Normalised revised t-DCF (ASVspoof 2021) at every CM operating point: (tdcf_norm, thresholds).

    t-DCF(s) = C0 + C1 Pmiss_cm(s) + C2 Pfa_cm(s), normalised by t-DCF_default = C0 + min(C1, C2), where
    C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv, C1 = Ptar Cmiss - C0 and C2 = Pspoof Cfa_spoof Pfa_spoof_asv.
    """
    _check_priors(cost)
    p_miss_cm, p_fa_cm, thresholds = _tdcf_det(bona_scores, spoof_scores)
    c0 = cost.p_tar * cost.c_miss * asv.p_miss + cost.p_non * cost.c_fa * asv.p_fa
    c1 = cost.p_tar * cost.c_miss - c0
    c2 = cost.p_spoof * cost.c_fa_spoof * asv.p_fa_spoof
    if c0 < 0 or c1 < 0 or c2 < 0:
        raise ValueError(f"t-DCF weights must be non-negative (C0={c0}, C1={c1}, C2={c2})")
    default = c0 + min(c1, c2)
    if default == 0:
        raise ValueError("t-DCF is undefined: the default (CM-less) cost is zero")
    return (c0 + c1 * p_miss_cm + c2 * p_fa_cm) / default, thresholds


def _minimum(curve, thresholds):
    index = int(np.argmin(curve))
    return float(curve[index]), float(thresholds[index])


def min_tdcf_2019(bona_scores, spoof_scores, asv, cost=TDCF2019CostModel()):
    """Minimum normalised legacy t-DCF over CM thresholds: (min_tdcf, threshold)."""
    return _minimum(*tdcf_2019_curve(bona_scores, spoof_scores, asv, cost))


def min_tdcf_2021(bona_scores, spoof_scores, asv, cost=TDCF2021CostModel()):
    """Minimum normalised revised t-DCF over CM thresholds: (min_tdcf, threshold)."""
    return _minimum(*tdcf_2021_curve(bona_scores, spoof_scores, asv, cost))


def _dcf_default(cost):
    return min(cost.c_miss * (1.0 - cost.p_spoof), cost.c_fa * cost.p_spoof)


def min_dcf(bona_scores, spoof_scores, cost=DCFCostModel()):
    """Minimum normalised detection cost over the DET curve (ASVspoof 5 `compute_mindcf`): (min_dcf, threshold).

    DCF = Cmiss (1 - Pspoof) Pmiss + Cfa Pspoof Pfa, normalised by min(Cmiss (1 - Pspoof), Cfa Pspoof).
    """
    frr, far, thresholds = compute_det_curve(bona_scores, spoof_scores)
    dcf = cost.c_miss * (1.0 - cost.p_spoof) * frr + cost.c_fa * cost.p_spoof * far
    value, threshold = _minimum(dcf, thresholds)
    return value / _dcf_default(cost), threshold


def bayes_threshold(cost=DCFCostModel()):
    """The Bayes decision threshold on bona-fide-vs-spoof LLRs: -log(Cmiss (1 - Pspoof) / (Cfa Pspoof))."""
    return float(-np.log(cost.c_miss * (1.0 - cost.p_spoof) / (cost.c_fa * cost.p_spoof)))


def act_dcf(bona_llrs, spoof_llrs, cost=DCFCostModel()):
    """Actual normalised DCF of LLR scores at the Bayes threshold (ASVspoof 5 `compute_actDCF`): (act_dcf, threshold).

    A trial is accepted as bona fide when llr >= threshold. Meaningful only when the scores are calibrated LLRs
    (natural log).
    """
    bona, spoof = check_scores(bona_llrs, spoof_llrs, min_distinct=1)
    threshold = bayes_threshold(cost)
    p_miss = np.mean(bona < threshold)
    p_fa = np.mean(spoof >= threshold)
    dcf = cost.c_miss * (1.0 - cost.p_spoof) * p_miss + cost.c_fa * cost.p_spoof * p_fa
    return float(dcf / _dcf_default(cost)), threshold


def cllr(bona_llrs, spoof_llrs):
    """Log-likelihood-ratio cost in bits (Brümmer and du Preez 2006; ASVspoof 5 `calculate_CLLR`).

    Cllr = (mean log2(1 + e^-llr_bona) + mean log2(1 + e^llr_spoof)) / 2 for natural-log LLRs of bona fide
    vs spoof. 1.0 is the cost of a system that always outputs llr 0; 0 is perfect.
    """
    bona, spoof = check_scores(bona_llrs, spoof_llrs, min_distinct=1)
    return float((np.mean(np.logaddexp(0.0, -bona)) + np.mean(np.logaddexp(0.0, spoof))) / (2.0 * np.log(2.0)))


def roc_auc(bona_scores, spoof_scores):
    """Area under the ROC curve with bona fide as the positive class (Mann-Whitney U; ties count one half)."""
    bona, spoof = check_scores(bona_scores, spoof_scores)
    ordered = np.sort(spoof)
    below = np.searchsorted(ordered, bona, side="left")
    at_or_below = np.searchsorted(ordered, bona, side="right")
    return float(np.sum(below + 0.5 * (at_or_below - below)) / (bona.size * spoof.size))


def decision_metrics(bona_scores, spoof_scores, threshold):
    """Accuracy and spoof-class precision, recall and F1 when `score > threshold` is called bona fide.

    `>` matches the DET operating point that `compute_eer` returns its threshold for. Spoof is the positive class
    (the thing the detector looks for). Precision (and F1) is 0.0 when nothing is called spoof.
    """
    bona, spoof = check_scores(bona_scores, spoof_scores, min_distinct=1)
    true_positive = int(np.sum(spoof <= threshold))
    false_positive = int(np.sum(bona <= threshold))
    false_negative = spoof.size - true_positive
    true_negative = bona.size - false_positive
    called_spoof = true_positive + false_positive
    precision = true_positive / called_spoof if called_spoof else 0.0
    recall = true_positive / spoof.size
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "accuracy": (true_positive + true_negative) / (bona.size + spoof.size),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "bonafide_rejected": false_positive / bona.size,  # FRR at this threshold
        "spoof_accepted": false_negative / spoof.size,  # FAR at this threshold
    }
