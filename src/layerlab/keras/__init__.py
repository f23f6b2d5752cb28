"""`layerlab.keras`: Keras' namespace over what layerlab has, so that code written for
`tf.keras` runs with `import layerlab as tf` (the article's code does, unchanged):

    tf.keras.datasets.mnist.load_data()     tf.keras.backend.clear_session()
    tf.keras.models.Sequential([...])       tf.keras.layers.Dense(128, activation=tf.nn.relu)
    tf.keras.optimizers.Adam()              tf.keras.models.load_model('m.keras')

Each name is layerlab's own module or class (layerlab.keras.layers is layerlab.layers).
`callbacks` is imported on first use, so this namespace does not depend on it at import time.
"""
import importlib

from layerlab import activations, backend, datasets, initializers, layers, losses, models, optimizers
from layerlab.layers import Input
from layerlab.models import Sequential, load_model, model_from_json

from . import utils

_LAZY = {"callbacks": "layerlab.callbacks"}

__all__ = ["Input", "Sequential", "activations", "backend", "callbacks", "datasets", "initializers", "layers", "load_model",
           "losses", "model_from_json", "models", "optimizers", "utils"]


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    raise AttributeError(f"module 'layerlab.keras' has no attribute {name!r}")
