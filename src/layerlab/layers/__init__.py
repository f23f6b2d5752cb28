"""Keras-named layers: `layerlab.layers.Dense(128, activation="relu")`.

A layer is a pure init/apply pair (base.Layer); a Stack composes them; `registry` knows every
class by its Keras name. A new layer is one class here plus its row in registry.LAYERS.
"""
from layerlab.layers.activation_layers import LeakyReLU, PReLU
from layerlab.layers.base import Layer
from layerlab.layers.core import Activation, Dense, Flatten, Input, InputLayer
from layerlab.layers.registry import LAYERS, deserialize, serialize
from layerlab.layers.regularization import Dropout
from layerlab.layers.stack import Stack

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "LAYERS", "Layer", "LeakyReLU",
           "PReLU", "Stack", "deserialize", "serialize"]
