"""Reshape: one sample's shape changed, the batch axis kept (Keras' layers.Reshape)."""
import math

from layerlab.errors import ConfigError
from layerlab.sweep import Sweep

from .base import Layer

BAD_TARGET = ("Reshape: target_shape: expected a tuple of positive ints, at most one of them -1; "
              "received {received!r}. Pass e.g. Reshape((28, 28, 1)).")
SIZE_MISMATCH = ("{layer}: target_shape: expected {size} values per sample, as the input {in_shape} holds; "
                 "received {received!r}. Give a shape whose sizes multiply to {size}.")


def _check_target(value):
    try:
        shape = tuple(value)
    except TypeError:
        raise ConfigError(BAD_TARGET.format(received=value)) from None
    ints = all(isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in shape)
    if not shape or not ints or shape.count(-1) > 1:
        raise ConfigError(BAD_TARGET.format(received=value))
    return shape


class Reshape(Layer):
    """(batch, *in_shape) -> (batch, *target_shape); one -1 takes the remaining size.

    >>> import layerlab
    >>> layerlab.layers.Reshape((28, 28, 1)).output_shape_for((28, 28))
    (28, 28, 1)
    """

    _args = ("target_shape",)

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = (Sweep([_check_target(v) for v in target_shape]) if isinstance(target_shape, Sweep)
                             else _check_target(target_shape))

    def output_shape_for(self, in_shape):
        size, known = math.prod(in_shape), math.prod(d for d in self.target_shape if d != -1)
        shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(shape) != size:
            raise ConfigError(SIZE_MISMATCH.format(layer=self.label(), size=size, in_shape=tuple(in_shape), received=self.target_shape))
        return shape

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        return x.reshape((x.shape[0],) + self.output_shape_for(x.shape[1:]))
