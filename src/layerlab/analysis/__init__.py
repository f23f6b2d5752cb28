"""Reading the learning curves automatically: when does a variant overfit, which setting and
how many epochs to pick, and (with several seeds) which differences are real.

>>> import layerlab
>>> analysis = result.analyze()            # doctest: +SKIP
>>> print(analysis)                        # words for a learner, then the table  # doctest: +SKIP
>>> analysis.table                         # one row per variant (pandas)          # doctest: +SKIP

The modules, each used by the ones after it: curves (one curve's numbers), stats (seeds:
groups, bands, paired intervals), recommend (which setting and epochs), words (sentences and
text), article (the article's model, y-limits and findings); this package puts them together
in analyze().

Definitions (epochs count from 1, as in the article's figures):

- best_epoch, best_val_loss: the epoch of the lowest val_loss and that value.
- final_val_loss, final_gap: val_loss at the last epoch, and val_loss - loss there (the
  generalisation gap). Keras measures `loss` with dropout on and `val_loss` with it off, so
  for large dropout rates the gap can be negative.
- slope: the least-squares slope of val_loss per epoch over epochs `slope_after` .. last
  (default SLOPE_AFTER = 20, as the article looks "after epoch 20"); NaN with fewer than 3
  such epochs.
- onset_epoch (overfitting onset): see `overfitting_onset`; None when val_loss never rises
  for good.
- recommendation: over every setting (the mean over seeds when repeated) the epoch with the
  lowest val_loss; and the fewest epochs at which some setting comes within `tolerance`
  (relative, default TOLERANCE = 5 %) of that best value.
- comparisons (only with several seeds per setting): each setting against the recommended one;
  the difference in best and final val_loss, paired by seed (seeds share data order and
  initial weights between settings: common random numbers), with a 95 % Student-t interval.
  "Not significant" when that interval contains 0.
"""
import math
import warnings
from dataclasses import dataclass

import numpy as np

from layerlab._json import plain
from layerlab.analysis.article import (AGREES, ARTICLE_YLIM, DISAGREES, PARTLY, UNTESTABLE, Finding,
                                       article_rate_key, compare_with_article, is_article_study)
from layerlab.analysis.architectures import Comparison, compare_architectures, compares_models
from layerlab.analysis.curves import (MIN_RISE, SLOPE_AFTER, WINDOW, curve_stats, finite_prefix,
                                      overfitting_onset, slope, smooth)
from layerlab.analysis.recommend import TOLERANCE, Recommendation, recommend
from layerlab.analysis.stats import (SeedGroup, comparisons, has_repeats, mean_band, paired_interval,
                                     seed_groups, t_quantile)
from layerlab.analysis.words import describe, format_cell, format_table, format_text
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
TABLE_COLUMNS = ("best_epoch", "best_val_loss", "final_val_loss", "final_gap", "slope", "onset_epoch",
                 "final_accuracy", "final_val_accuracy")


@dataclass
class Analysis:
    """What analyze() found. `table`: one row per variant; `groups`: one row per setting (the
    mean curve over its seeds; the same as `table` without repeats); `findings`: sentences;
    `article`: the article's findings checked (layerlab.analysis.Finding), empty for other
    studies; `comparisons`: settings against the recommended one (with repeats, else None)."""
    table: "pd.DataFrame"  # noqa: F821 (pandas is imported when analyze() builds one)
    groups: "pd.DataFrame"  # noqa: F821
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
    architectures: object = None  # a Comparison (analysis.architectures) when the result holds several models

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
               "comparisons": None if self.comparisons is None else self.comparisons.to_dict(orient="records"),
               "architectures": None if self.architectures is None else self.architectures.to_dict()}
        return plain(out)

    def __str__(self):
        return format_text(self)

    def __repr__(self):
        return (f"Analysis({len(self.table)} variants, {self.epochs} epochs, "
                f"recommendation={self.recommendation.label!r} x {self.recommendation.epochs} epochs)")


def analyze(result, slope_after=SLOPE_AFTER, tolerance=TOLERANCE, *, window=WINDOW, min_rise=MIN_RISE,
            article=None):
    """Reads a SweepResult's curves; returns an Analysis (see the module docstring).

    article: compare with the article's findings (layerlab.analysis.article); None decides by
    itself (a dropout-rate sweep is the article's study).

    >>> analysis = layerlab.analysis.analyze(result)      # doctest: +SKIP
    >>> analysis.recommendation.epochs                     # doctest: +SKIP
    """
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
                     **stats, "diverged_at": result.diverged_at[i],
                     "stopped_after": result.stopped[i][0] + 1 if i in result.stopped else None})
    table = _frame(rows)

    groups = seed_groups(result)
    means = {k: np.stack([mean_band(v[g.indices], None)[0] for g in groups]) for k, v in result.metrics.items()}
    group_rows = []
    for j, g in enumerate(groups):
        stats = curve_stats({k: v[j] for k, v in means.items()}, **options)
        group_rows.append({"label": g.label, **g.settings, "seeds": len(g.indices), **stats})
    group_table = _frame(group_rows)

    recommendation = recommend(groups, means["val_loss"], tolerance)
    repeats = has_repeats(result)
    compared = comparisons(result, groups, recommendation.label) if repeats else None
    if article is None:
        article = article_rate_key(result) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # means of all-NaN (diverged) stretches
        article_findings = compare_with_article(result, group_table, means, groups, tolerance,
                                                slope_after) if article else []
    analysis = Analysis(table=table, groups=group_table, recommendation=recommendation,
                        comparisons=compared, article=article_findings, findings=[],
                        epochs=result.metrics["val_loss"].shape[1], slope_after=slope_after,
                        tolerance=float(tolerance), window=window, min_rise=min_rise, repeats=repeats,
                        architectures=compare_architectures(result, window, min_rise))
    if analysis.architectures is not None:  # the models compared first, then every setting's curves
        analysis.findings.extend(analysis.architectures.findings)
    analysis.findings.extend(describe(analysis))
    return analysis


def _frame(rows):
    """Rows -> a DataFrame indexed by label; epoch columns as nullable ints (None stays empty)."""
    import pandas as pd  # here, not at the top: the CLI reads SLOPE_AFTER at start-up without pandas
    table = pd.DataFrame(rows).set_index("label")
    for col in ("best_epoch", "onset_epoch", "diverged_at", "stopped_after"):
        if col in table:
            table[col] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                                   for v in table[col]], dtype="Int64")
    return table


__all__ = [
    # analyze() and what it returns
    "analyze", "Analysis", "DEFINITIONS", "SLOPE_AFTER", "TOLERANCE", "WINDOW", "MIN_RISE",
    "NO_VAL_LOSS", "BAD_TOLERANCE", "BAD_SLOPE_AFTER",
    # several models compared
    "Comparison", "compare_architectures", "compares_models",
    # curves
    "finite_prefix", "smooth", "slope", "overfitting_onset", "curve_stats",
    # seeds
    "SeedGroup", "seed_groups", "has_repeats", "t_quantile", "mean_band", "paired_interval", "comparisons",
    # recommendation and words
    "Recommendation", "recommend", "describe", "format_text", "format_table", "format_cell",
    # the article
    "ARTICLE_YLIM", "Finding", "AGREES", "PARTLY", "DISAGREES", "UNTESTABLE", "article_rate_key",
    "compare_with_article", "is_article_study",
]
