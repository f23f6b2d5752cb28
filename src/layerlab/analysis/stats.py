"""Repeats of one setting over seeds: grouping them, a mean curve with its band, and the
difference between two settings with a Student-t interval.

Seeds share data order and initial weights between settings (common random numbers), so two
settings are compared seed by seed: the paired difference has far less noise than the two
means apart.

>>> round(t_quantile(0.95, 4), 3)
2.776
"""
import math
import warnings
from typing import NamedTuple

import numpy as np

from layerlab.analysis.curves import finite_prefix
from layerlab.errors import ConfigError

BAD_BAND = "band: expected 'ci', 'sd' or None; received {received!r}. Pass band='ci'."
COMPARISON_COLUMNS = ["setting", "versus", "metric", "difference", "ci_low", "ci_high", "n", "paired",
                      "significant"]


class SeedGroup(NamedTuple):
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
        out.append(SeedGroup(label, settings, indices, [result.variants[i].get("seed") for i in indices]))
    return out


def has_repeats(result):
    """True when some setting was trained with more than one seed."""
    return any(len(g.indices) > 1 for g in seed_groups(result))


def t_quantile(level, df):
    """Two-sided Student-t quantile, e.g. 2.776 for level 0.95 and 4 degrees of freedom."""
    from scipy.stats import t  # scipy comes with jax; imported when needed, as it is slow to import
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
        raise ConfigError(BAD_BAND.format(received=band))
    return mean, mean - half, mean + half, n


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


def comparisons(result, groups, reference):
    """Each setting against the one labelled `reference`, paired by seed, for best and final
    val_loss: a DataFrame with COMPARISON_COLUMNS, one row per setting and metric."""
    import pandas as pd  # here, not at the top: the CLI reads SLOPE_AFTER at start-up without pandas
    val = result.metrics["val_loss"]
    per_seed = {}
    for g in groups:
        curves = val[g.indices]
        best = {s: float(np.min(finite_prefix(c))) if finite_prefix(c).size else math.nan
                for s, c in zip(g.seeds, curves)}
        final = {s: float(c[-1]) for s, c in zip(g.seeds, curves)}
        per_seed[g.label] = {"best_val_loss": best, "final_val_loss": final}
    rows = []
    for g in groups:
        if g.label == reference:
            continue
        for metric in ("best_val_loss", "final_val_loss"):
            diff, low, high, n, paired = paired_interval(per_seed[g.label][metric], per_seed[reference][metric])
            significant = bool(np.isfinite(low) and (low > 0 or high < 0))
            rows.append({"setting": g.label, "versus": reference, "metric": metric, "difference": diff,
                         "ci_low": low, "ci_high": high, "n": n, "paired": paired,
                         "significant": significant})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
