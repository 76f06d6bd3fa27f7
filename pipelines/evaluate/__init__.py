"""Evaluation: ASVspoof metrics, score files, calibration, scoring a split, the report, `evaluate_run`."""
