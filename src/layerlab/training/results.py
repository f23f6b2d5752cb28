"""What fit() returns: a Keras History for one model, a SweepResult for a comparison."""
import copy
import re
from pathlib import Path

import numpy as np

from layerlab import variants as variants_
from layerlab.errors import ConfigError

UNWRITABLE_FOLDER = ("save_models: folder: expected a folder that can be created and written; received {folder!r} "
                     "({detail}). Choose another folder.")
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")  # a file name from settings: no separators, spaces or quotes

class History:
    """Keras' History: `.history` maps 'loss', 'accuracy', 'val_loss', 'val_accuracy' to one
    float per epoch; `.epoch` lists the epoch indices (from 0); `.params` the fit settings."""

    def __init__(self, history: dict, epoch: list, params: dict, model=None, diverged_at=None,
                 stopped_epoch=None, stop_reason=None):
        self.history = history
        self.epoch = epoch
        self.params = params
        self.model = model
        self.diverged_at = diverged_at  # first epoch (1-based) whose loss was NaN or inf
        # The epoch (from 0, as Keras' EarlyStopping.stopped_epoch) after which a callback
        # stopped training, and why in words; None when it ran all its epochs.
        self.stopped_epoch, self.stop_reason = stopped_epoch, stop_reason

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


class SweepResult:
    """Every variant of a comparison: its settings, its History and its trained model.

    `variants[i]` is a dict of settings keyed by where each lives ('dropout.rate', 'seed', ...);
    `histories[i]` is that variant's History; `metrics[name]` is an array (variants, epochs).
    """

    def __init__(self, variants, metrics: dict, params, template, diverged_at, params_of_fit, swept, stopped=None):
        """stopped: {variant: (last epoch trained, from 0; why)} for variants a callback stopped;
        their metrics are NaN after that epoch and their History ends there."""
        self.variants = variants
        self.stopped = dict(stopped or {})
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
        self.histories = []
        for i in range(len(variants)):
            last, why = self.stopped.get(i, (epochs - 1, None))
            self.histories.append(History(
                {k: [float(x) for x in metrics[k][i, :last + 1]] for k in metrics}, list(range(last + 1)),
                dict(params_of_fit[i] if isinstance(params_of_fit, list) else params_of_fit),
                diverged_at=diverged_at[i], stopped_epoch=last if i in self.stopped else None, stop_reason=why))

    def epochs_trained(self, i) -> int:
        """How many epochs variant i trained (fewer than planned if a callback stopped it)."""
        return len(self.histories[i].epoch)

    def __len__(self):
        return len(self.variants)

    def label(self, i) -> str:
        """'rate=0.2' style label of variant i from the settings that differ."""
        return variant_label(self.variants[i], self.swept, i)

    def model(self, i):
        """Variant i's trained model, ready for evaluate() and predict()."""
        model = self._template(i)
        swept_optimizer = {k: v for k, v in self.variants[i].items() if k.startswith("optimizer.")}
        if swept_optimizer and model.compiled is not None and model.compiled.optimizer.sweeps():
            model.compiled = copy.copy(model.compiled)  # this variant's optimizer, e.g. for model.save()
            model.compiled.optimizer = model.compiled.optimizer.with_values(swept_optimizer)
        model.params = self._params[i]
        model.history = self.histories[i]
        return model

    @property
    def models(self):
        return [self.model(i) for i in range(len(self))]

    def save_models(self, folder, overwrite=True):
        """Every variant's trained model as a Keras 3 .keras file in `folder` (created if missing),
        named by its index and settings, e.g. '1-dropout.rate=0.2.keras'. Returns the paths."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(UNWRITABLE_FOLDER.format(folder=str(folder), detail=e.strerror or e)) from None
        paths = []
        for i in range(len(self)):
            settings = "_".join(f"{k}={self.variants[i].get(k)}" for k in self.swept) or "model"
            path = folder / f"{i}-{_SAFE.sub('-', settings)}.keras"
            self.model(i).save(path, overwrite=overwrite)
            paths.append(path)
        return paths

    def to_frame(self):
        """A tidy pandas DataFrame: one row per (variant, epoch, metric)."""
        import pandas as pd
        rows = []
        for i, settings in enumerate(self.variants):
            for name, values in self.metrics.items():
                for e, value in enumerate(values[i, :self.epochs_trained(i)]):  # a stopped variant's end there
                    rows.append({"variant": i, **settings, "epoch": e + 1, "metric": name, "value": float(value)})
        return pd.DataFrame(rows)

    def best(self, metric="val_loss"):
        """Index of the variant with the best final value of `metric` (lowest loss, highest accuracy)."""
        final = np.array([self.metrics[metric][i, self.epochs_trained(i) - 1] for i in range(len(self))])
        final = np.where(np.isfinite(final), final, np.inf if "loss" in metric else -np.inf)
        return int(np.argmin(final) if "loss" in metric else np.argmax(final))

    def plot(self, which=None, *, ylims=None, band="ci"):
        """The learning curves as matplotlib Figures keyed by name; Jupyter shows them inline.

        which: a metric, 'overview' (2x2) or a list of them; default every recorded metric.
        ylims: {metric: (low, high)}, e.g. layerlab.figures.ARTICLE_YLIM; default automatic.
        band: with repeats, 'ci' (95% interval of the mean over seeds), 'sd' or None.
        """
        from layerlab import figures  # matplotlib only when a figure is asked for
        return figures.figures(self, which, ylims, band)

    def analyze(self, *args, **options):
        """Best epoch, overfitting onset, slopes, a recommendation and, for the article's study,
        its findings checked; options and defaults as layerlab.analysis.analyze. print() it for
        words and a table."""
        from layerlab import analysis
        return analysis.analyze(self, *args, **options)

    def predict(self, x):
        """Every variant's outputs on x, (variants, n, units): one compiled program per compile group."""
        from .predictions import predict_result
        return predict_result(self, x)

    def mistakes(self, x, y, class_names=None):
        """What each variant gets wrong on (x, y): a layerlab.analysis.mistakes.Mistakes (confusion,
        per-class precision/recall, misclassified images, comparisons, the hard core)."""
        from layerlab.analysis.mistakes import Mistakes
        return Mistakes(self.predict(x), y, [self.label(i) for i in range(len(self))], class_names)

    def __repr__(self):
        lines = [f"SweepResult({len(self)} variants, {self.metrics['loss'].shape[1]} epochs)"]
        for i in range(len(self)):
            e = self.epochs_trained(i) - 1
            last = ", ".join(f"{k}={self.metrics[k][i, e]:.4g}" for k in self.metrics)
            stopped = f" (stopped after epoch {e + 1})" if i in self.stopped else ""
            lines.append(f"  [{i}] {self.label(i)}: {last}{stopped}")
        return "\n".join(lines)


def variant_label(settings, swept, index=0) -> str:
    """'rate=0.2, seed=3': the settings that differ between variants, by their short names."""
    parts = [f"{key.rsplit('.', 1)[-1]}={settings[key]}" for key in swept if key in settings]  # models differ
    return ", ".join(parts) or f"variant {index}"


def concrete_variant(model, group, variant, in_shape):
    """A variant's own Sequential (its layer settings resolved on its group's model), compiled as
    `model` is."""
    layer_values = {k: v for k, v in variant.items() if variants_.kind(k) == "layer"}
    concrete = group.model.with_values(layer_values)
    concrete._built_shape = in_shape
    concrete.compiled = model.compiled
    concrete._train_state = None
    return concrete


def build(model, run, variant_list, sweeps, in_shape, verbose, n_train, run_id):
    """A History for a single model (trained in place), else a SweepResult."""
    names, metrics = run.names, run.metrics
    epochs = run.epochs
    diverged = []
    for i in range(len(variant_list)):
        bad = np.flatnonzero(~np.isfinite(metrics["loss"][i, :run.stopped.get(i, (epochs - 1,))[0] + 1]))
        diverged.append(int(bad[0]) + 1 if bad.size else None)
    params = [{"verbose": verbose, "epochs": epochs, "steps": -(-n_train // run.group_of[i].batch_size),
               "batch_size": run.group_of[i].batch_size, "seed": variant_list[i]["seed"]}
              for i in range(len(variant_list))]
    if not sweeps:
        model.params = run.trained[0]
        model._built_shape = model._built_shape or in_shape
        last, why = run.stopped.get(0, (epochs - 1, None))
        history = History({k: [float(v) for v in metrics[k][0, :last + 1]] for k in names}, list(range(last + 1)),
                          params[0], model=model, diverged_at=diverged[0],
                          stopped_epoch=last if 0 in run.stopped else None, stop_reason=why)
        model.history = history
        history.run_id = run_id
        return history

    def template(i):
        return concrete_variant(model, run.group_of[i], variant_list[i], in_shape)

    result = SweepResult(variant_list, metrics, run.trained, template, diverged, params, list(sweeps), run.stopped)
    result.run_id = run_id
    return result
