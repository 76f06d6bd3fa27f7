"""ASVspoof metrics against hand computations and independent references (sklearn)."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

from pipelines.evaluate import metrics

# ASVspoof 2019 / 2021 cost model, written out here independently of pipelines.metrics.
P_SPOOF, P_TAR, P_NON = 0.05, 0.9405, 0.0095


def test_det_curve_matches_hand_computation():
    # Sorted: 0.1 S, 0.3 B, 0.4 S, 0.5 B, 0.6 S, 0.7 S, 0.9 B; point i rejects the i lowest trials.
    bona, spoof = [0.9, 0.3, 0.5], [0.6, 0.1, 0.7, 0.4]
    frr, far, thresholds = metrics.compute_det_curve(bona, spoof)
    np.testing.assert_allclose(frr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(far, [1, 3 / 4, 3 / 4, 2 / 4, 2 / 4, 1 / 4, 0, 0])
    np.testing.assert_allclose(thresholds, [0.1 - 0.001, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9])


def test_eer_matches_hand_computation():
    # Sorted: 0.1 S, 0.3 B, 0.4 S, 0.6 S, 0.7 S, 0.8 B, 0.9 B. FRR 0, 0, 1/3, 1/3, 1/3, 1/3, 2/3, 1 and
    # FAR 1, 3/4, 3/4, 1/2, 1/4, 0, 0, 0: |FRR - FAR| is smallest (1/12) at point 4 (threshold 0.6, the
    # last rejected score): EER = 7/24.
    eer, threshold = metrics.compute_eer([0.9, 0.3, 0.8], [0.6, 0.1, 0.7, 0.4])
    assert eer == pytest.approx(7 / 24)
    assert threshold == pytest.approx(0.6)


def test_ties_are_not_grouped_and_bona_fide_is_rejected_first():
    # Stable sort of (bona, spoof): 0 S, 1 B, 2 B, 2 B, 2 S, 3 S. Point 3 (both tied bona fide rejected, the tied
    # spoof still accepted) has FRR = FAR = 2/3. Grouping the tie would skip that point and give EER 1/2.
    bona, spoof = [2.0, 1.0, 2.0], [0.0, 2.0, 3.0]
    eer, threshold = metrics.compute_eer(bona, spoof)
    assert eer == pytest.approx(2 / 3)
    assert threshold == 2.0
    grouped_points = [(np.mean(np.array(bona) <= t), np.mean(np.array(spoof) > t)) for t in (-1.0, 0.0, 1.0, 2.0, 3.0)]
    grouped_eer = min(grouped_points, key=lambda p: abs(p[0] - p[1]))
    assert np.mean(grouped_eer) == pytest.approx(0.5)


def test_eer_does_not_depend_on_trial_order_within_a_class():
    bona, spoof = np.array([2.0, 1.0, 2.0, 0.5]), np.array([0.0, 2.0, 3.0, 0.5])
    assert metrics.compute_eer(bona, spoof) == metrics.compute_eer(bona[::-1], spoof[[2, 0, 3, 1]])


def test_perfect_separation_gives_zero_eer_and_perfect_decisions():
    bona, spoof = [2.0, 3.0, 5.0], [-1.0, 0.0, 1.0]
    eer, threshold = metrics.compute_eer(bona, spoof)
    assert eer == 0.0
    assert threshold == 1.0  # the highest spoof score: `score > threshold` is bona fide
    decisions = metrics.decision_metrics(bona, spoof, threshold)
    assert decisions["accuracy"] == 1.0 and decisions["f1"] == 1.0


def test_inverted_scores_give_eer_one():
    # The official curve has a point rejecting every bona fide and no spoof: FRR = FAR = 1, so EER = 1.0 exactly.
    eer, _ = metrics.compute_eer([-3.0, -2.0, -1.0], [1.0, 2.0])
    assert eer == 1.0


@pytest.mark.parametrize(
    "bona, spoof, message",
    [
        ([0.1, np.nan], [0.2], "finite"),
        ([0.1, 0.3], [np.inf], "finite"),
        ([], [0.2, 0.3], "empty"),
        ([0.1, 0.2], [], "empty"),
        ([0.5, 0.5], [0.5], "distinct"),
    ],
)
def test_invalid_scores_raise(bona, spoof, message):
    with pytest.raises(ValueError, match=message):
        metrics.compute_eer(bona, spoof)


def test_tdcf_rejects_hard_decisions():
    asv = metrics.ASVErrorRates(0.0, 0.0, p_fa=0.05, p_miss=0.1, p_miss_spoof=0.3, p_fa_spoof=0.7)
    with pytest.raises(ValueError, match="distinct"):
        metrics.min_tdcf_2019([1.0, 1.0], [0.0, 0.0], asv)


def test_asv_error_rates_by_hand():
    # Sorted target/nontarget: 0 N, 1 N, 2 T, 3 N, 4 T, 5 T. Point 3 rejects {0, 1, 2}: FRR 1/3 = FAR 1/3, so the
    # ASV EER is 1/3 at threshold 2.
    target, nontarget, spoof = [2.0, 4.0, 5.0], [0.0, 1.0, 3.0], [1.5, 2.0, 2.5, 6.0]
    rates = metrics.asv_error_rates(target, nontarget, spoof)
    assert rates.threshold == 2.0 and rates.eer == pytest.approx(1 / 3)
    assert rates.p_miss == 0.0  # accept when score >= threshold, as the official code does
    assert rates.p_fa == pytest.approx(1 / 3)
    assert rates.p_miss_spoof == pytest.approx(1 / 4)
    assert rates.p_fa_spoof == pytest.approx(3 / 4)


def _cm_error_rates_by_brute_force(bona, spoof):
    # Every cut below, between and above the sorted scores; reject (call spoof) when score <= cut.
    cuts = np.concatenate([[min(bona + spoof) - 1.0], sorted(bona + spoof)])
    p_miss = np.array([np.mean(np.array(bona) <= cut) for cut in cuts])
    p_fa = np.array([np.mean(np.array(spoof) > cut) for cut in cuts])
    return p_miss, p_fa


ASV = metrics.ASVErrorRates(eer=0.0, threshold=0.0, p_fa=0.05, p_miss=0.1, p_miss_spoof=0.3, p_fa_spoof=0.7)
CM_BONA, CM_SPOOF = [1.0, 3.0, 4.0, 0.5], [0.0, 2.0, 3.5]


def test_min_tdcf_2019_against_the_formula():
    c1 = P_TAR * (1.0 - 1.0 * ASV.p_miss) - P_NON * 10.0 * ASV.p_fa
    c2 = 10.0 * P_SPOOF * (1.0 - ASV.p_miss_spoof)
    p_miss, p_fa = _cm_error_rates_by_brute_force(CM_BONA, CM_SPOOF)
    expected = np.min((c1 * p_miss + c2 * p_fa) / min(c1, c2))
    value, _ = metrics.min_tdcf_2019(CM_BONA, CM_SPOOF, ASV)
    assert value == pytest.approx(expected)
    # A CM that passes everything costs exactly the normalised default: C2 / min(C1, C2) = 1 here (C2 < C1).
    curve, _ = metrics.tdcf_2019_curve(CM_BONA, CM_SPOOF, ASV)
    assert curve[0] == pytest.approx(c2 / min(c1, c2))


def test_min_tdcf_2021_against_the_formula():
    c0 = P_TAR * 1.0 * ASV.p_miss + P_NON * 10.0 * ASV.p_fa
    c1 = P_TAR * 1.0 - c0
    c2 = P_SPOOF * 10.0 * ASV.p_fa_spoof
    p_miss, p_fa = _cm_error_rates_by_brute_force(CM_BONA, CM_SPOOF)
    expected = np.min((c0 + c1 * p_miss + c2 * p_fa) / (c0 + min(c1, c2)))
    value, _ = metrics.min_tdcf_2021(CM_BONA, CM_SPOOF, ASV)
    assert value == pytest.approx(expected)


def test_min_tdcf_of_a_perfect_cm():
    # Perfect CM: Pmiss_cm = Pfa_cm = 0 at some cut, so legacy min t-DCF is 0 and revised is C0 / t-DCF_default.
    bona, spoof = [2.0, 3.0, 4.0], [0.0, 1.0]
    assert metrics.min_tdcf_2019(bona, spoof, ASV)[0] == 0.0
    c0 = P_TAR * ASV.p_miss + P_NON * 10.0 * ASV.p_fa
    default = c0 + min(P_TAR - c0, P_SPOOF * 10.0 * ASV.p_fa_spoof)
    assert metrics.min_tdcf_2021(bona, spoof, ASV)[0] == pytest.approx(c0 / default)


def test_min_dcf_against_the_formula():
    p_miss, p_fa = _cm_error_rates_by_brute_force(CM_BONA, CM_SPOOF)
    expected = np.min(0.95 * p_miss + 0.5 * p_fa) / min(0.95, 0.5)
    assert metrics.min_dcf(CM_BONA, CM_SPOOF)[0] == pytest.approx(expected)


def test_act_dcf_by_hand():
    # Bayes threshold -log(1 * 0.95 / (10 * 0.05)) = -log(1.9) = -0.642: one bona fide of three below it,
    # one spoof of two at or above it. Cost (0.95 / 3 + 0.5 / 2) / min(0.95, 0.5).
    value, threshold = metrics.act_dcf([-1.0, 0.0, 2.0], [-2.0, -0.5])
    assert threshold == pytest.approx(-np.log(1.9))
    assert value == pytest.approx((0.95 / 3 + 0.5 / 2) / 0.5)


def test_cllr_known_cases():
    assert metrics.cllr([0.0, 0.0], [0.0]) == pytest.approx(1.0)  # an uninformative system costs one bit
    # LLR +-log 3: each trial costs log2(1 + 1/3) bits.
    assert metrics.cllr([np.log(3.0)], [-np.log(3.0)]) == pytest.approx(np.log2(4 / 3))
    assert metrics.cllr([800.0], [-800.0]) == pytest.approx(0.0)  # no overflow for confident LLRs


def test_roc_auc_matches_sklearn_with_ties():
    bona, spoof = [0.2, 0.5, 0.5, 0.9], [0.1, 0.5, 0.3]
    labels = [1] * len(bona) + [0] * len(spoof)
    assert metrics.roc_auc(bona, spoof) == pytest.approx(roc_auc_score(labels, bona + spoof))


def test_decision_metrics_match_sklearn():
    bona, spoof, threshold = [0.2, 0.6, 0.9, 0.4], [0.1, 0.5, 0.3], 0.35
    truth = ["bonafide"] * len(bona) + ["spoof"] * len(spoof)
    predicted = ["bonafide" if score > threshold else "spoof" for score in bona + spoof]
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, pos_label="spoof", average="binary")
    result = metrics.decision_metrics(bona, spoof, threshold)
    assert result["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((precision, recall, f1))
