"""Made-up data for the tests: SweepResults from curves with known properties (plot, analysis
and report tests; nothing here trains a model), and small classification data sets."""
import numpy as np

from layerlab.training import SweepResult

RATES = (0.0, 0.2, 0.4, 0.6, 0.8)


def blobs(n=600, n_val=200, shape=(6, 6), classes=4, seed=0):
    """Separable-but-noisy classes, ((x, y), (x_val, y_val)): a quick stand-in for MNIST."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes,) + shape)
    y = rng.integers(0, classes, n + n_val)
    x = (centers[y] + 1.5 * rng.normal(size=(n + n_val,) + shape)).astype(np.float32)
    return (x[:n], y[:n].astype(np.uint8)), (x[n:], y[n:].astype(np.uint8))


def make_result(metrics, variants, swept, fit_params=None):
    """A SweepResult from metrics {name: (variants, epochs)}, as fit() would return it."""
    metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    n, epochs = next(iter(metrics.values())).shape
    diverged = []
    for i in range(n):
        bad = np.flatnonzero(~np.isfinite(metrics["loss"][i])) if "loss" in metrics else []
        diverged.append(int(bad[0]) + 1 if len(bad) else None)
    params = fit_params or {"epochs": epochs, "batch_size": 32, "seed": 1}
    return SweepResult(variants, metrics, [None] * n, lambda i: None, diverged, params, swept)


def v_curve(epochs, onset, low, start, rise):
    """Falls (quadratically) from `start` at epoch 1 to `low` at epoch `onset`, then rises
    linearly by `rise` per epoch: the lowest point and the onset are exactly `onset`."""
    e = np.arange(1, epochs + 1, dtype=np.float64)
    if onset is None:
        return low + (start - low) * np.exp(-(e - 1) / 4.0)
    fall = low + (start - low) * ((onset - e) / max(onset - 1, 1)) ** 2
    return np.where(e < onset, fall, low + rise * (e - onset))


# The article's picture: smaller rates learn faster and overfit earlier and harder.
ONSETS = {0.0: 8, 0.2: 12, 0.4: 16, 0.6: 20, 0.8: None}
RISES = {0.0: 0.0012, 0.2: 0.0004, 0.4: 0.00015, 0.6: 0.00005, 0.8: 0.0}


def article_like(epochs=100, rates=RATES, seeds=(1,), noise=0.001, seed=0):
    """Curves shaped like the article's figures, for each rate and seed (seeds vary fastest)."""
    rng = np.random.default_rng(seed)
    e = np.arange(1, epochs + 1, dtype=np.float64)
    metrics = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    variants = []
    for p in rates:
        for s in seeds:
            loss = 0.002 + 0.12 * p ** 2 + (0.25 + 0.2 * p) * np.exp(-(e - 1) / (2 + 8 * p))
            val = v_curve(epochs, ONSETS.get(p, 20), 0.065 + 0.01 * p, 0.14, RISES.get(p, 0.0))
            jitter = noise * (3.0 if p == 0.0 else 1.0)
            val_acc = 0.982 - (0.004 if p >= 0.6 else 0.0) - 0.03 * np.exp(-(e - 1) / 3)
            metrics["loss"].append(loss + noise * 0.1 * rng.standard_normal(epochs))
            metrics["accuracy"].append(np.minimum(1.0, 1 - 0.3 * loss))
            metrics["val_loss"].append(val + noise * rng.standard_normal(epochs))
            metrics["val_accuracy"].append(val_acc + jitter * rng.standard_normal(epochs))
            variants.append({"dropout.rate": p, "seed": s})
    swept = ["dropout.rate"] + (["seed"] if len(seeds) > 1 else [])
    return make_result(metrics, variants, swept)
