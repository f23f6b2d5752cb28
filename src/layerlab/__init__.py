"""layerlab: study how layers, activations and regularisation shape a classifier, with every
variant of a comparison trained at once, vectorised in compiled JAX programs.

>>> import layerlab
>>> from layerlab import layers
>>> model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)),
...                              layers.Dense(128, activation="relu"),
...                              layers.Dropout(layerlab.sweep([0.0, 0.2, 0.4])),
...                              layers.Dense(10, activation="softmax")])
"""
from layerlab import activations, backend, datasets, layers, nn  # noqa: F401
from layerlab.errors import ConfigError, DatasetError, LayerlabError  # noqa: F401
from layerlab.models import Sequential
from layerlab.sweep import Sweep, sweep  # noqa: F401

__version__ = "0.1.0"


class _Models:
    """`layerlab.models.Sequential`, as `tf.keras.models.Sequential`."""

    Sequential = Sequential


models = _Models()

from layerlab import losses, optimizers  # noqa: E402,F401
from layerlab.history import History, SweepResult  # noqa: E402,F401


class _Utils:
    """`layerlab.utils.set_random_seed(1)`, as in Keras."""

    @staticmethod
    def set_random_seed(seed):
        from layerlab.training import set_random_seed
        set_random_seed(seed)


utils = _Utils()
from layerlab.store import load_model, load_run  # noqa: E402,F401
