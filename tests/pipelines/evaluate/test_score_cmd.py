"""`fakespeech score` in-process: full score files, bare `UTT SCORE` files with LA/PA protocols, ASV and dev files."""

import json

import numpy as np
import pytest

from pipelines.evaluate import metrics
from pipelines.commands.score import main

ATTACKS = {"-": (2.0, 12), "A07": (0.0, 8), "A08": (1.0, 6)}


def _trials(seed):
    rng = np.random.default_rng(seed)
    trials = []
    for attack, (mean, count) in ATTACKS.items():
        key = "bonafide" if attack == "-" else "spoof"
        values = rng.normal(mean, 1.0, count)
        trials += [(f"E_{seed}_{attack}_{i}", attack, key, float(value)) for i, value in enumerate(values)]
    return trials


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_full_score_file_with_asv_and_dev(tmp_path, capsys):
    trials = _trials(0)
    scores = _write(tmp_path / "scores.txt", [f"{u} {a} {k} {s!r}" for u, a, k, s in trials])
    dev = _write(tmp_path / "dev.txt", [f"{u} {a} {k} {s!r}" for u, a, k, s in _trials(1)])
    rng = np.random.default_rng(2)
    asv_lines = [f"{key} {asv_key} {s}" for asv_key, key, mean in
                 [("target", "bonafide", 3.0), ("nontarget", "bonafide", 0.0), ("spoof", "spoof", 2.0)]
                 for s in rng.normal(mean, 1.0, 10)]
    asv = _write(tmp_path / "asv.txt", asv_lines)
    out = tmp_path / "report"
    assert main(["--scores", scores, "--asv-scores", asv, "--dev-scores", dev, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    bona = [s for _, _, k, s in trials if k == "bonafide"]
    spoof = [s for _, _, k, s in trials if k == "spoof"]
    assert report["pooled"]["eer"] == pytest.approx(metrics.compute_eer(bona, spoof)[0])
    assert report["pooled"]["min_tdcf_2019"] is not None and report["calibration"] is not None
    assert "pooled EER" in printed and "A07" in printed and "A08" in printed
    assert (out / "calibration.json").exists() and (out / "det.png").exists()


@pytest.mark.parametrize("layout", ["LA", "PA"])
def test_bare_score_file_takes_keys_from_protocol(tmp_path, layout):
    trials = _trials(3)
    scores = _write(tmp_path / "scores.txt", [f"{u} {s!r}" for u, _, _, s in trials])
    if layout == "LA":  # SPEAKER UTT - SYSTEM KEY
        protocol = [f"LA_0001 {u} - {a} {k}" for u, a, k, _ in trials]
    else:  # SPEAKER UTT ENV ATTACK KEY
        protocol = [f"PA_0001 {u} aaa {'-' if a == '-' else 'B' + a} {k}" for u, a, k, _ in trials]
    protocol_path = _write(tmp_path / "protocol.txt", protocol)
    out = tmp_path / "report"
    assert main(["--scores", scores, "--protocol", protocol_path, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    expected = {(f"B{a}" if layout == "PA" else a): n for a, (_, n) in ATTACKS.items() if a != "-"}
    assert {row["attack"]: row["count"] for row in report["per_attack"]} == expected


def test_bare_score_file_without_protocol_fails_naming_the_file(tmp_path, capsys):
    scores = _write(tmp_path / "bare.txt", ["U1 0.5", "U2 0.1"])
    assert main(["--scores", scores, "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "bare.txt" in error and "--protocol" in error


def test_scored_utterance_missing_from_protocol_fails(tmp_path, capsys):
    trials = _trials(4)
    scores = _write(tmp_path / "scores.txt", [f"{u} {s!r}" for u, _, _, s in trials])
    protocol = _write(tmp_path / "protocol.txt", [f"LA_0001 {u} - {a} {k}" for u, a, k, _ in trials[1:]])
    assert main(["--scores", scores, "--protocol", protocol, "--out", str(tmp_path / "out")]) == 1
    assert "not in" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"target target 1.0\n\x00\x00\x00"])
def test_a_binary_asv_score_file_is_named(tmp_path, capsys, content):
    trials = _trials(0)
    scores = _write(tmp_path / "scores.txt", [f"{u} {a} {k} {s!r}" for u, a, k, s in trials])
    asv = tmp_path / "asv.bin"
    asv.write_bytes(content)
    assert main(["--scores", scores, "--asv-scores", str(asv), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "asv.bin: not a text file" in err or "asv.bin: a binary file" in err
    assert not (tmp_path / "out").exists()
