"""The dataset views: samples per class, class counts, pixel values, class means and one image's
values, for MNIST and Fashion-MNIST (class names), from Python and `layerlab datasets show`."""
import contextlib
import io
import json

import numpy as np
import pytest

import layerlab
from layerlab import cli
from layerlab.figures import data as views


def call(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_summary_counts_what_the_split_holds(real_mnist):
    (_, _), (xt, yt) = layerlab.datasets.mnist.load_data()
    s = views.dataset_summary("mnist", "test")
    assert s["images"] == 10000 and s["shape"] == [28, 28]
    assert [c["count"] for c in s["classes"]] == np.bincount(yt).tolist()
    assert [c["label"] for c in s["classes"]] == [str(c) for c in range(10)]
    assert s["pixels"]["mean"] == pytest.approx(xt.mean(), abs=1e-4) and s["pixels"]["max"] == 255


def test_the_views_draw_the_data_they_are_given():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28)).astype(np.uint8)
    y = np.repeat(np.arange(4), 10)
    names = ["a", "b", "c", "d"]
    fig = views.samples_figure(x, y, names, per_class=3)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 12 and np.array_equal(shown[3], x[10])          # row 2 starts with class 1's first
    bars = views.counts_figure(y, names, "t").axes[0].patches
    assert [b.get_height() for b in bars] == [10, 10, 10, 10]
    means = views.means_figure(x, y, names).axes
    assert np.allclose(means[2].images[0].get_array(), x[20:30].mean(axis=0))
    closer = views.closer_figure(x[5], "b").axes[0]
    assert [t.get_text() for t in closer.texts][:3] == [str(v) for v in x[5, 0, :3]] and len(closer.texts) == 784
    hist = views.histogram_figure(x, "t").axes[0].patches
    assert sum(b.get_height() for b in hist) == x.size


def test_unknown_dataset_or_split_is_one_line(config_error):
    config_error(views.UNKNOWN_DATASET, views.load_split, "cifar10", mentions=("'cifar10'",))
    config_error(views.BAD_SPLIT, views.load_split, "mnist", "validation", mentions=("'validation'",))


def test_datasets_show_fashion_mnist_with_class_names(tmp_path):
    from layerlab.datasets import _locate, _registry
    found, _ = _locate.search(_registry.FASHION_MNIST)
    if found is None:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    code, out, err = call("datasets", "show", "fashion-mnist", "--split", "test", "--json", "--out", tmp_path)
    assert code == 0, err
    s = json.loads(out)
    assert s["classes"][9] == {"class": 9, "label": "Ankle boot", "count": 1000}
    names = ["samples", "class_counts", "pixel_histogram", "class_means", "look_closer"]
    assert err.splitlines() == [str(tmp_path / f"{n}.{f}") for n in names for f in ("png", "svg")]
    code, out, _ = call("datasets", "show", "fashion_mnist", "--split", "test")
    assert code == 0 and "Ankle boot" in out and "10,000 images" in out


def test_datasets_without_show_lists_as_before(real_mnist):
    code, out, _ = call("datasets", "--no-verify", "--json")
    assert code == 0 and {d["name"] for d in json.loads(out)} >= {"mnist", "fashion_mnist"}
    code, _, err = call("datasets", "show")
    assert code == 2 and "expected a dataset" in err
