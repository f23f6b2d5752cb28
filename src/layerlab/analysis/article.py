"""Everything layerlab knows about the article it reproduces: its model, its y-limits, and its
findings (SEED-SPEC section 5, in ../shared/seed beside the clone), each checked against a
run's curves.

Each finding is a `Finding(claim, verdict, evidence)`: the claim in the article's words, a
verdict ('agrees', 'partly', 'disagrees' or 'not testable') and what the data show.

>>> article_rate_key(type("Result", (), {"swept": ["dropout.rate", "seed"]}))
'dropout.rate'
"""
import math
from dataclasses import dataclass

import numpy as np

from layerlab.analysis.recommend import n_epochs
from layerlab.analysis.words import missing, per10

# The article's y-limits of its four learning-curve figures.
ARTICLE_YLIM = {"accuracy": (0.90, 1.00), "val_accuracy": (0.95, 1.00),
                "loss": (0.00, 0.20), "val_loss": (0.05, 0.30)}
# Its model: Flatten(28x28) -> Dense(128, relu) -> Dropout(swept rate) -> Dense(10, softmax).
# The article's activation plots: x from -10 to 10, these y-limits, dashed guides at these y.
ARTICLE_RELU = {"ylim": (-1, 12), "hlines": [0]}
ARTICLE_SIGMOID = {"ylim": (-0.2, 1.2), "hlines": [0, 0.5, 1]}
ARTICLE_LAYERS = ["Flatten", "Dense", "Dropout", "Dense"]
ARTICLE_DENSE = [(128, "relu"), (10, "softmax")]
ARTICLE_INPUT = [28, 28]

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


def _rate_key(swept):
    keys = [k for k in swept if k != "seed"]
    if len(keys) == 1 and keys[0].endswith(".rate") and keys[0].split(".")[0].startswith("dropout"):
        return keys[0]
    return None


def article_rate_key(result):
    """The swept dropout-rate setting ('dropout.rate') when the only swept settings (besides the
    seed) are one Dropout layer's rate, as in the article's study; else None."""
    return _rate_key(result.swept)


def is_article_study(spec, swept):
    """True for the article's model with its dropout rate swept: Flatten(28x28) -> Dense(128,
    relu) -> Dropout(swept rate) -> Dense(10, softmax). spec: a recorded run's spec (its
    'model' config and 'input_shape'); swept: the run's swept setting names."""
    layers = (spec.get("model") or {}).get("layers") or []
    if [layer.get("class_name") for layer in layers] != ARTICLE_LAYERS:
        return False
    dense = [(layers[i]["config"].get("units"), layers[i]["config"].get("activation")) for i in (1, 3)]
    return (dense == ARTICLE_DENSE and list(spec.get("input_shape") or []) == ARTICLE_INPUT
            and _rate_key(swept) is not None)


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


def compare_with_article(result, table, means, groups, tolerance, slope_after):
    """The article's findings, each with a verdict on this run's curves (means over seeds).

    table: one row per group (analyze()'s `groups` table); means: {metric: (groups, epochs)}."""
    key = article_rate_key(result)
    if key is None:
        return []
    rates = np.array([float(g.settings[key]) for g in groups])
    order = np.argsort(rates)
    E = means["val_loss"].shape[1]
    at = {round(r, 6): j for j, r in enumerate(rates)}
    row = lambda r: at.get(round(r, 6))  # noqa: E731
    labels = [g.label for g in groups]
    j0 = row(0.0)
    out = [_improvement_finding(means, labels, E), _perfect_training_finding(means, j0)]
    out += _speed_findings(means, rates, order, labels, E)
    out.append(_val_accuracy_finding(means, row, labels, E))
    out.append(_stability_finding(means, row, labels, E))
    out.append(_onset_finding(table, means, j0, labels, E))
    out.append(_slope_finding(table, rates, order, labels, slope_after, E))
    out.append(_tutorial_finding(means, row, labels, tolerance, E))
    return out


def _improvement_finding(means, labels, E):
    claim = "Training accuracy and loss improve with the epochs for every rate."
    acc = means.get("accuracy")
    if acc is None or "loss" not in means or E < 2:
        return Finding(claim, UNTESTABLE, "needs training accuracy and loss over 2+ epochs.")
    k = max(1, E // 10)
    bad = [labels[j] for j in range(len(labels))
           if not (np.nanmean(acc[j, -k:]) > acc[j, 0] and np.nanmean(means["loss"][j, -k:]) < means["loss"][j, 0])]
    ev = (f"from epoch 1 to the last, accuracy goes {np.nanmin(acc[:, 0]):.4f}-{np.nanmax(acc[:, 0]):.4f} -> "
          f"{np.nanmin(acc[:, -1]):.4f}-{np.nanmax(acc[:, -1]):.4f} over the rates")
    return Finding(claim, DISAGREES if bad else AGREES,
                   ev + (f"; not improving: {', '.join(bad)}." if bad else "; every rate improves."))


def _perfect_training_finding(means, j0):
    claim = "Rate 0.0 (no dropout) reaches a training accuracy of 1.0."
    acc = means.get("accuracy")
    if acc is None or j0 is None:
        return Finding(claim, UNTESTABLE, "needs rate 0.0 and training accuracy.")
    m, ep = float(np.nanmax(acc[j0])), int(np.nanargmax(acc[j0])) + 1
    verdict = AGREES if m >= ONE else PARTLY if m >= 0.995 else DISAGREES
    return Finding(claim, verdict, f"its highest training accuracy is {m:.4f} (epoch {ep}); we "
                                   f"count >= {ONE} as the figure's 1.0.")


def _speed_findings(means, rates, order, labels, E):
    """'The smaller the rate, the faster it learns' and '... the better the final training accuracy'."""
    claim = "The smaller the rate, the faster the model learns."
    acc = means.get("accuracy")
    if acc is None or len(labels) < 2:
        return [Finding(claim, UNTESTABLE, "needs training accuracy and two or more rates.")]
    k = min(10, E)
    early = np.nanmean(acc[:, :k], axis=1)
    listed = ", ".join(f"{labels[j]} {early[j]:.4f}" for j in order)
    out = [Finding(claim, _order_verdict(rates, early), f"mean training accuracy over epochs 1-{k}: {listed}.")]
    claim = "The smaller the rate, the better the final training accuracy."
    final = np.nanmean(acc[:, -min(5, E):], axis=1)
    listed = ", ".join(f"{labels[j]} {final[j]:.4f}" for j in order)
    out.append(Finding(claim, _order_verdict(rates, final),
                       f"training accuracy over the last {min(5, E)} epochs: {listed}."))
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
    if missing(r.onset_epoch):
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
    listed = ", ".join(f"{labels[j]} {per10(slopes[j])}" for j in order)
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
