"""Learning-curve figures: facts of the matplotlib objects (limits, labels, lines, legend, ticks),
mean-and-band drawing for repeats, robust automatic limits, files written. Nothing trains."""
import io
import sys

import matplotlib
import matplotlib.figure
import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from synthetic import RATES, article_like, make_result

from layerlab.analysis import mean_band, t_quantile
from layerlab.figures import ARTICLE_YLIM, METRICS, auto_ylim, curves, learning_curve, overview, save_figures

LABELS = [f"rate={r}" for r in RATES]


def legend_texts(legend):
    return [t.get_text() for t in legend.get_texts()]


@pytest.fixture(scope="module")
def single():
    return article_like(epochs=30)


@pytest.fixture(scope="module")
def repeated():
    return article_like(epochs=30, seeds=(1, 2, 3), noise=0.003)


@pytest.mark.parametrize("metric", METRICS)
def test_article_figure(single, metric):
    fig = learning_curve(single, metric, ARTICLE_YLIM[metric])
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 5
    assert legend_texts(ax.get_legend()) == LABELS
    assert ax.get_ylim() == pytest.approx(ARTICLE_YLIM[metric])
    assert ax.get_xlim() == (1, 30)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", metric)
    assert ax.xaxis.get_tick_params()["direction"] == "in"
    assert ax.yaxis.get_tick_params()["direction"] == "in"
    ticks = ax.get_xticks()
    assert np.all(ticks == np.round(ticks))
    for line, row in zip(ax.get_lines(), single.metrics[metric]):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 31))
        np.testing.assert_array_equal(line.get_ydata(), row)


def test_legend_outside_right(single):
    fig = learning_curve(single, "val_loss")
    fig.draw_without_rendering()
    ax, legend = fig.axes[0], fig.axes[0].get_legend()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1
    assert legend.get_window_extent().y1 == pytest.approx(ax.get_window_extent().y1, abs=1)


def test_draws_into_a_given_axes(single):
    fig = matplotlib.figure.Figure()
    ax = fig.add_subplot()
    assert learning_curve(single, "loss", ax=ax) is fig
    assert len(ax.get_lines()) == 5


def test_automatic_limits_ignore_divergence_and_outliers():
    epochs = 40
    good = 0.1 + 0.05 * np.exp(-np.arange(epochs) / 5)
    bad = good.copy()
    bad[0] = 50.0                       # one wild early epoch
    bad[20:] = [np.inf] + [np.nan] * 19  # then divergence
    result = make_result({"loss": [good, bad], "val_loss": [good, bad]},
                         [{"dropout.rate": 0.0}, {"dropout.rate": 0.5}], ["dropout.rate"])
    low, high = auto_ylim(result.metrics["loss"], "loss")
    assert 0 <= low < good.min() and good.max() <= high < 1.0
    fig = learning_curve(result, "loss")
    assert fig.axes[0].get_ylim() == pytest.approx((low, high))
    assert legend_texts(fig.axes[0].get_legend()) == ["rate=0.0", "rate=0.5 (diverged at epoch 21)"]


def test_automatic_accuracy_limits_stay_within_0_and_1():
    acc = np.linspace(0.97, 1.0, 20)[None, :]
    low, high = auto_ylim(acc, "accuracy")
    assert 0.95 < low < 0.97 and high == 1.0
    assert auto_ylim(np.full((2, 3), np.nan), "loss") == (0.0, 1.0)


@pytest.mark.parametrize("band, text", [("ci", "95% CI of the mean"), ("sd", "±1 sd"), (None, None)])
def test_repeats_draw_mean_and_band(repeated, band, text):
    fig = learning_curve(repeated, "val_loss", band=band)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 5  # one per rate, not one per seed
    for line, g in zip(lines, range(5)):
        rows = repeated.metrics["val_loss"][3 * g: 3 * g + 3]
        np.testing.assert_allclose(line.get_ydata(), rows.mean(axis=0))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == (5 if band else 0)
    texts = legend_texts(ax.get_legend())
    assert texts[:5] == LABELS
    assert "mean over 3 seeds" in texts[5]
    if text:
        assert text in texts[5]


def test_band_is_the_t_interval_of_the_mean():
    values = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]])
    mean, low, high, n = mean_band(values, "ci")
    half = t_quantile(0.95, 2) * values.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(mean, values.mean(axis=0))
    np.testing.assert_allclose(high - mean, half)
    np.testing.assert_allclose(mean - low, half)
    assert t_quantile(0.95, 2) == pytest.approx(4.303, abs=1e-3)
    _, low, high, _ = mean_band(values, "sd")
    np.testing.assert_allclose(high - low, 2 * values.std(axis=0, ddof=1))
    np.testing.assert_array_equal(n, [3, 3])


def test_overview(single):
    ylims = {"val_loss": (0.05, 0.30)}
    fig = overview(single, ylims)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == list(METRICS)
    assert axes[3].get_ylim() == pytest.approx((0.05, 0.30))
    assert axes[0].get_ylim() == pytest.approx(auto_ylim(single.metrics["accuracy"], "accuracy"))
    assert all(len(ax.get_lines()) == 5 for ax in axes)
    (legend,) = fig.legends
    assert legend_texts(legend) == LABELS


def test_result_plot_and_notebook_display(single):
    figs = single.plot()
    assert list(figs) == list(METRICS)
    assert figs._repr_html_().count("data:image/png;base64,") == 4
    assert list(single.plot("overview")) == ["overview"]
    assert list(single.plot(["loss", "val_loss"], ylims=ARTICLE_YLIM)) == ["loss", "val_loss"]



def test_figures_are_not_left_in_pyplot(single):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    single.plot()
    overview(single)
    assert plt.get_fignums() == before  # nothing piles up; Jupyter shows each figure once


def pixels(source):
    """A PNG's pixels (height, width, RGBA): from a file, or from a Figure saved as save_figures does."""
    if isinstance(source, matplotlib.figure.Figure):
        buf = io.BytesIO()
        source.savefig(buf, format="png", dpi=120)
        source = io.BytesIO(buf.getvalue())
    return matplotlib.image.imread(source, format="png")


def test_save_figures(tmp_path, single):
    paths = save_figures(single, tmp_path / "figs", ylims=ARTICLE_YLIM)
    names = [p.name for p in paths]
    assert names == [f"{m}.{f}" for m in (*METRICS, "overview") for f in ("png", "svg")]
    assert paths == [tmp_path / "figs" / n for n in names]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(names)  # written, nothing else
    # Each PNG is its own figure, drawn with the article's y-limits, pixel for pixel (at dpi 120:
    # 960 x 540 for a curve, 8 x 4.5 inches); without the limits the pixels differ.
    drawn = {m: learning_curve(single, m, ARTICLE_YLIM[m]) for m in METRICS}
    drawn["overview"] = overview(single, ARTICLE_YLIM)
    for name, fig in drawn.items():
        saved = pixels(tmp_path / "figs" / f"{name}.png")
        assert saved.shape[:2] == tuple(round(120 * x) for x in fig.get_size_inches()[::-1]), name
        np.testing.assert_array_equal(saved, pixels(fig), err_msg=name)
    assert pixels(learning_curve(single, "val_loss")).shape == pixels(drawn["val_loss"]).shape == (540, 960, 4)
    assert not np.array_equal(pixels(learning_curve(single, "val_loss")), pixels(drawn["val_loss"]))
    # The SVG draws its text as paths, each after a comment holding the text: axis labels, legend.
    svg = (tmp_path / "figs" / "val_loss.svg").read_text()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg
    for text in ("epoch", "val_loss", *LABELS):
        assert f"<!-- {text} -->" in svg, text
    assert "<!-- val_accuracy -->" not in svg
    # The same result saved again gives the same PNGs, byte for byte.
    again = save_figures(single, tmp_path / "again", ylims=ARTICLE_YLIM, formats=("png",))
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths if p.suffix == ".png"]


def test_the_same_result_saved_twice_gives_the_same_svg(tmp_path, single):
    first = save_figures(single, tmp_path / "a", metrics=["val_loss"], formats=("svg",))
    second = save_figures(single, tmp_path / "b", metrics=["val_loss"], formats=("svg",))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_bad_arguments(single, config_error):
    config_error(curves.UNKNOWN_METRIC, learning_curve, single, "val_acc", mentions=("'val_acc'", "val_accuracy"))
    config_error(curves.BAD_BAND, learning_curve, single, "loss", band="iqr", mentions=("'iqr'",))


def test_headless_uses_agg_but_a_notebook_is_left_alone(monkeypatch):
    chosen = []
    monkeypatch.setattr(matplotlib, "use", chosen.append)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    curves._agg_when_headless()
    assert chosen == ["Agg"]
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    curves._agg_when_headless()
    assert chosen == ["Agg"]
