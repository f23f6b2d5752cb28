"""The article's code as printed (../shared/seed/original-article.de.txt), run with
`import layerlab as tf` in place of `import tensorflow as tf`: the training loop over dropout
rates with its four plots, and the ReLU and sigmoid plots. Three changes, each stated where it is
made: the loop's first line lost its "i" in the article's text (`mport numpy as np`) and gets it
back, `epochs = 100` becomes 2, and mnist.load_data is patched to give a small slice, so the test
runs in seconds; the code itself is not edited otherwise."""
import sys
import types

import matplotlib
import numpy as np
import pytest

import layerlab
from layerlab.datasets import mnist

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)

TENSORFLOW = "import tensorflow as tf"


def block(lines, first, last):
    """The lines from the first that starts with `first` to the next that starts with `last`, inclusive."""
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(last))
    return lines[start:end + 1]


@pytest.fixture(scope="module")
def article(seed_folder):
    return (seed_folder / "original-article.de.txt").read_text(encoding="utf-8").splitlines()


def as_layerlab(lines):
    code = "\n".join(lines)
    assert code.count(TENSORFLOW) == 1
    return code.replace(TENSORFLOW, "import layerlab as tf")


@pytest.fixture
def small_mnist(monkeypatch):
    """mnist.load_data() giving 256 training and 128 test images of a synthetic MNIST-shaped set
    (tests never download; the real one is not needed to show that the code runs)."""
    rng = np.random.default_rng(0)

    def load_data(*args, **kwargs):
        x = rng.integers(0, 256, (384, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, 384, dtype=np.uint8)
        return (x[:256], y[:256]), (x[256:], y[256:])
    monkeypatch.setattr(mnist, "load_data", load_data)


def test_the_training_loop_and_its_plots_run_unchanged(article, small_mnist, capsys):
    lines = block(article, "mport numpy as np", "  plt.show()")
    assert lines[0] == "mport numpy as np" and "epochs = 100" in lines
    lines[0] = "import numpy as np"                                   # the article lost the "i"
    lines[lines.index("epochs = 100")] = "epochs = 2"                 # 100 epochs in CI: too long
    namespace = {}
    plt.close("all")
    exec(compile(as_layerlab(lines), "article-training-loop", "exec"), namespace)  # noqa: S102
    results = namespace["results"]
    assert [round(r["rate"], 1) for r in results] == [0.0, 0.2, 0.4, 0.6, 0.8]
    for r in results:
        assert sorted(r["hist"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        assert all(len(v) == 2 and all(np.isfinite(v)) for v in r["hist"].values())
    assert len(plt.get_fignums()) == 4  # one figure per metric, five curves each
    assert [len(plt.figure(n).axes[0].lines) for n in plt.get_fignums()] == [5, 5, 5, 5]
    out = capsys.readouterr().out
    assert "■ Dropout p=0.0" in out and "■ Dropout p=0.8" in out and "'val_accuracy': [" in out
    plt.close("all")


@pytest.mark.parametrize("function, ylim", [("tf.nn.relu", (-1, 12)), ("tf.math.sigmoid", (-0.2, 1.2))])
def test_the_activation_plots_run_unchanged(article, function, ylim):
    marker = f"y = {function}(x)"
    end = next(i for i, line in enumerate(article) if line.startswith(marker))
    start = max(i for i in range(end) if article[i] == "import numpy as np")
    lines = block(article[start:], "import numpy as np", "plt.vlines(")
    namespace = {}
    plt.close("all")
    exec(compile(as_layerlab(lines), f"article-{function}", "exec"), namespace)  # noqa: S102
    x, y = namespace["x"], np.asarray(namespace["y"])
    reference = np.maximum(x, 0) if function == "tf.nn.relu" else 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(y, reference, rtol=1e-6, atol=1e-7)
    assert plt.gca().get_ylim() == ylim
    plt.close("all")


def test_layerlab_keras_is_layerlab():
    assert layerlab.keras.models.Sequential is layerlab.Sequential
    assert layerlab.keras.layers is layerlab.layers and layerlab.keras.datasets is layerlab.datasets
    assert layerlab.keras.backend.clear_session is layerlab.backend.clear_session
    assert layerlab.nn.softmax is layerlab.activations.softmax and layerlab.math.sigmoid is layerlab.nn.sigmoid


def test_keras_callbacks_is_reached_on_first_use(monkeypatch):
    """layerlab.keras imports layerlab.callbacks only when tf.keras.callbacks is used."""
    fake = types.ModuleType("layerlab.callbacks")
    monkeypatch.setitem(sys.modules, "layerlab.callbacks", fake)
    assert layerlab.keras.callbacks is fake
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        layerlab.keras.nothing  # noqa: B018
