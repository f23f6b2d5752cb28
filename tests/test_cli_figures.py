"""The `layerlab` commands over a recorded run's figures and words: plot, show --analysis,
report, and activations (no run needed); one tiny study recorded once for the module."""
import contextlib
import io
import re
import json
import types

import numpy as np
import pytest

import layerlab
from layerlab import cli, figures
from layerlab.figures import ARTICLE_YLIM, FAMILY
from tiny_study import tiny_study

NAME = "tiny <&> study"
TINY = tiny_study(name=NAME, extra="\n[plot]\nylim = { val_loss = [0.0, 3.0] }\n")
METRICS = ["accuracy", "loss", "val_accuracy", "val_loss"]


def call(*argv):
    """(exit code, stdout, stderr) of `layerlab ARGV`, in process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, real_mnist):
    """(store path, what `layerlab run` printed) for one run of the tiny study."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "s.toml").write_text(TINY)
    store = folder / "runs.db"
    code, out, err = call("run", folder / "s.toml", "--store", store, "--quiet")
    assert code == 0, err
    return store, out


def test_run_says_where_the_results_are_and_suggests_the_report(recorded):
    store, out = recorded
    assert f"run 1 finished: 2 variant(s) x 2 epochs in {store}; see `layerlab show 1 --store {store}`" in out
    assert f"`layerlab report 1 --out report.html --store {store}`" in out


def test_plot_writes_png_and_svg_of_each_curve_and_the_overview_with_the_studys_ylim(
        recorded, tmp_path, monkeypatch):
    seen, real = [], figures.save_figures
    monkeypatch.setattr(figures, "save_figures", lambda result, out, ylims=None, **kw:
                        seen.append(ylims) or real(result, out, ylims=ylims, **kw))
    store, _ = recorded
    code, out, err = call("plot", 1, "--store", store, "--out", tmp_path / "figs")
    expected = [tmp_path / "figs" / f"{name}.{fmt}" for name in METRICS + ["overview"] for fmt in ("png", "svg")]
    assert code == 0 and err == ""
    assert out.splitlines() == [str(p) for p in expected]
    assert all(p.stat().st_size > 0 for p in expected)
    assert seen == [{"val_loss": (0.0, 3.0)}]


def ylims(result):
    return figures.plot_settings(result)[0]


def plot_metrics(result):
    return figures.plot_settings(result)[1]


def test_ylims_study_then_article_then_automatic(recorded):
    result = layerlab.load_run(1, store=recorded[0])
    assert ylims(result) == {"val_loss": (0.0, 3.0)}
    result.run["spec"]["study"]["plot"]["ylim"] = {}
    assert ylims(result) is None  # not the article's model: automatic limits
    layers = [{"class_name": "Flatten", "config": {}},
              {"class_name": "Dense", "config": {"units": 128, "activation": "relu"}},
              {"class_name": "Dropout", "config": {"rate": {"sweep": [0.0, 0.2]}}},
              {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]
    article = types.SimpleNamespace(swept=["dropout.rate"], run={"spec": {
        "model": {"layers": layers}, "input_shape": [28, 28], "study": None}})  # as studies/dropout.py records
    assert ylims(article) == ARTICLE_YLIM
    layers[1]["config"]["units"] = 64
    assert ylims(article) is None


def test_the_studys_plot_metrics_choose_the_curves_of_plot_and_report(recorded, tmp_path, monkeypatch):
    result = layerlab.load_run(1, store=recorded[0])
    assert plot_metrics(result) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # the default: all
    result.run["spec"]["study"]["plot"]["metrics"] = ["val_loss", "loss"]
    assert plot_metrics(result) == ["val_loss", "loss"]
    monkeypatch.setattr(layerlab.runs, "load_run", lambda run, store=None: result)
    code, out, err = call("plot", 1, "--out", tmp_path / "figs")
    assert code == 0 and err == ""
    assert out.splitlines() == [str(tmp_path / "figs" / f"{n}.{f}") for n in ("val_loss", "loss", "overview")
                                for f in ("png", "svg")]
    code, _, err = call("report", 1, "--out", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8").split("<h2>Mistakes</h2>")[0]  # the curves
    assert code == 0 and err == "" and page.count('<img alt="') == 3
    assert [m for m in re.findall(r'<img alt="([^"]+)"', page)] == ["overview", "val_loss", "loss"]


def test_show_analysis_in_words_and_as_json(recorded):
    store, _ = recorded
    code, out, err = call("show", 1, "--store", store, "--analysis", "--json", "--slope-after", 1,
                          "--tolerance", 0.1)
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert [v["label"] for v in doc["variants"]] == ["rate=0.0", "rate=0.5"]
    assert doc["slope_after"] == 1 and doc["tolerance"] == 0.1 and doc["epochs"] == 2
    # The recommendation is the variant and epoch of the lowest recorded val_loss, found here
    # from the stored history with numpy: rate 0.0 after 2 epochs (2 epochs of 300 images; rate
    # 0.5's dropout slows learning, its val_loss is about 0.08 higher).
    val = layerlab.load_run(1, store=store).metrics["val_loss"]
    i, e = (int(x) for x in np.unravel_index(np.argmin(val), val.shape))
    best = ["rate=0.0", "rate=0.5"][i]
    assert (best, e + 1) == ("rate=0.0", 2), val
    assert doc["recommendation"]["label"] == best and doc["recommendation"]["epochs"] == e + 1
    assert doc["recommendation"]["val_loss"] == pytest.approx(val[i, e])
    code, out, _ = call("show", 1, "--store", store, "--analysis")
    assert code == 0 and "\nTable\n" in out and "rate=0.5" in out
    assert f"Lowest val_loss: {best} after {e + 1} epoch" in out
    code, out, _ = call("show", 1, "--store", store)  # unchanged without --analysis
    assert code == 0 and out.startswith("run 1: ") and "Lowest val_loss" not in out


def test_report_is_one_html_file_with_study_model_results_analysis_and_curves(recorded, tmp_path):
    store, _ = recorded
    code, out, err = call("report", 1, "--store", store, "--out", tmp_path / "sub" / "report.html")
    page = (tmp_path / "sub" / "report.html").read_text(encoding="utf-8")
    assert code == 0 and err == "" and out == f"run 1 reported in {tmp_path / 'sub' / 'report.html'}\n"
    assert "tiny &lt;&amp;&gt; study" in page and NAME not in page
    assert "<h2>Study</h2>" in page and "[[layers]]" in page
    assert "<h2>Model</h2>" in page and "dense (Dense)" in page and "Total params: 12,730" in page
    assert "<h2>Results at the last epoch</h2>" in page and "<h2>Analysis</h2>" in page
    curves, mistakes = page.split("<h2>Mistakes</h2>")
    assert curves.count('<img alt="') == 5 and 'src="data:image/png;base64,' in page
    # per variant its confusion matrix and most confident mistakes; the best against the other
    assert mistakes.count('<img alt="confusion"') == 2 and mistakes.count('<img alt="difference"') == 1
    assert "http://" not in page and "https://" not in page


def test_activations_writes_every_figure(tmp_path):
    code, out, err = call("activations", "--out", tmp_path / "act")
    names = ["relu", "sigmoid", "softmax"] + [f"{n}_derivative" for n in FAMILY] + ["derivatives"]
    expected = [tmp_path / "act" / f"{n}.{fmt}" for n in names for fmt in ("png", "svg")]
    assert code == 0 and err == ""
    assert out.splitlines() == [str(p) for p in expected] and all(p.exists() for p in expected)


@pytest.mark.parametrize("argv", [["plot", 7, "--out", "figs"], ["report", 7, "--out", "r.html"],
                                  ["show", 7, "--analysis"], ["plot", "x", "--out", "figs"]])
def test_a_bad_run_is_one_line_with_exit_code_2(recorded, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, out, err = call(*argv, "--store", recorded[0])
    assert code == 2 and out == ""
    assert err.startswith("layerlab: error: ") and err.count("\n") == 1 and f"run {argv[1]}" in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_analysis_options_need_analysis_and_check_their_values(recorded):
    store = recorded[0]
    code, _, err = call("show", 1, "--store", store, "--tolerance", 0.1)
    assert code == 2 and err == ("layerlab: error: show: --tolerance: expected together with --analysis; received it "
                                 "alone. Add --analysis, e.g. `layerlab show 1 --analysis --tolerance ...`.\n")
    code, _, err = call("show", 1, "--store", store, "--analysis", "--tolerance", "-1")
    assert code == 2 and "argument --tolerance: expected a float >= 0" in err
    code, _, err = call("show", 1, "--store", store, "--analysis", "--slope-after", 0)
    assert code == 2 and "argument --slope-after: expected a positive int; received '0'" in err
