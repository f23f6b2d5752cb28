"""Figures of several models compared (a result of fit_models or a [[models]] study).

    models_{metric}   per dataset, one line per model: its best setting (lowest val_loss,
                      analysis.architectures.best_groups), labelled 'conv (rate=0.5)'
    sweeps_{metric}   a panel per dataset (rows) and model (columns): every setting of that
                      model, e.g. its dropout sweep; panels of one dataset share their y-limits

Lines are means over seeds when the run has repeats. Plain matplotlib Figures, as curves.py's.

>>> from layerlab.figures import architecture_figures
>>> architecture_figures(result)["models_val_accuracy"]     # doctest: +SKIP
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from layerlab.analysis import mean_band, seed_groups
from layerlab.analysis.architectures import _short, best_groups
from layerlab.figures.curves import _check, _colors, auto_ylim

KINDS = ("models", "sweeps")
METRICS = ("val_accuracy", "val_loss")


def _datasets(result):
    return list(dict.fromkeys(v.get("dataset") for v in result.variants))


def _models(result):
    return list(dict.fromkeys(v.get("model") for v in result.variants))


def _style(ax, metric, epochs, ylim, title):
    ax.set_xlim(1, max(epochs, 2))
    ax.set_ylim(*ylim)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(direction="in", which="both")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title)


def _mean(result, metric, group):
    values = np.where(np.isfinite(result.metrics[metric]), result.metrics[metric], np.nan)
    return mean_band(values[group.indices], None)[0]


def models_figure(result, metric="val_accuracy", ylims=None):
    """Per dataset a panel, a line per model: its best setting's `metric` against the epoch."""
    _check(result, metric, None, "models_figure")
    datasets, best = _datasets(result), best_groups(result)
    fig = Figure(figsize=(5.5 * len(datasets) + 2.5, 4.2), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    epochs = np.arange(1, result.metrics[metric].shape[1] + 1)
    for ax, dataset in zip(axes, datasets):
        rows = [best[(dataset, m)] for m in _models(result) if (dataset, m) in best]
        for g, color in zip(rows, _colors(len(rows))):
            ax.plot(epochs, _mean(result, metric, g), color=color, label=f"{g.settings['model']} ({_short(g.settings)})")
        values = result.metrics[metric][[i for g in rows for i in g.indices]]
        _style(ax, metric, len(epochs), (ylims or {}).get(metric) or auto_ylim(values, metric),
               f"{dataset}: best setting of each model" if dataset else "best setting of each model")
        ax.legend(loc="best", fontsize="small")
    return fig


def sweeps_figure(result, metric="val_loss", ylims=None):
    """A panel per dataset (row) and model (column): each of the model's settings' `metric`."""
    _check(result, metric, None, "sweeps_figure")
    datasets, models, groups = _datasets(result), _models(result), seed_groups(result)
    fig = Figure(figsize=(4.2 * len(models) + 0.5, 3.4 * len(datasets) + 0.4), layout="constrained")
    axes = fig.subplots(len(datasets), len(models), squeeze=False)
    epochs = np.arange(1, result.metrics[metric].shape[1] + 1)
    for r, dataset in enumerate(datasets):
        mine = [i for i, v in enumerate(result.variants) if v.get("dataset") == dataset]
        ylim = (ylims or {}).get(metric) or auto_ylim(result.metrics[metric][mine], metric)
        for c, model in enumerate(models):
            ax = axes[r, c]
            settings = [g for g in groups if g.settings.get("dataset") == dataset and g.settings.get("model") == model]
            for g, color in zip(settings, _colors(len(settings))):
                ax.plot(epochs, _mean(result, metric, g), color=color, label=_short(g.settings))
            _style(ax, metric, len(epochs), ylim, f"{dataset}: {model}" if dataset else model)
            if settings:
                ax.legend(loc="best", fontsize="x-small")
    return fig


def architecture_figure(result, name, ylims=None):
    """'models_val_accuracy', 'sweeps_val_loss', ...: the figure of that name."""
    kind, _, metric = name.partition("_")
    return (models_figure if kind == "models" else sweeps_figure)(result, metric, ylims)


def architecture_names(result) -> list:
    """The names of the figures that compare the models, for the validation metrics recorded."""
    return [f"{kind}_{m}" for kind in KINDS for m in METRICS if m in result.metrics]


def is_architecture_figure(name) -> bool:
    return isinstance(name, str) and name.partition("_")[0] in KINDS and name.partition("_")[2] in METRICS
