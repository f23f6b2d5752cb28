"""Named sets of figures: figures() draws any of a run's learning curves (figures.curves) and,
for a result of several models, the figures comparing them (figures.architectures);
save_figures() writes them.

>>> from layerlab.figures import save_figures
>>> save_figures(result, "out/dropout", ylims=ARTICLE_YLIM)              # doctest: +SKIP
"""
import pathlib

from layerlab.analysis import compares_models
from layerlab.figures import architectures
from layerlab.figures.curves import METRICS, Figures, learning_curve, overview


def figures(result, which=None, ylims=None, band="ci"):
    """Figures keyed by name: each metric's learning curve (default: all recorded, in the
    article's order), 'overview', and for several models 'models_val_accuracy',
    'sweeps_val_loss', ... (figures.architectures). `which`: a name or a list of names."""
    names = [m for m in METRICS if m in result.metrics] if which is None else \
        [which] if isinstance(which, str) else list(which)
    out = Figures()
    for name in names:
        if architectures.is_architecture_figure(name):
            out[name] = architectures.architecture_figure(result, name, ylims)
            continue
        out[name] = (overview(result, ylims, band) if name == "overview"
                     else learning_curve(result, name, (ylims or {}).get(name), band=band))
    return out


def save_figures(result, out_dir, ylims=None, formats=("png", "svg"), band="ci", dpi=120, metrics=None):
    """Writes each metric's learning curve (`metrics`, default every recorded one), the
    figures comparing the models of a result that holds several (figures.architectures) and
    the overview as `{name}.{format}` into out_dir; returns the paths written."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [m for m in METRICS if m in result.metrics] if metrics is None else list(metrics)
    if compares_models(result):  # several models: their best settings and each one's sweep too
        names += architectures.architecture_names(result)
    return figures(result, names + ["overview"], ylims, band).save(out, formats, dpi)
