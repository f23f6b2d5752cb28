"""Learning curves as the article draws them: one line per variant labelled by its swept
setting ('rate=0.2'), legend outside right, ticks inward, integer epoch ticks, the study's
y-limits (or robust automatic ones). With repeats (variants differing only in their seed) each
setting is drawn as the mean over its seeds with a shaded band, and the legend says what the
band is.

>>> from layerlab.figures import ARTICLE_YLIM, learning_curve, overview, save_figures
>>> fig = learning_curve(result, "val_loss", ARTICLE_YLIM["val_loss"])   # doctest: +SKIP
>>> save_figures(result, "out/dropout", ylims=ARTICLE_YLIM)              # doctest: +SKIP

Figures are plain matplotlib Figures, not registered with pyplot: nothing piles up in pyplot's
state, and Jupyter shows each one once (`result.plot()` returns them in a `Figures` that
renders inline). To draw into your own pyplot figure, pass `ax=`.
"""
import base64
import html
import io
import os
import pathlib
import sys

import matplotlib
import numpy as np


def _agg_when_headless():
    """Agg when there is no display to draw on; a notebook or a chosen backend is left alone."""
    if "ipykernel" in sys.modules or "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        matplotlib.use("Agg")


_agg_when_headless()

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from layerlab.analysis import ARTICLE_YLIM, is_article_study, mean_band, seed_groups  # noqa: E402
from layerlab.errors import ConfigError  # noqa: E402

# The article's figure order; the overview puts training above validation.
METRICS = ("accuracy", "loss", "val_accuracy", "val_loss")
BAND_TEXT = {"ci": "95% CI of the mean", "sd": "±1 sd"}

UNKNOWN_METRIC = ("{function}: metric: expected one of {valid}; received {received!r}. "
                  "Pass one of the metrics the run recorded.")
BAD_BAND = "{function}: band: expected 'ci', 'sd' or None; received {received!r}. Pass band='ci'."


def auto_ylim(values, metric, low_q=2.0, high_q=98.0, pad=0.08):
    """Y-limits that show the bulk of the curves: the 2nd to 98th percentile of the finite
    values (diverged epochs and a few early outliers are left out), padded by 8 %; accuracies
    stay within [0, 1], losses above 0."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(finite, [low_q, high_q])
    span = hi - lo if hi > lo else max(abs(hi) * 0.05, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    if "accuracy" in metric:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    elif "loss" in metric:
        lo = max(lo, 0.0)
    return (float(lo), float(hi))


def _check(result, metric, band, function):
    if metric not in result.metrics:
        raise ConfigError(UNKNOWN_METRIC.format(function=function, valid=sorted(result.metrics), received=metric))
    if band not in ("ci", "sd", None):
        raise ConfigError(BAD_BAND.format(function=function, received=band))


def _lines(result, metric, band):
    """(label, epochs, mean, low, high) per setting, and the legend text for the band (or None)."""
    values = np.where(np.isfinite(result.metrics[metric]), result.metrics[metric], np.nan)
    epochs = np.arange(1, values.shape[1] + 1)
    groups = seed_groups(result)
    repeated = any(len(g.indices) > 1 for g in groups)
    lines = []
    for g in groups:
        mean, low, high, _ = mean_band(values[g.indices], band if repeated else None)
        label = g.label
        if not repeated and result.diverged_at[g.indices[0]] is not None:
            label += f" (diverged at epoch {result.diverged_at[g.indices[0]]})"
        elif not repeated and g.indices[0] in result.stopped:  # its curve ends there
            label += f" (stopped after epoch {result.stopped[g.indices[0]][0] + 1})"
        lines.append((label, epochs, mean, low, high))
    note = None
    if repeated:
        counts = sorted({len(g.indices) for g in groups})
        seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        note = f"line: mean over {seeds} seeds" + (f"; band: {BAND_TEXT[band]}" if band else "")
    return lines, note


def _draw(ax, result, metric, ylim, band):
    lines, note = _lines(result, metric, band)
    colors = _colors(len(lines))
    for (label, epochs, mean, low, high), color in zip(lines, colors):
        ax.plot(epochs, mean, label=label, color=color)
        if note and band:
            ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
    epochs = result.metrics[metric].shape[1]
    ax.set_xlim(1, max(epochs, 2))
    ax.set_ylim(*(ylim if ylim is not None else auto_ylim(result.metrics[metric], metric)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(direction="in", which="both")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    return note


def _height(result, height):
    """A figure's height, grown so that a long legend (one line per setting) fits beside it."""
    return max(height, 0.2 * len(seed_groups(result)) + 1.0)


def _colors(n):
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    return [matplotlib.colormaps["viridis"](x) for x in np.linspace(0, 0.95, n)]


def _legend(target, ax, note, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) > 12:  # e.g. several models x a sweep: smaller text, so the figure holds it
        kw.setdefault("fontsize", "small")
    if note:
        handles.append(Patch(facecolor="0.6", alpha=0.4, edgecolor="none"))
        labels.append(note.replace("; ", "\n"))
    return target.legend(handles, labels, **kw)


def learning_curve(result, metric, ylim=None, ax=None, band="ci"):
    """Draws `metric` of every variant (or every setting's mean over seeds) against the epoch.

    ylim: (low, high), e.g. ARTICLE_YLIM[metric]; None picks robust limits (auto_ylim).
    ax: draw into this matplotlib Axes (e.g. from plt.subplots()) instead of a new Figure.
    band: with repeats, 'ci' (95% Student-t interval of the mean), 'sd' (±1 sd) or None.
    Returns the Figure.
    """
    _check(result, metric, band, "learning_curve")
    if ax is None:
        fig = Figure(figsize=(8, _height(result, 4.5)), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    note = _draw(ax, result, metric, ylim, band)
    _legend(ax, ax, note, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0)
    return fig


def overview(result, ylims=None, band="ci"):
    """The four curves in a 2x2 grid (training above, validation below), one shared legend.

    ylims: {metric: (low, high)}, e.g. ARTICLE_YLIM; metrics not in it get automatic limits.
    """
    metrics = [m for m in METRICS if m in result.metrics] or list(result.metrics)
    rows = (len(metrics) + 1) // 2
    fig = Figure(figsize=(11, _height(result, 3.4 * rows + 0.4)), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False).ravel()
    note = None
    for ax, metric in zip(axes, metrics):
        _check(result, metric, band, "overview")
        note = _draw(ax, result, metric, (ylims or {}).get(metric), band)
        ax.set_title(metric)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    _legend(fig, axes[0], note, loc="outside right upper")
    return fig


def plot_settings(result):
    """(ylims, metrics) to draw a recorded run with: its study's [plot] section (ylim, metrics),
    else the article's y-limits for the article's dropout study recorded without one (e.g. by
    studies/dropout.py); None for what is left automatic (limits) or complete (every metric).

    result: a SweepResult from layerlab.load_run (it carries the run's spec)."""
    spec = result.run["spec"]
    plot = (spec.get("study") or {}).get("plot") or {}
    ylims = {k: tuple(v) for k, v in (plot.get("ylim") or {}).items()}
    if not ylims:
        ylims = dict(ARTICLE_YLIM) if is_article_study(spec, result.swept) else None
    metrics = plot.get("metrics")
    return ylims, (None if not metrics else [m for m in metrics if m in result.metrics])


class Figures(dict):
    """Named matplotlib Figures that Jupyter shows inline (as PNG images, one after another)."""

    def save(self, out_dir, formats=("png", "svg"), dpi=120):
        out, paths = pathlib.Path(out_dir), []
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in self.items():
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                # No creation date in the SVG/PDF metadata and a fixed salt for the SVG's ids
                # (matplotlib draws a random one per save otherwise): the same run, the same file.
                with matplotlib.rc_context({"svg.hashsalt": "layerlab"}):
                    fig.savefig(path, dpi=dpi, metadata={"Date": None} if fmt in ("svg", "pdf") else None)
                paths.append(path)
        return paths

    def _repr_html_(self):
        return "".join(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{png_base64(fig)}"/>'
                       for name, fig in self.items())

    def __repr__(self):
        return f"Figures({', '.join(self)})"


def png_base64(fig, dpi=100):
    """The figure as a base64 PNG, for data: URLs (notebooks, the HTML report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")
