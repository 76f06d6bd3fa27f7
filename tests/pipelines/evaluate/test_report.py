"""report.json / report.md / plots: written, parseable, and consistent with the score table they describe."""

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluate import metrics
from pipelines.evaluate.calibration import Calibrator
from pipelines.evaluate.report import compute_report, write_report
from pipelines.evaluate.score_files import read_score_file, write_score_file

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COUNTS = {"-": 30, "A01": 20, "A02": 12}


def _score_table(seed=0):
    rng = np.random.default_rng(seed)
    means = {"-": 2.0, "A01": 0.0, "A02": 1.0}
    rows = []
    for attack, count in COUNTS.items():
        key = "bonafide" if attack == "-" else "spoof"
        for index, score in enumerate(rng.normal(means[attack], 1.0, count)):
            rows.append((f"{attack}_{index}", attack, key, score))
    return pd.DataFrame(rows, columns=["utt_id", "system_id", "key", "score"])


def _asv_scores(seed=1):
    rng = np.random.default_rng(seed)
    return {"target": rng.normal(3, 1, 40), "nontarget": rng.normal(0, 1, 40), "spoof": rng.normal(2, 1, 40)}


def test_report_files_exist_and_parse(tmp_path):
    scores = _score_table()
    calibrator = Calibrator(slope=1.0, offset=-1.0, prior_spoof=0.5)
    report = write_report(tmp_path, scores, dev_threshold=1.0, calibrator=calibrator, asv_scores=_asv_scores())
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(report))
    for name in report["plots"].values():
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    markdown = (tmp_path / "report.md").read_text()
    assert "| A01 | 20 |" in markdown and "| A02 | 12 |" in markdown
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")]
    for field in ("min_tdcf_2019", "min_tdcf_2021", "eer", "roc_auc", "min_dcf"):
        assert np.isfinite(report["pooled"][field])
    assert np.isfinite(report["calibration"]["cllr"]) and np.isfinite(report["calibration"]["act_dcf"])
    assert set(report["decision_at_dev_threshold"]) >= {"accuracy", "precision", "recall", "f1"}


def test_per_attack_table_pairs_each_attack_with_all_bona_fide():
    scores = _score_table()
    report = compute_report(scores)
    bona = scores.loc[scores["key"] == "bonafide", "score"].to_numpy()
    assert [(row["attack"], row["count"]) for row in report["per_attack"]] == [("A01", 20), ("A02", 12)]
    for row in report["per_attack"]:
        attack_scores = scores.loc[scores["system_id"] == row["attack"], "score"].to_numpy()
        assert row["eer"] == metrics.compute_eer(bona, attack_scores)[0]
    assert report["counts"] == {"bonafide": 30, "spoof": 32, "total": 62}


def test_without_asv_scores_min_tdcf_is_unavailable_with_a_note():
    report = compute_report(_score_table())
    assert report["pooled"]["min_tdcf_2019"] is None and report["pooled"]["min_tdcf_2021"] is None
    assert any("min t-DCF not computed" in note for note in report["notes"])
    assert report["decision_at_dev_threshold"] is None and report["calibration"] is None


def test_report_rejects_rows_without_keys():
    scores = _score_table()
    scores.loc[0, "key"] = None
    with pytest.raises(ValueError, match="protocol"):
        compute_report(scores)


def test_score_file_round_trip(tmp_path):
    scores = _score_table()
    path = tmp_path / "scores.txt"
    write_score_file(path, scores)
    first_line = path.read_text().splitlines()[0].split()
    assert first_line[1:3] == ["-", "bonafide"]
    pd.testing.assert_frame_equal(read_score_file(path), scores)


def test_score_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("U1 - bonafide 0.5\nU2 A01 spoof nan\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: .*not finite"):
        read_score_file(path)
    path.write_text("U1 - bonafide 0.5\nU2 A01 fake 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: key 'fake'"):
        read_score_file(path)
