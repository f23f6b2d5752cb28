"""LeakyReLU and PReLU (He et al. 2015): ReLU with a slope below zero, fixed or learned."""
import math
import numbers

import jax.numpy as jnp

from layerlab import initializers
from layerlab.errors import ConfigError
from layerlab.layers.base import Layer
from layerlab.sweep import check_each

BAD_SLOPE = ("LeakyReLU: negative_slope: expected a float >= 0; received {received!r}. "
             "Pass a small slope such as 0.3 (Keras' default).")
SHARED_AXES_NOT_INTS = ("PReLU: shared_axes: expected None, an int or a list of ints >= 1; "
                        "received {received!r}. Axis 0 is the batch: 1 is a sample's first axis.")
BAD_SHARED_AXES = ("PReLU: shared_axes: expected None or axes between 1 and the input rank; "
                   "received {received!r} for inputs of shape {shape}. Axis 0 is the batch.")


def _check_slope(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ConfigError(BAD_SLOPE.format(received=v))


class LeakyReLU(Layer):
    """x if x >= 0 else negative_slope * x. `alpha=` (tf.keras 2's name) is accepted too."""

    _args = ("negative_slope",)
    _dynamic = ("negative_slope",)

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = check_each(negative_slope if alpha is None else alpha, _check_slope)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        slope = (hparams or self.hparams())["negative_slope"]
        return jnp.where(x >= 0, x, slope * x)


class PReLU(Layer):
    """Leaky ReLU whose slope is learned: one alpha per input unit, or shared along axes."""

    _args = ("alpha_initializer", "shared_axes")
    _weights = ("alpha",)

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.check("alpha_initializer", alpha_initializer)
        if isinstance(shared_axes, int):
            shared_axes = [shared_axes]
        try:
            shared_axes = None if shared_axes is None else list(shared_axes)
        except TypeError:
            raise ConfigError(SHARED_AXES_NOT_INTS.format(received=shared_axes)) from None
        for axis in shared_axes or ():
            if isinstance(axis, bool) or not isinstance(axis, int) or axis < 1:
                raise ConfigError(SHARED_AXES_NOT_INTS.format(received=shared_axes))
        self.shared_axes = shared_axes

    def _alpha_shape(self, in_shape):
        shape = list(in_shape)
        for axis in self.shared_axes or ():
            if isinstance(axis, bool) or not isinstance(axis, int) or not 1 <= axis <= len(in_shape):
                raise ConfigError(BAD_SHARED_AXES.format(received=self.shared_axes, shape=tuple(in_shape)))
            shape[axis - 1] = 1
        return tuple(shape)

    def param_count(self, in_shape):
        return math.prod(self._alpha_shape(in_shape))

    def init(self, key, in_shape):
        alpha = initializers.get(self.alpha_initializer)(key, self._alpha_shape(in_shape))
        return {"alpha": alpha}, tuple(in_shape)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        alpha = params["alpha"]  # in_shape, 1 on shared axes; the batch axis added explicitly
        alpha = jnp.expand_dims(alpha, tuple(range(x.ndim - alpha.ndim)))
        return jnp.where(x >= 0, x, alpha * x)
