"""Figures: a run's learning curves (curves.py), several models compared (architectures.py), the
activation functions with their derivatives (activations.py), the datasets (data.py) and what a
variant gets wrong (mistakes.py), as plain matplotlib Figures.

>>> from layerlab import figures
>>> ylims, metrics = figures.plot_settings(result)                  # doctest: +SKIP
>>> figures.save_figures(result, "out/dropout", ylims=ylims)        # doctest: +SKIP
>>> figures.draw_all("out/activations")                              # doctest: +SKIP
"""
from layerlab.analysis.article import ARTICLE_YLIM
from layerlab.figures.architectures import (architecture_figure, architecture_names, is_architecture_figure,
                                             models_figure, sweeps_figure)
from layerlab.figures.activations import (FAMILY, derivative_figure, derivatives_figure, draw_all, relu_figure,
                                          sigmoid_figure, softmax_figure)
from layerlab.figures.curves import (BAND_TEXT, METRICS, Figures, auto_ylim, learning_curve, overview, plot_settings,
                                     png_base64)
from layerlab.figures.sets import figures, save_figures
from layerlab.figures.data import dataset_figures, dataset_summary
from layerlab.figures.mistakes import (confusion_figure, difference_figure, gallery_figure, inspection_figures,
                                       per_class_figure, prediction_figure)

__all__ = [
    # learning curves
    "learning_curve", "overview", "figures", "save_figures", "Figures", "png_base64", "auto_ylim",
    "plot_settings", "METRICS", "BAND_TEXT", "ARTICLE_YLIM",
    # several models compared
    "models_figure", "sweeps_figure", "architecture_figure", "architecture_names", "is_architecture_figure",
    # activation functions
    "draw_all", "FAMILY", "relu_figure", "sigmoid_figure", "softmax_figure", "derivative_figure",
    "derivatives_figure",
    # datasets and mistakes
    "dataset_figures", "dataset_summary", "inspection_figures", "confusion_figure", "per_class_figure",
    "gallery_figure", "difference_figure", "prediction_figure",
]
