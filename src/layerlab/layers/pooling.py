"""MaxPooling2D, AveragePooling2D and their global forms (channels_last), as Keras.

The pooling itself is layerlab.nn.max_pool/average_pool (Keras' keras.ops names; 'same' average
pooling counts only the input's own cells); this module checks arguments and shapes.
"""
import jax.numpy as jnp

from layerlab import nn
from layerlab.layers.base import Layer
from layerlab.layers.convolutional import data_format_of, image, out_size, padding_of, pair


class _Pooling2D(Layer):
    _args = ("pool_size", "strides", "padding", "data_format")
    _op = None  # the layerlab.nn function

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.pool_size = pair(layer, "pool_size", pool_size, 2)
        self.strides = None if strides is None else pair(layer, "strides", strides, 2)
        self.padding = padding_of(layer, padding)
        self.data_format = data_format_of(layer, data_format)

    def _strides(self):
        return self.pool_size if self.strides is None else self.strides  # Keras: strides default to pool_size

    def output_shape_for(self, in_shape):
        h, w, c = image(self.label(), in_shape)
        return out_size(self.label(), "pool_size", self.pool_size, (h, w), self.pool_size,
                        self._strides(), self.padding) + (c,)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        return type(self)._op(x, self.pool_size, self._strides(), self.padding)


class MaxPooling2D(_Pooling2D):
    """The largest value of each pool_size window (strides default to pool_size)."""

    _op = staticmethod(nn.max_pool)


class AveragePooling2D(_Pooling2D):
    """The mean of each pool_size window; with 'same', border windows average their own cells."""

    _op = staticmethod(nn.average_pool)


class _GlobalPooling2D(Layer):
    _args = ("data_format", "keepdims")

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def output_shape_for(self, in_shape):
        c = image(self.label(), in_shape)[-1]
        return (1, 1, c) if self.keepdims else (c,)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        return self._reduce(x, axis=(1, 2), keepdims=self.keepdims)  # (B, C) or (B, 1, 1, C)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width: (H, W, C) -> (C,)."""

    _reduce = staticmethod(jnp.mean)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The largest value over height and width: (H, W, C) -> (C,)."""

    _reduce = staticmethod(jnp.max)
