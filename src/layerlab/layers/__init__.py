"""Keras-named layers: `layerlab.layers.Dense(128, activation="relu")`."""
from layerlab.layers.activation_layers import LeakyReLU, PReLU
from layerlab.layers.base import Layer
from layerlab.layers.core import Activation, Dense, Flatten, Input, InputLayer
from layerlab.layers.regularization import Dropout

LAYERS = {cls.__name__: cls for cls in (InputLayer, Flatten, Dense, Dropout, Activation, LeakyReLU, PReLU)}

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "LeakyReLU",
           "PReLU", "LAYERS"]
