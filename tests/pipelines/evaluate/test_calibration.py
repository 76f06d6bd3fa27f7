"""Linear score-to-LLR calibration: recovers known LLR maps, lowers Cllr, round-trips through JSON."""

import json

import numpy as np
import pytest

from pipelines.evaluate import metrics
from pipelines.evaluate.calibration import CalibrationState, Calibrator, read_calibration, write_calibration


def _gaussian_llr_scores(seed=0, n=2000):
    # Bona fide ~ N(1, 1), spoof ~ N(-1, 1): the true natural-log LLR of x is 2x (equal variances, means +-1).
    rng = np.random.default_rng(seed)
    bona, spoof = rng.normal(1.0, 1.0, n), rng.normal(-1.0, 1.0, n)
    return 2.0 * bona, 2.0 * spoof


def test_calibration_recovers_a_known_affine_map():
    true_bona, true_spoof = _gaussian_llr_scores()
    # Raw scores = 3 * llr + 5, so the calibrating map is llr = raw / 3 - 5 / 3.
    raw = np.concatenate([3.0 * true_bona + 5.0, 3.0 * true_spoof + 5.0])
    labels = ["bonafide"] * true_bona.size + ["spoof"] * true_spoof.size
    calibrator = Calibrator.fit(raw, labels)
    assert calibrator.slope == pytest.approx(1 / 3, rel=0.05)
    assert calibrator.offset == pytest.approx(-5 / 3, abs=0.1)


def test_calibration_lowers_cllr_of_miscalibrated_scores():
    true_bona, true_spoof = _gaussian_llr_scores(seed=1)
    raw_bona, raw_spoof = 3.0 * true_bona + 5.0, 3.0 * true_spoof + 5.0
    calibrator = Calibrator.fit(np.concatenate([raw_bona, raw_spoof]), [1] * raw_bona.size + [0] * raw_spoof.size)
    raw_cllr = metrics.cllr(raw_bona, raw_spoof)
    calibrated_cllr = metrics.cllr(calibrator.llr(raw_bona), calibrator.llr(raw_spoof))
    oracle_cllr = metrics.cllr(true_bona, true_spoof)
    assert calibrated_cllr < raw_cllr
    # Fitting minimises Cllr over affine maps, which include the true one: no worse than the oracle LLRs.
    assert calibrated_cllr <= oracle_cllr + 1e-9
    assert calibrated_cllr == pytest.approx(oracle_cllr, abs=0.01)


def test_perfectly_calibrated_scores_are_left_nearly_unchanged():
    true_bona, true_spoof = _gaussian_llr_scores(seed=2, n=5000)
    calibrator = Calibrator.fit(np.concatenate([true_bona, true_spoof]), [1] * true_bona.size + [0] * true_spoof.size)
    assert calibrator.slope == pytest.approx(1.0, abs=0.05)
    assert calibrator.offset == pytest.approx(0.0, abs=0.05)


def test_posterior_uses_the_stored_prior():
    calibrator = Calibrator(slope=1.0, offset=0.0, prior_spoof=0.2)
    # LLR 0 leaves the prior unchanged; LLR log 4 against prior odds 4:1 for bona fide gives odds 16:1.
    np.testing.assert_allclose(calibrator.predict_proba_spoof([0.0, np.log(4.0)]), [0.2, 1.0 / 17.0])


def test_default_prior_is_the_dev_spoof_fraction():
    calibrator = Calibrator.fit([0.1, 0.4, 0.35, 0.8], ["spoof", "spoof", "spoof", "bonafide"])
    assert calibrator.prior_spoof == pytest.approx(0.75)


def test_perfectly_separable_dev_scores_give_a_finite_map():
    calibrator = Calibrator.fit([1.0, 2.0, -1.0, -2.0], [1, 1, 0, 0])
    assert np.isfinite(calibrator.slope) and calibrator.slope > 0
    assert metrics.cllr(calibrator.llr([1.0, 2.0]), calibrator.llr([-1.0, -2.0])) < 0.01


def test_round_trip_through_json(tmp_path):
    calibrator = Calibrator(slope=0.25, offset=-1.5, prior_spoof=0.9)
    assert Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict()))) == calibrator
    path = tmp_path / "calibration.json"
    state = CalibrationState(0.75, calibrator, {"dev_split": "dev"})
    write_calibration(path, state)
    assert read_calibration(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]  # no temporary file left behind


def test_a_damaged_calibration_file_is_named(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text('{"eer_threshold": 0.5')
    with pytest.raises(ValueError, match="calibration.json: not a fakespeech calibration file.*not valid JSON"):
        read_calibration(path)


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        ([0.1, 0.2], ["bonafide", "bonafide"], "both classes"),
        ([0.1, np.nan], ["bonafide", "spoof"], "finite"),
        ([0.1, 0.2], ["bonafide", "fake"], "fake"),
        ([0.1, 0.2, 0.3], ["bonafide", "spoof"], "length"),
    ],
)
def test_invalid_inputs_raise(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        Calibrator.fit(scores, labels)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="temperature"):
        Calibrator.from_dict({"slope": 1.0, "offset": 0.0, "prior_spoof": 0.5, "temperature": 2.0})
