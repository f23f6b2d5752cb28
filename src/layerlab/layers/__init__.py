"""Keras-named layers: `layerlab.layers.Dense(128, activation="relu")`.

A layer is a pure init/apply pair (base.Layer); a Stack composes them; `registry` knows every
class by its Keras name. A new layer is one class here plus its row in registry.LAYERS.
"""
from layerlab.layers.activation_layers import LeakyReLU, PReLU
from layerlab.layers.base import Layer
from layerlab.layers.convolutional import Conv2D
from layerlab.layers.core import Activation, Dense, Flatten, Input, InputLayer
from layerlab.layers.normalization import BatchNormalization
from layerlab.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from layerlab.layers.registry import LAYERS, deserialize, serialize
from layerlab.layers.regularization import Dropout, SpatialDropout2D
from layerlab.layers.reshaping import Reshape
from layerlab.layers.stack import Stack

__all__ = ["Activation", "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Input", "InputLayer", "LAYERS", "Layer", "LeakyReLU",
           "MaxPooling2D", "PReLU", "Reshape", "SpatialDropout2D", "Stack", "deserialize", "serialize"]
