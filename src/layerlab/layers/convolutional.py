"""Conv2D (channels_last), and the checks every 2-D layer shares: pairs of sizes, padding, the
data format, and the output size of a window sliding over an image.

The convolution itself is layerlab.nn.conv (Keras' keras.ops.conv); this module only checks
arguments and shapes, so that a bad one is one line at construction or at summary(), never an
error inside a traced function.
"""
import math
import numbers

import jax

from layerlab import activations, initializers, nn
from layerlab.errors import ConfigError
from layerlab.layers.base import Layer
from layerlab.layers.core import activation_config
from layerlab.sweep import Sweep, check_each

BAD_POSITIVE = ("{layer}: {arg}: expected a positive int; received {received!r}. "
                "Pass e.g. {arg}={example}.")
BAD_PAIR = ("{layer}: {arg}: expected a positive int or a pair of positive ints; received {received!r}. "
            "Pass e.g. {arg}={example} or {arg}=({example}, {example}).")
BAD_PADDING = ("{layer}: padding: expected 'valid' or 'same'; received {received!r}. "
               "Use 'valid' (no padding) or 'same' (output size = ceil(input / strides)).")
CHANNELS_FIRST = ("{layer}: data_format: expected 'channels_last' (layerlab's only layout); received "
                  "{received!r}. Leave data_format out and give samples as (height, width, channels).")
STRIDES_AND_DILATION = ("{layer}: strides: expected (1, 1) when dilation_rate is not; received "
                        "strides={strides!r} with dilation_rate={dilation!r}. Keras allows only one of them above 1.")
NOT_AN_IMAGE = ("{layer}: input shape: expected one sample as (height, width, channels); received {received!r}. "
                "{fix}")
ADD_CHANNEL = ("Add layers.Reshape({shape}) before it, or pass x[..., None] "
               "with input_shape={shape}.")
NO_PIXELS = ("{layer}: {arg}: expected a window that fits the input; received {arg}={window!r} "
             "({extent} with dilation) over {size} with padding='valid'. Use a smaller {arg}, "
             "padding='same', or fewer layers that shrink the image first.")


def positive(layer, arg, value, example=32):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
            raise ConfigError(BAD_POSITIVE.format(layer=layer, arg=arg, received=v, example=example))
    return check_each(value, check)


def pair(layer, arg, value, example=2):
    """(a, b) from an int or a pair (Keras' standardize_tuple); a sweep is checked value by value."""
    def one(v):
        p = (v, v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v
        try:
            p = tuple(p)
        except TypeError:
            raise ConfigError(BAD_PAIR.format(layer=layer, arg=arg, received=v, example=example)) from None
        if len(p) != 2 or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in p):
            raise ConfigError(BAD_PAIR.format(layer=layer, arg=arg, received=v, example=example))
        return tuple(int(d) for d in p)
    if isinstance(value, Sweep):
        return Sweep([one(v) for v in value])
    return one(value)


def padding_of(layer, value):
    def one(v):
        mode = v.lower() if isinstance(v, str) else v
        if mode not in ("valid", "same"):
            raise ConfigError(BAD_PADDING.format(layer=layer, received=v))
        return mode
    return Sweep([one(v) for v in value]) if isinstance(value, Sweep) else one(value)


def data_format_of(layer, value):
    if value not in (None, "channels_last"):
        raise ConfigError(CHANNELS_FIRST.format(layer=layer, received=value))
    return "channels_last"


def image(layer, in_shape):
    """(height, width, channels) of one sample, or the one line that says how to get there."""
    if len(in_shape) == 3:
        return tuple(in_shape)
    fix = (ADD_CHANNEL.format(shape=tuple(in_shape) + (1,)) if len(in_shape) == 2 else
           "Reshape the samples to (height, width, channels) with layers.Reshape.")
    raise ConfigError(NOT_AN_IMAGE.format(layer=layer, received=tuple(in_shape), fix=fix))


def out_size(layer, arg, window, size, extent, strides, padding):
    """Keras' output size per axis: ceil(n / s) with 'same', (n - extent) // s + 1 with 'valid'."""
    if padding == "same":
        return tuple(-(-n // s) for n, s in zip(size, strides))
    if any(e > n for e, n in zip(extent, size)):
        raise ConfigError(NO_PIXELS.format(layer=layer, arg=arg, window=window, extent=tuple(extent),
                                           size=tuple(size)))
    return tuple((n - e) // s + 1 for n, e, s in zip(size, extent, strides))


class Conv2D(Layer):
    """2-D convolution over (height, width, channels) samples: kernel (kh, kw, in, filters), bias (filters,).

    >>> import layerlab
    >>> layerlab.layers.Conv2D(32, 3, activation="relu").param_count((28, 28, 1))
    320
    """

    _args = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
             "use_bias", "kernel_initializer", "bias_initializer")
    _weights = ("kernel", "bias")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = positive("Conv2D", "filters", filters)
        self.kernel_size = pair("Conv2D", "kernel_size", kernel_size, 3)
        self.strides = pair("Conv2D", "strides", strides, 1)
        self.padding = padding_of("Conv2D", padding)
        self.data_format = data_format_of("Conv2D", data_format)
        self.dilation_rate = pair("Conv2D", "dilation_rate", dilation_rate, 1)
        if (not isinstance(self.strides, Sweep) and not isinstance(self.dilation_rate, Sweep)
                and max(self.strides) > 1 and max(self.dilation_rate) > 1):
            raise ConfigError(STRIDES_AND_DILATION.format(layer="Conv2D", strides=self.strides,
                                                          dilation=self.dilation_rate))
        self.activation = check_each(activation, activations.get)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.check("kernel_initializer", kernel_initializer)
        self.bias_initializer = initializers.check("bias_initializer", bias_initializer)

    def _config_args(self):
        args = super()._config_args()
        args["activation"] = activation_config(self.activation)
        return args

    def _extent(self):
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def output_shape_for(self, in_shape):
        h, w, _ = image(self.label(), in_shape)
        size = out_size(self.label(), "kernel_size", self.kernel_size, (h, w), self._extent(), self.strides, self.padding)
        return size + (self.filters,)

    def _kernel_shape(self, in_shape):
        return tuple(self.kernel_size) + (image(self.label(), in_shape)[-1], self.filters)

    def param_count(self, in_shape):
        return math.prod(self._kernel_shape(in_shape)) + (self.filters if self.use_bias else 0)

    def init(self, key, in_shape):
        out_shape = self.output_shape_for(in_shape)
        k_kernel, k_bias = jax.random.split(key)
        params = {"kernel": initializers.get(self.kernel_initializer)(k_kernel, self._kernel_shape(in_shape))}
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(k_bias, (self.filters,))
        return params, out_shape

    def apply(self, params, x, hparams=None, *, key=None, train=False, activate=True, pool=None):
        """pool: a MaxPooling2D to run on the convolution before the bias and the activation
        (Stack does so when that gives the same numbers; see Stack._pool_first)."""
        if pool is None:
            y = nn.conv(x, params["kernel"], self.strides, self.padding, self.dilation_rate)  # (B, H', W', filters)
        else:
            y = nn.conv_max_pool(x, params["kernel"], self.strides, self.padding, self.dilation_rate,
                                 pool.pool_size, pool.strides, pool.padding)
        if self.use_bias:
            y = y + params["bias"][None, None, None, :]
        return activations.get(self.activation)(y) if activate else y

    def output_activation(self):
        return activations.name_of(self.activation)
