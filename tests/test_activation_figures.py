"""The article's activation figures (limits, dashed guides, softmax bars and their values) and
the derivative figures, with jax.grad checked against the closed forms."""
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.collections import LineCollection

from layerlab import activations
from layerlab.figures import activations as F


def dashed_levels(ax, horizontal=True):
    """The y (or x) positions of the dashed guide lines drawn with hlines/vlines."""
    levels = []
    for c in ax.collections:
        if isinstance(c, LineCollection) and c.get_linestyle()[0][1] is not None:
            for seg in c.get_segments():
                if horizontal and seg[0][1] == seg[1][1]:
                    levels.append(float(seg[0][1]))
                if not horizontal and seg[0][0] == seg[1][0]:
                    levels.append(float(seg[0][0]))
    return sorted(levels)


@pytest.mark.parametrize("make, ylim, hlines, fn", [
    (F.relu_figure, (-1, 12), [0.0], lambda x: np.maximum(0, x)),
    (F.sigmoid_figure, (-0.2, 1.2), [0.0, 0.5, 1.0], lambda x: 1 / (1 + np.exp(-x))),
])
def test_article_relu_and_sigmoid(make, ylim, hlines, fn):
    (ax,) = make().axes
    assert ax.get_xlim() == (-10, 10) and ax.get_ylim() == ylim
    assert dashed_levels(ax) == hlines
    assert dashed_levels(ax, horizontal=False) == [0.0]
    (line,) = ax.get_lines()
    x = line.get_xdata()
    assert (x[0], x[-1], len(x)) == (-10, 10, 1000) and line.get_linewidth() == 3
    np.testing.assert_allclose(line.get_ydata(), fn(x), atol=1e-6)


def test_softmax_bar_pair():
    top, bottom = F.softmax_figure().axes
    x_bars, f_bars = top.patches, bottom.patches
    np.testing.assert_allclose([b.get_height() for b in x_bars], [2, -1, 1, 1])
    x = np.array([2.0, -1, 1, 1])
    np.testing.assert_allclose([b.get_height() for b in f_bars], np.exp(x) / np.exp(x).sum(), rtol=1e-6)
    assert all(b.get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-2) for b in x_bars)  # tab:red
    assert [t.get_text() for t in top.texts] == ["2.00", "-1.00", "1.00", "1.00"]
    assert [t.get_text() for t in bottom.texts] == ["0.56", "0.03", "0.21", "0.21"]
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("x", "SoftMax(x)")
    assert bottom.get_ylim() == (0, 1)
    assert top.get_xlim() == (-0.5, 3.5)
    assert "sum 1.00" in top.get_title()
    assert not top.xaxis.get_tick_params()["labelbottom"]


@pytest.mark.parametrize("name, closed_form", [
    ("relu", lambda x: (x > 0).astype(float)),
    ("sigmoid", lambda x: (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x)))),
    ("leaky_relu", lambda x: np.where(x > 0, 1.0, 0.2)),
    ("prelu", lambda x: np.where(x >= 0, 1.0, F.PRELU_ALPHA)),
    ("tanh", lambda x: 1 - np.tanh(x) ** 2),
    ("elu", lambda x: np.where(x > 0, 1.0, np.exp(x))),
])
def test_derivatives_match_closed_forms(name, closed_form):
    x = np.array([-5.0, -1.5, -0.3, 0.4, 2.0, 7.0], dtype=np.float32)
    got = F.derivative(F.FAMILY[name][1])(jnp.asarray(x))
    np.testing.assert_allclose(got, closed_form(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "swish"])
def test_smooth_derivatives_match_finite_differences(name):
    fn = F.FAMILY[name][1]
    x = np.linspace(-4, 4, 17)
    h = 1e-3
    numeric = (np.asarray(fn(jnp.asarray(x + h, jnp.float32)), np.float64)
               - np.asarray(fn(jnp.asarray(x - h, jnp.float32)), np.float64)) / (2 * h)
    np.testing.assert_allclose(F.derivative(fn)(jnp.asarray(x, jnp.float32)), numeric, atol=2e-3)


def test_sigmoid_gradient_vanishes_relu_does_not():
    d_sig = F.derivative(activations.sigmoid)(jnp.array([0.0, 10.0]))
    d_relu = F.derivative(activations.relu)(jnp.array([10.0]))
    assert float(d_sig[0]) == pytest.approx(0.25) and float(d_sig[1]) < 1e-4
    assert float(d_relu[0]) == 1.0
    (ax,) = F.derivative_figure("sigmoid").axes
    assert any("at most 0.25" in t.get_text() for t in ax.texts)


def test_derivative_figures():
    for name in F.FAMILY:
        (ax,) = F.derivative_figure(name).axes
        curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert [line.get_label() for line in curves] == [f"{name}(x)", f"{name}'(x)"]
        assert curves[1].get_linestyle() == "--"
        assert legend_texts(ax) == [f"{name}(x)", f"{name}'(x)"]
    grid = F.derivatives_figure()
    assert len([ax for ax in grid.axes if ax.get_visible()]) == len(F.FAMILY) == 8


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_unknown_name(config_error):
    config_error(F.UNKNOWN_FUNCTION, F.derivative_figure, "softplus", mentions=("'softplus'", "gelu"))


def test_draw_all(tmp_path):
    paths = F.draw_all(tmp_path, formats=("png",), dpi=40)
    names = {p.name for p in paths}
    assert {"relu.png", "sigmoid.png", "softmax.png", "derivatives.png"} <= names
    assert {f"{n}_derivative.png" for n in F.FAMILY} <= names
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
