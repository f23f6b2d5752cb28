"""One curve's numbers: its finite part, a smoothed copy, its slope, where it starts to overfit,
and the row of numbers analyze() reports per variant.

Epochs count from 1, as in the article's figures. A curve is a 1-D array over epochs; a
diverged run's curve ends in NaN or inf, and every function here reads only what came before.

>>> import numpy as np
>>> round(slope(np.array([3.0, 2.0, 1.0, 2.0, 3.0, 4.0]), start=3), 6)   # rises 1 per epoch from epoch 3
1.0
"""
import math

import numpy as np

SLOPE_AFTER = 20  # val_loss slope from this epoch on: the article looks "after epoch 20"
WINDOW = 5        # epochs of the moving average the overfitting onset is read from
MIN_RISE = 0.05   # relative rise of val_loss after its low that counts as overfitting


def finite_prefix(curve):
    """The curve up to (not including) its first NaN or inf: what a diverged run measured."""
    curve = np.asarray(curve, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(curve))
    return curve[: bad[0]] if bad.size else curve


def smooth(curve, window=WINDOW):
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


def overfitting_onset(val_loss, window=WINDOW, min_rise=MIN_RISE):
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


def curve_stats(metrics, slope_after=SLOPE_AFTER, window=WINDOW, min_rise=MIN_RISE):
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
