"""The analysis in words: sentences a learner reads, and the article's findings (SEED-SPEC.md
section 5) checked one by one against a run's curves.

Each article finding is a `Finding(claim, verdict, evidence)`: the claim in the article's
words, a verdict ('agrees', 'partly', 'disagrees' or 'not testable') and what the data show.
"""
import math
import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from layerlab.analysis import n_epochs

AGREES, PARTLY, DISAGREES, UNTESTABLE = "agrees", "partly", "disagrees", "not testable"
ARTICLE_ONSET = 8     # "for rate 0.0 val_loss worsens after about epoch 8"
ONSET_SLACK = 3       # epochs either side that still count as "about epoch 8"
ONE = 0.999           # training accuracy we count as the article's 1.0 (its figure cannot tell)
CLEARLY = 0.001       # val_accuracy difference (0.1 points) that counts as "clearly worse"
STILL = 0.005         # val_accuracy drop (0.5 points) that still counts as "barely changes"


@dataclass(frozen=True)
class Finding:
    claim: str
    verdict: str
    evidence: str

    def __str__(self):
        return f"[{self.verdict}] {self.claim} Here: {self.evidence}"

    def to_dict(self):
        return dict(self.__dict__)


def article_rate_key(result):
    """The swept dropout-rate setting ('dropout.rate') when the only swept settings (besides the
    seed) are one Dropout layer's rate, as in the article's study; else None."""
    keys = [k for k in result.swept if k != "seed"]
    if len(keys) == 1 and keys[0].endswith(".rate") and keys[0].split(".")[0].startswith("dropout"):
        return keys[0]
    return None


def _per10(x):
    return "n/a" if not math.isfinite(x) else f"{10 * x:+.4f}"


def _kendall(x, y):
    """Kendall's tau between two sequences (no scipy needed for five points)."""
    s, n = 0, 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            s += np.sign(x[j] - x[i]) * np.sign(y[j] - y[i])
            n += 1
    return s / n if n else math.nan


def _order_verdict(rates, values, falling=True):
    """agrees when values fall (or rise) strictly with the rate, partly when mostly (|tau| >= 0.6)."""
    ok = np.all(np.isfinite(values))
    tau = _kendall(rates, values) * (-1 if falling else 1) if ok else math.nan
    return AGREES if tau == 1 else PARTLY if tau >= 0.6 else DISAGREES


def describe(analysis):
    """Plain sentences about every setting's curves, the recommendation and the comparisons."""
    t, e, out = analysis.groups, analysis.epochs, []
    for label, row in t.iterrows():
        if _missing(row.best_epoch):
            out.append(f"{label}: no finite val_loss at all (the run diverged at once).")
        elif not _missing(row.onset_epoch):
            out.append(f"{label}: val_loss is lowest at epoch {row.best_epoch} ({row.best_val_loss:.4f}) "
                       f"and keeps rising from epoch {row.onset_epoch} on, to {row.final_val_loss:.4f} at "
                       f"epoch {e}: the model overfits.")
        else:
            out.append(f"{label}: val_loss does not rise for good within {e} epochs (lowest "
                       f"{row.best_val_loss:.4f} at epoch {row.best_epoch}, {row.final_val_loss:.4f} at the end).")
    if "diverged_at" in analysis.table:
        for label, row in analysis.table.iterrows():
            if not _missing(row.diverged_at):
                out.append(f"{label} diverged at epoch {row.diverged_at} (its loss became NaN or "
                           "infinite); its numbers use the epochs before.")
    gaps = t.final_gap.dropna()
    if len(gaps) > 1:
        out.append(f"Gap between validation and training loss at the end: largest for {gaps.idxmax()} "
                   f"({gaps.max():+.4f}), smallest for {gaps.idxmin()} ({gaps.min():+.4f}).")
    if len(gaps) and gaps.min() < 0:
        out.append("A negative gap is normal with dropout: the training loss is measured with dropout "
                   "on, which handicaps the model, the validation loss with it off.")
    slopes = t.slope
    if slopes.notna().any():
        listed = ", ".join(f"{label} {_per10(s)}" for label, s in slopes.items())
        out.append(f"After epoch {analysis.slope_after}, val_loss changes per 10 epochs by: {listed}.")
    else:
        out.append(f"Too few epochs after epoch {analysis.slope_after} to measure how val_loss changes "
                   f"there; train longer or pass a smaller slope_after.")
    out.append(str(analysis.recommendation))
    if analysis.comparisons is not None:
        out.extend(_comparison_sentence(r) for r in analysis.comparisons.itertuples())
    return out


def _missing(v):
    return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _comparison_sentence(r):
    what = r.metric.replace("_val_loss", " val_loss")
    head = f"{what}, {r.setting} minus {r.versus}: {r.difference:+.4f}"
    if not math.isfinite(r.ci_low):
        return head + " (too few seeds for an interval)."
    head += (f" (95% CI {r.ci_low:+.4f} to {r.ci_high:+.4f}, {r.n} {'paired ' if r.paired else ''}seeds)")
    if r.significant:
        return head + f": {r.setting} is {'higher' if r.difference > 0 else 'lower'}, a real difference."
    return head + ": not significant - the interval contains 0, so these seeds cannot tell the two apart."


def compare_with_article(result, table, means, groups, tolerance, slope_after):
    """The article's findings, each with a verdict on this run's curves (means over seeds)."""
    key = article_rate_key(result)
    if key is None:
        return []
    rates = np.array([float(g.settings[key]) for g in groups])
    order = np.argsort(rates)
    E = means["val_loss"].shape[1]
    at = {round(r, 6): j for j, r in enumerate(rates)}
    row = lambda r: at.get(round(r, 6))  # noqa: E731
    labels = [g.label for g in groups]
    acc = means.get("accuracy")
    out = []

    claim = "Training accuracy and loss improve with the epochs for every rate."
    if acc is None or "loss" not in means or E < 2:
        out.append(Finding(claim, UNTESTABLE, "needs training accuracy and loss over 2+ epochs."))
    else:
        k = max(1, E // 10)
        bad = [labels[j] for j in range(len(groups))
               if not (np.nanmean(acc[j, -k:]) > acc[j, 0] and np.nanmean(means["loss"][j, -k:]) < means["loss"][j, 0])]
        ev = (f"from epoch 1 to the last, accuracy goes {np.nanmin(acc[:, 0]):.4f}-{np.nanmax(acc[:, 0]):.4f} -> "
              f"{np.nanmin(acc[:, -1]):.4f}-{np.nanmax(acc[:, -1]):.4f} over the rates")
        out.append(Finding(claim, DISAGREES if bad else AGREES,
                           ev + (f"; not improving: {', '.join(bad)}." if bad else "; every rate improves.")))

    claim = "Rate 0.0 (no dropout) reaches a training accuracy of 1.0."
    j0 = row(0.0)
    if acc is None or j0 is None:
        out.append(Finding(claim, UNTESTABLE, "needs rate 0.0 and training accuracy."))
    else:
        m, ep = float(np.nanmax(acc[j0])), int(np.nanargmax(acc[j0])) + 1
        verdict = AGREES if m >= ONE else PARTLY if m >= 0.995 else DISAGREES
        out.append(Finding(claim, verdict, f"its highest training accuracy is {m:.4f} (epoch {ep}); we "
                                           f"count >= {ONE} as the figure's 1.0."))

    k = min(10, E)
    claim = "The smaller the rate, the faster the model learns."
    if acc is None or len(groups) < 2:
        out.append(Finding(claim, UNTESTABLE, "needs training accuracy and two or more rates."))
    else:
        early = np.nanmean(acc[:, :k], axis=1)
        listed = ", ".join(f"{labels[j]} {early[j]:.4f}" for j in order)
        out.append(Finding(claim, _order_verdict(rates, early),
                           f"mean training accuracy over epochs 1-{k}: {listed}."))
        claim = "The smaller the rate, the better the final training accuracy."
        final = np.nanmean(acc[:, -min(5, E):], axis=1)
        listed = ", ".join(f"{labels[j]} {final[j]:.4f}" for j in order)
        out.append(Finding(claim, _order_verdict(rates, final),
                           f"training accuracy over the last {min(5, E)} epochs: {listed}."))

    out.append(_val_accuracy_finding(means, row, labels, E))
    out.append(_stability_finding(means, row, labels, E))
    out.append(_onset_finding(table, means, j0, labels, E))
    out.append(_slope_finding(table, rates, order, labels, slope_after, E))
    out.append(_tutorial_finding(means, row, labels, tolerance, E))
    return out


def _val_accuracy_finding(means, row, labels, E):
    claim = "val_accuracy: rates 0.2 and 0.4 end with good values, 0.6 clearly worse."
    va, js = means.get("val_accuracy"), [row(0.2), row(0.4), row(0.6)]
    if va is None or None in js:
        return Finding(claim, UNTESTABLE, "needs rates 0.2, 0.4 and 0.6 and val_accuracy.")
    k = min(10, E)
    end = {j: float(np.nanmean(va[j, -k:])) for j in js}
    d2, d4 = end[js[0]] - end[js[2]], end[js[1]] - end[js[2]]
    verdict = AGREES if min(d2, d4) >= CLEARLY else PARTLY if max(d2, d4) > 0 else DISAGREES
    return Finding(claim, verdict, f"mean val_accuracy over the last {k} epochs: "
                   + ", ".join(f"{labels[j]} {end[j]:.4f}" for j in js) + ".")


def _stability_finding(means, row, labels, E):
    claim = "Rate 0.0's val_accuracy is a little less stable than the other rates'."
    va, j0 = means.get("val_accuracy"), row(0.0)
    start = min(10, E // 2)
    if va is None or j0 is None or len(labels) < 2 or E - start < 3:
        return Finding(claim, UNTESTABLE, "needs rate 0.0, another rate and 6+ epochs of val_accuracy.")
    # Epoch-to-epoch jitter after the first epochs, not the trend.
    jitter = np.nanstd(np.diff(va[:, start:], axis=1), axis=1)
    others = [j for j in range(len(labels)) if j != j0]
    verdict = (AGREES if jitter[j0] > np.max(jitter[others]) else
               PARTLY if jitter[j0] > np.median(jitter[others]) else DISAGREES)
    listed = ", ".join(f"{labels[j]} {jitter[j]:.4f}" for j in range(len(labels)))
    return Finding(claim, verdict, f"standard deviation of val_accuracy's change from one epoch to the "
                                   f"next, after epoch {start}: {listed}.")


def _onset_finding(table, means, j0, labels, E):
    claim = (f"For rate 0.0, val_loss worsens steadily after about epoch {ARTICLE_ONSET} (clear overfitting); "
             "accuracy alone would not show it.")
    if j0 is None or E < 2 * ARTICLE_ONSET:
        return Finding(claim, UNTESTABLE, f"needs rate 0.0 and {2 * ARTICLE_ONSET}+ epochs.")
    r = table.iloc[j0]
    best_epoch = int(r.best_epoch)
    if _missing(r.onset_epoch):
        return Finding(claim, DISAGREES, f"val_loss of rate 0.0 does not rise for good (lowest at epoch "
                                         f"{best_epoch}, {r.best_val_loss:.4f}; {r.final_val_loss:.4f} at the end).")
    o = int(r.onset_epoch)
    verdict = AGREES if abs(o - ARTICLE_ONSET) <= ONSET_SLACK else PARTLY
    ev = (f"onset at epoch {o} (lowest val_loss {r.best_val_loss:.4f} at epoch {best_epoch}, "
          f"{r.final_val_loss:.4f} at epoch {E}, {r.final_val_loss / r.best_val_loss - 1:+.0%})")
    va = means.get("val_accuracy")
    if va is not None:
        near = float(np.nanmean(va[j0, max(0, o - 3):o + 2]))
        end = float(np.nanmean(va[j0, -5:]))
        ev += f"; val_accuracy meanwhile {near:.4f} -> {end:.4f}"
        if end < near - STILL:
            verdict = PARTLY
            ev += ", so here accuracy does show it"
    return Finding(claim, verdict, ev + ".")


def _slope_finding(table, rates, order, labels, slope_after, E):
    claim = "After epoch 20, the larger the rate, the smaller the slope of val_loss (dropout curbs overfitting)."
    slopes = table.slope.to_numpy(dtype=float)
    if len(labels) < 2 or not np.all(np.isfinite(slopes)):
        return Finding(claim, UNTESTABLE, f"needs two or more rates and {slope_after + 2}+ epochs.")
    listed = ", ".join(f"{labels[j]} {_per10(slopes[j])}" for j in order)
    return Finding(claim, _order_verdict(rates, slopes),
                   f"change of val_loss per 10 epochs from epoch {slope_after}: {listed}.")


def _tutorial_finding(means, row, labels, tolerance, E):
    claim = "The tutorial's rate=0.2 with epochs=5 are well-chosen values."
    j2, val = row(0.2), means["val_loss"]
    if j2 is None or E < 5:
        return Finding(claim, UNTESTABLE, "needs rate 0.2 and 5+ epochs.")
    finite = np.where(np.isfinite(val), val, np.inf)
    best = float(finite.min())
    g, e = np.unravel_index(int(np.argmin(finite)), finite.shape)
    v5, limit = float(val[j2, 4]), best + tolerance * abs(best)
    within = np.flatnonzero(finite[j2] <= limit)
    ev = (f"rate 0.2 after 5 epochs: val_loss {v5:.4f}, {v5 / best - 1:+.0%} against the best "
          f"({best:.4f}, {labels[g]} after {n_epochs(e + 1)})")
    if v5 <= limit:
        return Finding(claim, AGREES, ev + f", within the {tolerance:.0%} tolerance.")
    if within.size:
        return Finding(claim, PARTLY, ev + f"; rate 0.2 is a good rate (within {tolerance:.0%} from epoch "
                                           f"{within[0] + 1}) but 5 epochs are too few for the best val_loss.")
    return Finding(claim, DISAGREES, ev + f"; rate 0.2 never comes within {tolerance:.0%} of the best.")


def format_text(analysis, width=100):
    """The analysis as text: words first, then the table and the definitions."""
    wrap = lambda s, indent="  - ": textwrap.fill(s, width, initial_indent=indent,  # noqa: E731
                                                  subsequent_indent=" " * len(indent))
    n = len(analysis.groups)
    lines = [f"What the curves say ({n} setting{'s' * (n != 1)}, {analysis.epochs} epochs"
             + (", mean over seeds" if analysis.repeats else "") + ")",
             textwrap.fill("val_loss is the loss on the validation data, which the model never trains on. "
                           "When it rises while the training loss keeps falling, the model is learning its "
                           "training data by heart instead of the task: it overfits.", width), ""]
    lines += [wrap(s) for s in analysis.findings]
    if analysis.article:
        lines += ["", "Compared with the article"]
        for f in analysis.article:
            lines += [wrap(f"[{f.verdict}] {f.claim}"), wrap(f"here: {f.evidence}", "      ")]
    lines += ["", "Table" + (" (one row per setting, mean curve over its seeds)" if analysis.repeats else ""),
              format_table(analysis.display_table()), "", "Definitions"]
    lines += [wrap(f"{k}: {v}") for k, v in analysis.definitions().items()]
    return "\n".join(lines)


FORMATS = {"best_val_loss": "{:.4f}", "final_val_loss": "{:.4f}", "final_gap": "{:+.4f}",
           "slope": "{:+.5f}", "final_accuracy": "{:.4f}", "final_val_accuracy": "{:.4f}",
           "final_loss": "{:.4f}", "difference": "{:+.4f}", "ci_low": "{:+.4f}", "ci_high": "{:+.4f}"}


def format_cell(column, value):
    if _missing(value):
        return "-"
    if column in FORMATS and isinstance(value, (float, np.floating)):
        return FORMATS[column].format(value) if math.isfinite(value) else "-"
    return str(value)


def format_table(table):
    shown = table.copy().astype(object)
    for col in shown:
        shown[col] = [format_cell(col, v) for v in table[col]]
    return shown.to_string()
