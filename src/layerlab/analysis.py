"""Reading the learning curves automatically: when does a variant overfit, which setting and
how many epochs to pick, and (with several seeds) which differences are real.

>>> import layerlab
>>> analysis = result.analyze()            # doctest: +SKIP
>>> print(analysis)                        # words for a learner, then the table  # doctest: +SKIP
>>> analysis.table                         # one row per variant (pandas)          # doctest: +SKIP

Definitions (epochs count from 1, as in the article's figures):

- best_epoch, best_val_loss: the epoch of the lowest val_loss and that value.
- final_val_loss, final_gap: val_loss at the last epoch, and val_loss - loss there (the
  generalisation gap). Keras measures `loss` with dropout on and `val_loss` with it off, so
  for large dropout rates the gap can be negative.
- slope: the least-squares slope of val_loss per epoch over epochs `slope_after` .. last
  (default 20, as the article looks "after epoch 20"); NaN with fewer than 3 such epochs.
- onset_epoch (overfitting onset): see `overfitting_onset`; None when val_loss never rises
  for good.
- recommendation: over every setting (the mean over seeds when repeated) the epoch with the
  lowest val_loss; and the fewest epochs at which some setting comes within `tolerance`
  (relative, default 5 %) of that best value.
- comparisons (only with several seeds per setting): each setting against the recommended one;
  the difference in best and final val_loss, paired by seed (seeds share data order and
  initial weights between settings: common random numbers), with a 95 % Student-t interval.
  "Not significant" when that interval contains 0.
"""
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from layerlab.errors import ConfigError

NO_VAL_LOSS = ("analyze: result: expected a run with validation data (a 'val_loss' curve); received "
               "metrics {received}. Train with fit(..., validation_data=(x_test, y_test)).")
BAD_TOLERANCE = ("analyze: tolerance: expected a float >= 0 (relative, 0.05 = within 5 % of the best "
                 "val_loss); received {received!r}. Pass e.g. tolerance=0.05.")
BAD_SLOPE_AFTER = ("analyze: slope_after: expected an epoch >= 1; received {received!r}. "
                   "Pass e.g. slope_after=20.")

DEFINITIONS = {
    "best_epoch": "epoch (from 1) of the lowest val_loss",
    "best_val_loss": "the lowest val_loss",
    "final_val_loss": "val_loss at the last epoch",
    "final_gap": "val_loss - loss at the last epoch (generalisation gap; loss is measured with "
                 "dropout on, so it can be negative for large rates)",
    "slope": "least-squares slope of val_loss per epoch from epoch {slope_after} to the last",
    "onset_epoch": "overfitting onset: the lowest point of val_loss smoothed over {window} epochs "
                   "(refined to the lowest raw value near it), counted only if val_loss then ends "
                   "at least {min_rise:.0%} and three noise levels above that low and its trend "
                   "after it is rising; empty when it never rises for good",
    "recommendation": "lowest val_loss over settings and epochs; fewest epochs within "
                      "{tolerance:.0%} of it",
    "ci": "95% Student-t interval of the paired difference over seeds (common random numbers); "
          "not significant when it contains 0",
}


class Group(NamedTuple):
    """Variants that differ only in their seed (repeats of one setting)."""
    label: str       # 'rate=0.2' (seed left out)
    settings: dict   # the swept settings except the seed
    indices: list    # variant indices, one per seed
    seeds: list


def seed_groups(result):
    """Groups a SweepResult's variants by every swept setting except 'seed', in first-seen order."""
    keys = [k for k in result.swept if k != "seed"]
    groups = {}
    for i, v in enumerate(result.variants):
        groups.setdefault(tuple(repr(v.get(k)) for k in keys), []).append(i)
    out = []
    for indices in groups.values():
        settings = {k: result.variants[indices[0]].get(k) for k in keys}
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in settings.items())
        if not label:
            label = "mean over seeds" if len(indices) > 1 else result.label(indices[0])
        out.append(Group(label, settings, indices, [result.variants[i].get("seed") for i in indices]))
    return out


def has_repeats(result):
    return any(len(g.indices) > 1 for g in seed_groups(result))


def t_quantile(level, df):
    """Two-sided Student-t quantile, e.g. 2.776 for level 0.95 and 4 degrees of freedom."""
    from scipy.stats import t  # scipy comes with jax
    return float(t.ppf(0.5 + level / 2, df))


def mean_band(values, band="ci", level=0.95):
    """Mean over rows of values (n, epochs) and a band around it, ignoring NaN.

    band: 'ci' (Student-t interval of the mean), 'sd' (+-1 standard deviation) or None.
    Returns (mean, low, high, n) with low/high equal to the mean where fewer than 2 rows are finite.
    """
    values = np.where(np.isfinite(values), values, np.nan)
    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs of diverged variants
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    sd = np.where(n > 1, sd, 0.0)
    if band == "sd":
        half = sd
    elif band == "ci":
        tq = np.array([t_quantile(level, k - 1) if k > 1 else 0.0 for k in n])
        half = tq * sd / np.sqrt(np.maximum(n, 1))
    elif band is None:
        half = np.zeros_like(mean)
    else:
        raise ConfigError(f"band: expected 'ci', 'sd' or None; received {band!r}. Pass band='ci'.")
    return mean, mean - half, mean + half, n


def finite_prefix(curve):
    """The curve up to (not including) its first NaN or inf: what a diverged run measured."""
    curve = np.asarray(curve, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(curve))
    return curve[: bad[0]] if bad.size else curve


def smooth(curve, window=5):
    """Centred moving average; the window shrinks at both ends so no epoch is lost."""
    curve = np.asarray(curve, dtype=np.float64)
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(curve)])
    idx = np.arange(len(curve))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(curve))
    return (csum[hi] - csum[lo]) / (hi - lo)


def slope(curve, start=1):
    """Least-squares slope per epoch of curve[start-1:] (epochs start..end); NaN if < 3 points."""
    y = finite_prefix(curve)[start - 1:]
    if len(y) < 3:
        return math.nan
    x = np.arange(len(y), dtype=np.float64)
    return float(np.polyfit(x, y, 1)[0])


def overfitting_onset(val_loss, window=5, min_rise=0.05):
    """The epoch (from 1) from which val_loss keeps rising, or None.

    1. Smooth val_loss with a centred moving average over `window` epochs; its lowest point,
       refined to the lowest raw value within the window around it, is the candidate.
    2. It counts only if val_loss rises for good afterwards: at least `window` epochs follow,
       the least-squares trend after it rises, and the smoothed curve ends more than
       max(min_rise * low, 3 * noise) above the low, where noise is the robust standard
       deviation (1.4826 x median absolute deviation) of val_loss around its smoothed curve.
    A curve still falling at its end, or flat within its noise, has no onset.
    """
    v = finite_prefix(val_loss)
    if len(v) < window + 3:
        return None
    s = smooth(v, window)
    low = int(np.argmin(s))
    lo, hi = max(0, low - window // 2), min(len(v), low + window // 2 + 1)
    onset = lo + int(np.argmin(v[lo:hi]))
    if len(v) - 1 - onset < window:
        return None
    noise = 1.4826 * float(np.median(np.abs(v - s)))
    rise = s[-1] - s[low]
    if rise <= max(min_rise * abs(s[low]), 3 * noise):
        return None
    if slope(v, onset + 1) <= 0:
        return None
    return onset + 1


def curve_stats(metrics, slope_after=20, window=5, min_rise=0.05):
    """One variant's (or one mean curve's) numbers: metrics maps name -> curve over epochs."""
    val = np.asarray(metrics["val_loss"], dtype=np.float64)
    finite = finite_prefix(val)
    last = lambda name: float(metrics[name][-1]) if name in metrics else math.nan  # noqa: E731
    row = {"best_epoch": int(np.argmin(finite)) + 1 if finite.size else None,
           "best_val_loss": float(np.min(finite)) if finite.size else math.nan,
           "final_val_loss": last("val_loss"),
           "final_gap": last("val_loss") - last("loss") if "loss" in metrics else math.nan,
           "slope": slope(val, slope_after),
           "onset_epoch": overfitting_onset(val, window, min_rise),
           "final_accuracy": last("accuracy"),
           "final_val_accuracy": last("val_accuracy")}
    return row


def n_epochs(n):
    return f"{n} epoch" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Recommendation:
    """The setting and epoch count with the lowest val_loss, and the quickest one close to it."""
    label: str
    settings: dict
    epochs: int
    val_loss: float
    quick_label: str
    quick_settings: dict
    quick_epochs: int
    quick_val_loss: float
    tolerance: float

    def __str__(self):
        text = f"Lowest val_loss: {self.label} after {n_epochs(self.epochs)} ({self.val_loss:.4f})."
        if self.quick_epochs < self.epochs:
            text += (f" Fewer epochs, nearly as good: {self.quick_label} after {n_epochs(self.quick_epochs)} "
                     f"reaches {self.quick_val_loss:.4f}, within {self.tolerance:.0%} of the best.")
        else:
            text += f" No setting comes within {self.tolerance:.0%} of it in fewer epochs."
        return text

    def to_dict(self):
        return _jsonable(self.__dict__)


def recommend(groups, curves, tolerance=0.05):
    """groups: list of Group; curves: (groups, epochs) mean val_loss. See the module docstring."""
    curves = np.where(np.isfinite(curves), curves, np.inf)
    g, e = np.unravel_index(int(np.argmin(curves)), curves.shape)
    best = float(curves[g, e])
    threshold = best + tolerance * abs(best)
    ok = curves <= threshold
    qe = int(np.flatnonzero(ok.any(axis=0))[0])
    qg = int(np.argmin(np.where(ok[:, qe], curves[:, qe], np.inf)))
    return Recommendation(groups[g].label, groups[g].settings, int(e) + 1, best,
                          groups[qg].label, groups[qg].settings, qe + 1, float(curves[qg, qe]),
                          float(tolerance))


def paired_interval(a, b, level=0.95):
    """Mean of a - b and its Student-t interval. a, b: {seed: value}; paired on shared seeds,
    Welch's interval when no seed is shared. Returns (diff, low, high, n, paired)."""
    shared = [s for s in a if s in b and np.isfinite(a[s]) and np.isfinite(b[s])]
    if len(shared) >= 2:
        d = np.array([a[s] - b[s] for s in shared])
        half = t_quantile(level, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        return float(d.mean()), float(d.mean() - half), float(d.mean() + half), len(d), True
    xa = np.array([v for v in a.values() if np.isfinite(v)])
    xb = np.array([v for v in b.values() if np.isfinite(v)])
    diff = float(xa.mean() - xb.mean()) if xa.size and xb.size else math.nan
    if xa.size < 2 or xb.size < 2:
        return diff, math.nan, math.nan, min(xa.size, xb.size), False
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (xa.size - 1) + vb ** 2 / (xb.size - 1)) if se > 0 else 1
    half = t_quantile(level, df) * se
    return diff, diff - half, diff + half, min(xa.size, xb.size), False


def _jsonable(value):
    """numpy scalars -> Python, NaN/NA -> None, recursively: ready for json.dumps."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


TABLE_COLUMNS = ("best_epoch", "best_val_loss", "final_val_loss", "final_gap", "slope", "onset_epoch",
                 "final_accuracy", "final_val_accuracy")


@dataclass
class Analysis:
    """What analyze() found. `table`: one row per variant; `groups`: one row per setting (the
    mean curve over its seeds; the same as `table` without repeats); `findings`: sentences;
    `article`: the article's findings checked (layerlab.findings.Finding), empty for other
    studies; `comparisons`: settings against the recommended one (with repeats, else None)."""
    table: pd.DataFrame
    groups: pd.DataFrame
    recommendation: Recommendation
    comparisons: object
    article: list
    findings: list
    epochs: int
    slope_after: int
    tolerance: float
    window: int
    min_rise: float
    repeats: bool

    def definitions(self):
        return {k: v.format(slope_after=self.slope_after, window=self.window, min_rise=self.min_rise,
                            tolerance=self.tolerance) for k, v in DEFINITIONS.items()}

    def display_table(self):
        """The table a learner reads: per setting (mean over seeds) with repeats, else per variant."""
        table = self.groups if self.repeats else self.table
        cols = (["seeds"] if self.repeats else []) + [c for c in TABLE_COLUMNS if c in table]
        return table[cols]

    def to_dict(self):
        """Everything as JSON-ready dicts and lists (NaN becomes null)."""
        out = {"epochs": self.epochs, "slope_after": self.slope_after, "tolerance": self.tolerance,
               "definitions": self.definitions(),
               "variants": self.table.reset_index().to_dict(orient="records"),
               "groups": self.groups.reset_index().to_dict(orient="records"),
               "recommendation": self.recommendation.to_dict(), "findings": list(self.findings),
               "article": [f.to_dict() for f in self.article],
               "comparisons": None if self.comparisons is None else self.comparisons.to_dict(orient="records")}
        return _jsonable(out)

    def __str__(self):
        from layerlab.findings import format_text
        return format_text(self)

    def __repr__(self):
        return (f"Analysis({len(self.table)} variants, {self.epochs} epochs, "
                f"recommendation={self.recommendation.label!r} x {self.recommendation.epochs} epochs)")


def analyze(result, slope_after=20, tolerance=0.05, *, window=5, min_rise=0.05, article=None):
    """Reads a SweepResult's curves; returns an Analysis (see the module docstring).

    article: compare with the article's findings (SEED-SPEC section 5); None decides by itself
    (a dropout-rate sweep is the article's study).

    >>> analysis = layerlab.analysis.analyze(result)      # doctest: +SKIP
    >>> analysis.recommendation.epochs                     # doctest: +SKIP
    """
    from layerlab.findings import article_rate_key, compare_with_article, describe

    if "val_loss" not in result.metrics:
        raise ConfigError(NO_VAL_LOSS.format(received=sorted(result.metrics)))
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError(BAD_TOLERANCE.format(received=tolerance))
    if isinstance(slope_after, bool) or not isinstance(slope_after, int) or slope_after < 1:
        raise ConfigError(BAD_SLOPE_AFTER.format(received=slope_after))
    options = dict(slope_after=slope_after, window=window, min_rise=min_rise)

    rows = []
    for i, settings in enumerate(result.variants):
        stats = curve_stats({k: v[i] for k, v in result.metrics.items()}, **options)
        rows.append({"label": result.label(i), **{k: settings.get(k) for k in result.swept},
                     **stats, "diverged_at": result.diverged_at[i]})
    table = _frame(rows)

    groups = seed_groups(result)
    means = {k: np.stack([mean_band(v[g.indices], None)[0] for g in groups]) for k, v in result.metrics.items()}
    group_rows = []
    for j, g in enumerate(groups):
        stats = curve_stats({k: v[j] for k, v in means.items()}, **options)
        group_rows.append({"label": g.label, **g.settings, "seeds": len(g.indices), **stats})
    group_table = _frame(group_rows)

    recommendation = recommend(groups, means["val_loss"], tolerance)
    comparisons = _comparisons(result, groups, recommendation) if has_repeats(result) else None
    if article is None:
        article = article_rate_key(result) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # means of all-NaN (diverged) stretches
        article_findings = compare_with_article(result, group_table, means, groups, tolerance,
                                                slope_after) if article else []
    analysis = Analysis(table=table, groups=group_table, recommendation=recommendation,
                        comparisons=comparisons, article=article_findings, findings=[],
                        epochs=result.metrics["val_loss"].shape[1], slope_after=slope_after,
                        tolerance=float(tolerance), window=window, min_rise=min_rise,
                        repeats=has_repeats(result))
    analysis.findings.extend(describe(analysis))
    return analysis


def _frame(rows):
    table = pd.DataFrame(rows).set_index("label")
    for col in ("best_epoch", "onset_epoch", "diverged_at"):
        if col in table:
            table[col] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                                   for v in table[col]], dtype="Int64")
    return table


def _comparisons(result, groups, recommendation):
    """Each setting against the recommended one, paired by seed, for best and final val_loss."""
    val = result.metrics["val_loss"]
    per_seed = {}
    for g in groups:
        curves = val[g.indices]
        best = {s: float(np.min(finite_prefix(c))) if finite_prefix(c).size else math.nan
                for s, c in zip(g.seeds, curves)}
        final = {s: float(c[-1]) for s, c in zip(g.seeds, curves)}
        per_seed[g.label] = {"best_val_loss": best, "final_val_loss": final}
    ref = recommendation.label
    rows = []
    for g in groups:
        if g.label == ref:
            continue
        for metric in ("best_val_loss", "final_val_loss"):
            diff, low, high, n, paired = paired_interval(per_seed[g.label][metric], per_seed[ref][metric])
            significant = bool(np.isfinite(low) and (low > 0 or high < 0))
            rows.append({"setting": g.label, "versus": ref, "metric": metric, "difference": diff,
                         "ci_low": low, "ci_high": high, "n": n, "paired": paired,
                         "significant": significant})
    return pd.DataFrame(rows, columns=["setting", "versus", "metric", "difference", "ci_low", "ci_high",
                                       "n", "paired", "significant"])
