"""The ASVspoof evaluation report of one score table: `report.json`, `report.md` and four PNG plots.

Rates in `report.json` are fractions (EER 0.05 = 5 %); `report.md` shows percentages. The pooled figures always come
with the per-attack table (each attack against all bona fide trials).
"""

import dataclasses
import io
import json
import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import norm

from pipelines.evaluate import metrics
from pipelines.evaluate.calibration import Calibrator
from pipelines.evaluate.score_files import check_score_table, read_asv_scores, split_by_key
from tfrecord_builder import atomic

PLOTS = {"det": "det.png", "roc": "roc.png", "score_hist": "score_hist.png", "attack_eer": "attack_eer.png"}
NO_ASV_NOTE = (
    "min t-DCF not computed: it needs the ASV system's scores (pass an ASV score file 'CM_KEY ASV_KEY SCORE', "
    "--asv-scores); no default ASV operating point is assumed."
)
NO_DEV_NOTE = (
    "Accuracy/precision/recall/F1 not computed: they need a threshold chosen on dev (the dev EER threshold); "
    "the eval EER threshold would be an oracle choice."
)
NO_CALIBRATION_NOTE = "Cllr and actDCF not computed: they need calibrated LLRs (a calibrator fitted on dev scores)."


def _asv_rates(asv_scores):
    if asv_scores is None:
        return None
    if isinstance(asv_scores, (str, os.PathLike)):
        asv_scores = read_asv_scores(asv_scores)
    return metrics.asv_error_rates(asv_scores["target"], asv_scores["nontarget"], asv_scores["spoof"])


def _per_attack(scores, bona):
    rows = []
    spoof_rows = scores[scores["key"] == "spoof"]
    for attack, group in sorted(spoof_rows.groupby("system_id"), key=lambda item: str(item[0])):
        row = {"attack": str(attack), "count": int(len(group))}
        try:
            row["eer"], row["threshold"] = metrics.compute_eer(bona, group["score"].to_numpy(dtype=np.float64))
        except ValueError as error:
            row["eer"], row["threshold"], row["note"] = None, None, str(error)
        rows.append(row)
    return rows


def _calibration_section(calibrator, bona, spoof):
    cost = metrics.DCFCostModel()
    act, threshold = metrics.act_dcf(calibrator.llr(bona), calibrator.llr(spoof), cost)
    return {
        "cllr": metrics.cllr(calibrator.llr(bona), calibrator.llr(spoof)),
        "act_dcf": act,
        "bayes_threshold_llr": threshold,
        "cost_model": dataclasses.asdict(cost),
        "calibrator": calibrator.to_dict(),
    }


def compute_report(scores, *, dev_threshold=None, calibrator=None, asv_scores=None, title="fakespeech evaluation"):
    """Every figure for a score table (columns `utt_id, system_id, key, score`), as a JSON-ready dict.

    Args:
        scores: DataFrame; `system_id` is the attack ("-" for bona fide), key "bonafide"/"spoof", higher score =
            more bona fide.
        dev_threshold: the EER threshold of the dev scores; decisions are `score > dev_threshold` -> bona fide.
        calibrator: a `Calibrator` fitted on dev (or its dict); gives Cllr and actDCF.
        asv_scores: {"target", "nontarget", "spoof"} arrays or an ASV score file path; gives the min t-DCFs.
        title: the report heading.
    """
    check_score_table(scores)
    bona, spoof = split_by_key(scores)
    eer, eer_threshold = metrics.compute_eer(bona, spoof)
    min_dcf, min_dcf_threshold = metrics.min_dcf(bona, spoof)
    pooled = {
        "eer": eer,
        "eer_threshold": eer_threshold,
        "roc_auc": metrics.roc_auc(bona, spoof),
        "min_dcf": min_dcf,
        "min_dcf_threshold": min_dcf_threshold,
        "min_tdcf_2019": None,
        "min_tdcf_2021": None,
    }
    notes = []
    asv = _asv_rates(asv_scores)
    if asv is None:
        notes.append(NO_ASV_NOTE)
    else:
        pooled["min_tdcf_2019"], pooled["min_tdcf_2019_threshold"] = metrics.min_tdcf_2019(bona, spoof, asv)
        pooled["min_tdcf_2021"], pooled["min_tdcf_2021_threshold"] = metrics.min_tdcf_2021(bona, spoof, asv)
    decision = None
    if dev_threshold is None:
        notes.append(NO_DEV_NOTE)
    else:
        decision = {"positive_class": "spoof", **metrics.decision_metrics(bona, spoof, float(dev_threshold))}
    calibration = None
    if calibrator is None:
        notes.append(NO_CALIBRATION_NOTE)
    else:
        if isinstance(calibrator, dict):
            calibrator = Calibrator.from_dict(calibrator)
        calibration = _calibration_section(calibrator, bona, spoof)
    return {
        "title": title,
        "score_convention": "higher score = more bona fide",
        "counts": {"bonafide": int(bona.size), "spoof": int(spoof.size), "total": int(bona.size + spoof.size)},
        "pooled": pooled,
        "per_attack": _per_attack(scores, bona),
        "asv": None if asv is None else asv.to_dict(),
        "tdcf_cost_models": {
            "2019": dataclasses.asdict(metrics.TDCF2019CostModel()),
            "2021": dataclasses.asdict(metrics.TDCF2021CostModel()),
        },
        "decision_at_dev_threshold": decision,
        "calibration": calibration,
        "plots": dict(PLOTS),
        "notes": notes,
    }


# ---- plots --------------------------------------------------------------------------------------------------------


def _figure():
    figure = Figure(figsize=(5.5, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot(1, 1, 1)


def _save(figure, path):
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    atomic.write_bytes(path, buffer.getvalue())


def _plot_det(path, bona, spoof, eer):
    frr, far, _ = metrics.compute_det_curve(bona, spoof)
    # Rates of exactly 0 or 1 sit at -inf/+inf on normal-deviate axes: clip them onto the border of the plot.
    clip = max(0.5 / (bona.size + spoof.size), 5e-4)
    figure, axes = _figure()
    axes.plot(norm.ppf(np.clip(far, clip, 1 - clip)), norm.ppf(np.clip(frr, clip, 1 - clip)), label="CM")
    point = norm.ppf(np.clip(eer, clip, 1 - clip))
    axes.plot([point], [point], "o", color="tab:red", label=f"EER {100 * eer:.2f} %")
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999])
    ticks = ticks[(ticks >= clip) & (ticks <= 1 - clip)]
    labels = [f"{100 * tick:g}" for tick in ticks]
    axes.set_xticks(norm.ppf(ticks), labels)
    axes.set_yticks(norm.ppf(ticks), labels)
    axes.set_xlim(norm.ppf([clip, 1 - clip]))
    axes.set_ylim(norm.ppf([clip, 1 - clip]))
    axes.set_xlabel("False acceptance rate of spoofs (%)")
    axes.set_ylabel("False rejection rate of bona fide (%)")
    axes.set_title("DET curve")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    _save(figure, path)


def _plot_roc(path, bona, spoof, auc):
    frr, far, _ = metrics.compute_det_curve(bona, spoof)
    figure, axes = _figure()
    axes.plot(far, 1 - frr, label=f"AUC {auc:.4f}")
    axes.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    axes.set_xlabel("Spoofs accepted (false positive rate)")
    axes.set_ylabel("Bona fide accepted (true positive rate)")
    axes.set_title("ROC (bona fide positive)")
    axes.legend(loc="lower right")
    _save(figure, path)


def _plot_histograms(path, bona, spoof, threshold):
    figure, axes = _figure()
    bins = np.histogram_bin_edges(np.concatenate([bona, spoof]), bins=50)
    axes.hist(bona, bins=bins, density=True, alpha=0.6, label=f"bona fide ({bona.size})")
    axes.hist(spoof, bins=bins, density=True, alpha=0.6, label=f"spoof ({spoof.size})")
    axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label="EER threshold")
    axes.set_xlabel("Score (higher = more bona fide)")
    axes.set_ylabel("Density")
    axes.set_title("Score distributions")
    axes.legend()
    _save(figure, path)


def _plot_attack_eer(path, per_attack, pooled_eer):
    figure, axes = _figure()
    names = [row["attack"] for row in per_attack]
    values = [100 * row["eer"] if row["eer"] is not None else 0.0 for row in per_attack]
    axes.bar(range(len(names)), values, color="tab:blue")
    axes.axhline(100 * pooled_eer, color="tab:red", linestyle="--", label=f"pooled {100 * pooled_eer:.2f} %")
    axes.set_xticks(range(len(names)), names, rotation=45 if len(names) > 8 else 0)
    axes.set_ylabel("EER (%)")
    axes.set_title("EER per attack")
    axes.legend()
    _save(figure, path)


# ---- markdown -----------------------------------------------------------------------------------------------------


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _number(value):
    return "n/a" if value is None else f"{value:.4f}"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def report_markdown(report):
    """The report as Markdown tables (percentages for rates)."""
    pooled, counts = report["pooled"], report["counts"]
    summary = [
        ("EER", _percent(pooled["eer"])),
        ("EER threshold", _number(pooled["eer_threshold"])),
        ("min t-DCF (ASVspoof 2019)", _number(pooled["min_tdcf_2019"])),
        ("min t-DCF (ASVspoof 2021)", _number(pooled["min_tdcf_2021"])),
        ("minDCF (Pspoof 0.05, Cmiss 1, Cfa 10)", _number(pooled["min_dcf"])),
        ("ROC AUC", _number(pooled["roc_auc"])),
    ]
    if report["calibration"]:
        summary += [("Cllr (calibrated, bits)", _number(report["calibration"]["cllr"]))]
        summary += [("actDCF (calibrated)", _number(report["calibration"]["act_dcf"]))]
    decision = report["decision_at_dev_threshold"]
    if decision:
        names = ("accuracy", "precision", "recall", "f1")
        summary += [(f"{name} at dev threshold", _number(decision[name])) for name in names]
    lines = [f"# {report['title']}", "", f"{counts['bonafide']} bona fide, {counts['spoof']} spoof trials; "
             f"{report['score_convention']}.", ""]
    lines += _table(["Metric", "Value"], summary) + ["", "## Per attack (each attack vs all bona fide)", ""]
    attacks = [(row["attack"], row["count"], _percent(row["eer"])) for row in report["per_attack"]]
    lines += _table(["Attack", "Count", "EER"], attacks)
    if report["asv"]:
        asv = report["asv"]
        lines += ["", "## ASV operating point (ASV EER threshold)", ""]
        row = (_percent(asv["eer"]), _number(asv["p_fa"]), _number(asv["p_miss"]), _number(asv["p_miss_spoof"]))
        lines += _table(["ASV EER", "Pfa", "Pmiss", "Pmiss spoof"], [row])
    if decision:
        lines += ["", f"Decisions: score > {decision['threshold']:.6g} (dev EER threshold) is bona fide; spoof is the "
                  "positive class for precision/recall/F1."]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    lines += ["", "## Plots", ""] + [f"![{name}]({file})" for name, file in report["plots"].items()]
    return "\n".join(lines) + "\n"


def write_report(
    out_dir, scores, *, dev_threshold=None, calibrator=None, asv_scores=None, title="fakespeech evaluation"
):
    """Compute the report (see `compute_report`) and write report.json, report.md and the plots into `out_dir`.

    Every file is written atomically. Returns the report dict.
    """
    report = compute_report(
        scores, dev_threshold=dev_threshold, calibrator=calibrator, asv_scores=asv_scores, title=title
    )
    os.makedirs(out_dir, exist_ok=True)
    bona, spoof = split_by_key(scores)
    pooled = report["pooled"]
    _plot_det(os.path.join(out_dir, PLOTS["det"]), bona, spoof, pooled["eer"])
    _plot_roc(os.path.join(out_dir, PLOTS["roc"]), bona, spoof, pooled["roc_auc"])
    _plot_histograms(os.path.join(out_dir, PLOTS["score_hist"]), bona, spoof, pooled["eer_threshold"])
    _plot_attack_eer(os.path.join(out_dir, PLOTS["attack_eer"]), report["per_attack"], pooled["eer"])
    atomic.write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=2) + "\n")
    atomic.write_text(os.path.join(out_dir, "report.md"), report_markdown(report))
    return report


def summary_text(report):
    """A few console lines: pooled EER, min t-DCF and the per-attack table."""
    pooled = report["pooled"]
    lines = [
        f"pooled EER: {_percent(pooled['eer'])}   min t-DCF 2019: {_number(pooled['min_tdcf_2019'])}   "
        f"min t-DCF 2021: {_number(pooled['min_tdcf_2021'])}"
    ]
    if pooled["min_tdcf_2019"] is None:
        lines.append("(min t-DCF needs --asv-scores)")
    frame = pd.DataFrame(report["per_attack"])[["attack", "count", "eer"]]
    frame["eer"] = [_percent(value) for value in frame["eer"]]
    lines.append(frame.to_string(index=False))
    return "\n".join(lines)
