"""The article's activation-function figures, and the family around them with derivatives.

- relu_figure(), sigmoid_figure(): the article's plots on x in [-10, 10] (its y-limits and
  dashed guide lines); softmax_figure(): its pair of bar charts for x = [2, -1, 1, 1].
- derivative_figure(name): a function and its derivative (jax.grad), for ReLU, sigmoid, Leaky
  ReLU, PReLU, tanh, ELU, GELU and swish; derivatives_figure(): all of them in one grid. The
  article's point shows: sigmoid's derivative is at most 0.25 and vanishes for |x| > 5, while
  ReLU's stays 1 for every positive input.

>>> from layerlab.figures import draw_all
>>> paths = draw_all("out/activations")      # doctest: +SKIP
"""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure

from layerlab import activations
from layerlab.analysis.article import ARTICLE_RELU, ARTICLE_SIGMOID
from layerlab.errors import ConfigError
from layerlab.figures.curves import Figures  # also chooses Agg when there is no display

PRELU_ALPHA = 0.25  # PReLU learns its slope; 0.25 is He et al.'s (2015) starting value


def prelu(x, alpha=PRELU_ALPHA):
    """Parametric ReLU with slope `alpha` for negative inputs (learned per unit in a network)."""
    return jnp.where(x >= 0, x, alpha * x)


# name -> (title, function), each from layerlab.activations with Keras' defaults.
FAMILY = {
    "relu": ("ReLU", activations.relu),
    "sigmoid": ("sigmoid", activations.sigmoid),
    "leaky_relu": ("Leaky ReLU (slope 0.2)", activations.leaky_relu),
    "prelu": (f"PReLU (learned slope; {PRELU_ALPHA} shown)", prelu),
    "tanh": ("tanh", activations.tanh),
    "elu": ("ELU", activations.elu),
    "gelu": ("GELU", activations.gelu),
    "swish": ("swish (SiLU)", activations.swish),
}
UNKNOWN_FUNCTION = ("derivative_figure: name: expected one of {valid}; received {received!r}. "
                    "Pass one of those names.")


def derivative(fn):
    """Elementwise derivative of a scalar activation: vmap(grad(fn))."""
    return jax.vmap(jax.grad(lambda x: fn(x)))


def _guides(ax, hlines, vlines=(0,)):
    ax.hlines(hlines, *ax.get_xlim(), ls="--", lw=0.5)
    ax.vlines(vlines, *ax.get_ylim(), ls="--", lw=0.5)


def _article_plot(fn, ylim, hlines, title):
    x = np.linspace(-10, 10, 1000)
    fig = Figure(figsize=(6, 4), dpi=96, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(x, np.asarray(fn(jnp.asarray(x))), lw=3)
    ax.set_xlim(-10, 10)
    ax.set_ylim(*ylim)
    _guides(ax, hlines)
    ax.set_title(title)
    ax.set_xlabel("x")
    return fig


def relu_figure():
    """ReLU on [-10, 10], y from -1 to 12, dashed lines at x = 0 and y = 0 (as the article)."""
    return _article_plot(activations.relu, ARTICLE_RELU["ylim"], ARTICLE_RELU["hlines"], "ReLU: max(0, x)")


def sigmoid_figure():
    """Sigmoid on [-10, 10], y from -0.2 to 1.2, dashed lines at y = 0, 0.5, 1 and x = 0."""
    return _article_plot(activations.sigmoid, ARTICLE_SIGMOID["ylim"], ARTICLE_SIGMOID["hlines"],
                         "sigmoid: 1 / (1 + exp(-x))")


def softmax_figure(x=(2.0, -1.0, 1.0, 1.0)):
    """Two stacked bar charts: the input x (red) and softmax(x) below, values on the bars."""
    x = np.asarray(x, dtype=np.float64)
    fx = np.asarray(activations.softmax(jnp.asarray(x, dtype=jnp.float32)), dtype=np.float64)
    fig = Figure(figsize=(6, 4.5), dpi=96)
    ax = fig.subplots(nrows=2, ncols=1)
    fig.subplots_adjust(hspace=0.12)
    stroke = [patheffects.Stroke(linewidth=3, foreground="white"), patheffects.Normal()]
    ax[0].bar(np.arange(len(x)), x, fc="tab:red")
    ax[1].bar(np.arange(len(fx)), fx)
    ax[1].set_ylim(0, 1)
    for a, values in zip(ax, (x, fx)):
        a.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        a.set_xlim(-0.5, len(values) - 0.5)
        for j, v in enumerate(values):
            a.text(j, v / 2, f"{v:.2f}", ha="center", va="center").set_path_effects(stroke)
    ax[0].hlines([0], *ax[0].get_xlim(), lw=1)
    ax[0].set_ylabel("x")
    ax[1].set_ylabel("SoftMax(x)")
    ax[0].set_title(f"softmax: outputs in [0, 1], sum {fx.sum():.2f}")
    return fig


def _function_and_derivative(ax, name, xlim):
    title, fn = FAMILY[name]
    x = jnp.linspace(*xlim, 601)
    ax.plot(x, fn(x), lw=2, label=f"{name}(x)")
    ax.plot(x, derivative(fn)(x), lw=2, ls="--", label=f"{name}'(x)")
    ax.set_xlim(*xlim)
    ax.axhline(0, ls=":", lw=0.5, color="k")
    ax.axvline(0, ls=":", lw=0.5, color="k")
    ax.set_title(title)
    ax.tick_params(direction="in")
    ax.legend(loc="upper left", fontsize="small")


def derivative_figure(name, xlim=(-6, 6)):
    """One activation (solid) and its derivative (dashed), computed with jax.grad."""
    if name not in FAMILY:
        raise ConfigError(UNKNOWN_FUNCTION.format(valid=", ".join(FAMILY), received=name))
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    _function_and_derivative(ax, name, xlim)
    ax.set_xlabel("x")
    if name == "sigmoid":
        # The article's reason ReLU won: the gradient is at most 0.25 and vanishes far from 0;
        # through ten sigmoid layers it shrinks by 0.25**10, about 1e-6, at best.
        ax.annotate("derivative at most 0.25:\nthe gradient vanishes", xy=(0, 0.25), xytext=(1.5, 0.55),
                    arrowprops={"arrowstyle": "->"}, fontsize="small")
    return fig


def derivatives_figure(names=tuple(FAMILY), xlim=(-6, 6)):
    """Every activation of FAMILY with its derivative, in a grid of 4 columns."""
    rows = -(-len(names) // 4)
    fig = Figure(figsize=(16, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, 4, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        _function_and_derivative(ax, name, xlim)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return fig


def figures():
    """Every figure by file name: the article's three, then one per activation, then the grid."""
    out = {"relu": relu_figure(), "sigmoid": sigmoid_figure(), "softmax": softmax_figure()}
    out.update({f"{name}_derivative": derivative_figure(name) for name in FAMILY})
    out["derivatives"] = derivatives_figure()
    return out


def draw_all(out_dir, formats=("png", "svg"), dpi=120):
    """Writes every figure of `figures()` as `{name}.{format}` into out_dir; returns the paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return Figures(figures()).save(out, formats, dpi)


__all__ = ["relu_figure", "sigmoid_figure", "softmax_figure", "derivative_figure", "derivatives_figure",
           "figures", "draw_all", "derivative", "prelu", "FAMILY"]
