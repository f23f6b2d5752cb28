"""What fit() returns: a Keras History for one model, a SweepResult for a comparison."""
import numpy as np

METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


class History:
    """Keras' History: `.history` maps 'loss', 'accuracy', 'val_loss', 'val_accuracy' to one
    float per epoch; `.epoch` lists the epoch indices (from 0); `.params` the fit settings."""

    def __init__(self, history: dict, epoch: list, params: dict, model=None, diverged_at=None):
        self.history = history
        self.epoch = epoch
        self.params = params
        self.model = model
        self.diverged_at = diverged_at  # first epoch (1-based) whose loss was NaN or inf

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


class SweepResult:
    """Every variant of a comparison: its settings, its History and its trained model.

    `variants[i]` is a dict of settings keyed by where each lives ('dropout.rate', 'seed', ...);
    `histories[i]` is that variant's History; `metrics[name]` is an array (variants, epochs).
    """

    def __init__(self, variants, metrics: dict, params, template, diverged_at, params_of_fit, swept):
        self.variants = variants
        self.metrics = metrics
        self.diverged_at = diverged_at
        if isinstance(params_of_fit, list):  # per variant; .params keeps what all share
            self.params = {k: (v if all(p.get(k) == v for p in params_of_fit) else None)
                           for k, v in params_of_fit[0].items()}
        else:
            self.params = params_of_fit
        self.swept = swept  # the settings that differ between variants, in sweep order
        self._params = params
        self._template = template  # function(i) -> concrete Sequential for variant i
        epochs = next(iter(metrics.values())).shape[1] if metrics else 0
        self.histories = [
            History({k: [float(x) for x in metrics[k][i]] for k in metrics}, list(range(epochs)),
                    dict(params_of_fit[i] if isinstance(params_of_fit, list) else params_of_fit),
                    diverged_at=diverged_at[i])
            for i in range(len(variants))]

    def __len__(self):
        return len(self.variants)

    def label(self, i) -> str:
        """'rate=0.2' style label of variant i from the settings that differ."""
        parts = []
        for key in self.swept:
            short = key.rsplit(".", 1)[-1]
            parts.append(f"{short}={self.variants[i][key]}")
        return ", ".join(parts) or f"variant {i}"

    def model(self, i):
        """Variant i's trained model, ready for evaluate() and predict()."""
        model = self._template(i)
        model.params = self._params[i]
        model.history = self.histories[i]
        return model

    @property
    def models(self):
        return [self.model(i) for i in range(len(self))]

    def to_frame(self):
        """A tidy pandas DataFrame: one row per (variant, epoch, metric)."""
        import pandas as pd
        rows = []
        for i, settings in enumerate(self.variants):
            for name, values in self.metrics.items():
                for e, value in enumerate(values[i]):
                    rows.append({"variant": i, **settings, "epoch": e + 1, "metric": name, "value": float(value)})
        return pd.DataFrame(rows)

    def best(self, metric="val_loss"):
        """Index of the variant with the best final value of `metric` (lowest loss, highest accuracy)."""
        final = self.metrics[metric][:, -1]
        final = np.where(np.isfinite(final), final, np.inf if "loss" in metric else -np.inf)
        return int(np.argmin(final) if "loss" in metric else np.argmax(final))

    def plot(self, which=None, *, ylims=None, band="ci"):
        """The learning curves as matplotlib Figures keyed by name; Jupyter shows them inline.

        which: a metric, 'overview' (2x2) or a list of them; default every recorded metric.
        ylims: {metric: (low, high)}, e.g. layerlab.plots.ARTICLE_YLIM; default automatic.
        band: with repeats, 'ci' (95% interval of the mean over seeds), 'sd' or None.
        """
        from layerlab import plots
        return plots.figures(self, which, ylims, band)

    def analyze(self, slope_after=20, tolerance=0.05, **options):
        """Best epoch, overfitting onset, slopes, a recommendation and, for the article's study,
        its findings checked; see layerlab.analysis. print() it for words and a table."""
        from layerlab.analysis import analyze
        return analyze(self, slope_after=slope_after, tolerance=tolerance, **options)

    def __repr__(self):
        lines = [f"SweepResult({len(self)} variants, {self.metrics['loss'].shape[1]} epochs)"]
        for i in range(len(self)):
            last = ", ".join(f"{k}={self.metrics[k][i, -1]:.4f}" for k in self.metrics)
            lines.append(f"  [{i}] {self.label(i)}: {last}")
        return "\n".join(lines)
