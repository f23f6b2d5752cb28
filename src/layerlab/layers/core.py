"""Input, Flatten, Dense and Activation: the layers of the article's model."""
import math
import numbers

import jax
import jax.numpy as jnp

from layerlab import activations, initializers
from layerlab.errors import ConfigError
from layerlab.layers.base import Layer, check_shape
from layerlab.sweep import Sweep, check_each

BAD_UNITS = ("Dense: units: expected a positive int; received {received!r}. "
             "Pass the number of output units, e.g. Dense(128) (10 for MNIST's classes).")
BAD_INPUT = ("Input: shape: expected a tuple of positive ints for one sample, e.g. (28, 28); "
             "received {received!r}. Give the shape without the batch axis.")


class InputLayer(Layer):
    """Declares the shape of one sample; `Input(shape=(28, 28))` builds one. Holds no weights."""

    _args = ("shape",)

    def __init__(self, shape=None, *, name=None, **kwargs):
        if shape is None and kwargs.get("input_shape") is not None:
            shape = kwargs.pop("input_shape")
        kwargs.pop("input_shape", None)
        try:
            shape = check_shape("Input", shape)
        except ConfigError:
            raise ConfigError(BAD_INPUT.format(received=shape)) from None
        super().__init__(name=name, **kwargs)
        self.shape = shape
        self.input_shape = shape

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape)}

    def _repr_args(self):
        return {"shape": self.shape}

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        return x


def Input(shape=None, *, name=None, **kwargs):
    """`layerlab.layers.Input(shape=(28, 28))`, usable as the first item of a Sequential."""
    return InputLayer(shape, name=name, **kwargs)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    _args = ("data_format",)

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def output_shape_for(self, in_shape):
        return (math.prod(in_shape),)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        return x.reshape(x.shape[0], -1)


def activation_config(value):
    """The name a config records for an activation; a sweep of functions records their names."""
    if isinstance(value, Sweep):
        return Sweep([v if isinstance(v, str) else activations.serialize(v) or v for v in value])
    return activations.serialize(value) or value


def _check_units(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ConfigError(BAD_UNITS.format(received=v))


class Dense(Layer):
    """y = activation(x @ kernel + bias) on the last axis; kernel (in, units), bias (units,).

    >>> import layerlab
    >>> layerlab.layers.Dense(128, activation="relu").param_count((784,))
    100480
    """

    _args = ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer")
    _weights = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_each(units, _check_units)
        self.activation = check_each(activation, activations.get)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.check("kernel_initializer", kernel_initializer)
        self.bias_initializer = initializers.check("bias_initializer", bias_initializer)

    def _config_args(self):
        args = super()._config_args()
        args["activation"] = activation_config(self.activation)
        return args

    def output_shape_for(self, in_shape):
        return tuple(in_shape[:-1]) + (self.units,)

    def param_count(self, in_shape):
        return in_shape[-1] * self.units + (self.units if self.use_bias else 0)

    def init(self, key, in_shape):
        k_kernel, k_bias = jax.random.split(key)
        params = {"kernel": initializers.get(self.kernel_initializer)(k_kernel, (in_shape[-1], self.units))}
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(k_bias, (self.units,))
        return params, self.output_shape_for(in_shape)

    def to_storage(self, params):
        # The engine keeps the kernel transposed, (units, in): the weight gradient dy^T @ x then
        # lands in the stored layout, which saves a transposing copy per step (measured: about
        # 13% of a 5-variant MNIST epoch; BENCHMARKS.md). apply() always sees (in, units).
        return {k: (jnp.swapaxes(v, -1, -2) if k == "kernel" else v) for k, v in params.items()}

    from_storage = to_storage  # swapping the last two axes is its own inverse

    def apply(self, params, x, hparams=None, *, key=None, train=False, activate=True):
        kernel = params["kernel"]  # (in, units)
        if x.ndim == 2:
            # x @ kernel written as (kernel^T x^T)^T: the engine stores kernels as (units, in),
            # and in this orientation XLA:CPU multiplies without first copying the kernel into
            # (in, units) order (measured: 10-40% of an MNIST epoch; BENCHMARKS.md).
            y = (kernel.T @ x.T).T  # (B, units)
        else:
            y = x @ kernel  # (B, ..., units)
        if self.use_bias:
            # Broadcast the bias (units,) explicitly: implicit rank promotion is an error under
            # jax_numpy_rank_promotion="raise".
            y = y + jnp.expand_dims(params["bias"], tuple(range(y.ndim - 1)))
        return activations.get(self.activation)(y) if activate else y

    def output_activation(self):
        return activations.name_of(self.activation)


class Activation(Layer):
    """Applies an activation function given by name or as a function."""

    _args = ("activation",)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = check_each(activation, activations.get)

    def _config_args(self):
        return {"activation": activation_config(self.activation)}

    def apply(self, params, x, hparams=None, *, key=None, train=False, activate=True):
        return activations.get(self.activation)(x) if activate else x

    def output_activation(self):
        return activations.name_of(self.activation)
