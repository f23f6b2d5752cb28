"""layerlab: study how layers, activations and regularisation shape a classifier, with every
variant of a comparison trained at once, vectorised in compiled JAX programs.

>>> import layerlab
>>> from layerlab import layers
>>> model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)),
...                              layers.Dense(128, activation="relu"),
...                              layers.Dropout(layerlab.sweep([0.0, 0.2, 0.4])),
...                              layers.Dense(10, activation="softmax")])

The data flow, one package a stage (docs/architecture.md): study file / Python API -> models
and sweeps -> variants and compile groups -> engine (one program per group) -> backends ->
store -> analysis -> figures and report. This file only gathers the public names.
"""
from layerlab import (  # noqa: F401
    activations, backend, callbacks, datasets, layers, losses, models, nn, optimizers, session)
from layerlab import keras, math  # noqa: F401  (`import layerlab as tf`: tf.keras..., tf.math.sigmoid)
from layerlab._version import __version__  # noqa: F401
from layerlab.errors import ConfigError, DatasetError, LayerlabError  # noqa: F401
from layerlab.models import Sequential  # noqa: F401
from layerlab.runs import load_model, load_run  # noqa: F401
from layerlab.sweep import Sweep, sweep  # noqa: F401
from layerlab.training import History, SweepResult, set_random_seed  # noqa: F401
from layerlab.training.several import fit_models  # noqa: F401


class _Utils:
    """`layerlab.utils.set_random_seed(1)`, as in Keras."""

    set_random_seed = staticmethod(set_random_seed)


utils = _Utils()
