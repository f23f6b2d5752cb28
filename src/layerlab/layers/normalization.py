"""BatchNormalization (Ioffe & Szegedy 2015), with Keras' formulas and defaults.

Training normalises with the batch's mean and (biased) variance over every axis but `axis` and
moves the layer's statistics towards them:
    moving = moving * momentum + batch_statistic * (1 - momentum);
inference normalises with the moving statistics. Either way
    y = x * inv + (beta - mean * inv),  inv = gamma / sqrt(variance + epsilon)
as keras.ops.batch_normalization computes it. moving_mean and moving_variance are the layer's
`_state`: the engine carries them per variant and gradients never touch them. momentum and
epsilon reach apply through hparams, so a sweep of them trains in one program.

The engine pads an epoch's last partial batch with samples of weight 0; `mask` (B,) leaves
them out of the batch statistics, so the statistics are those of the real samples, as in Keras.
"""
import numbers

import jax
import jax.numpy as jnp

from layerlab import initializers
from layerlab.errors import ConfigError
from layerlab.sweep import check_each

from .base import Layer

BAD_AXIS = ("{layer}: axis: expected an int naming an axis of the inputs other than the batch "
            "(between 1 and {last}, or -1 for the last); received axis={received!r} for inputs of shape {shape}. "
            "Use axis=-1 for channels_last images.")
NOT_AN_AXIS = ("BatchNormalization: axis: expected an int such as -1; received {received!r}. "
               "Pass the channels axis, -1 for channels_last.")
BAD_MOMENTUM = ("BatchNormalization: momentum: expected a float in [0, 1]; received {received!r}. "
                "Keras' default is 0.99.")
BAD_EPSILON = ("BatchNormalization: epsilon: expected a float > 0; received {received!r}. "
               "Keras' default is 0.001.")


def _check_momentum(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v <= 1:
        raise ConfigError(BAD_MOMENTUM.format(received=v))


def _check_epsilon(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0:
        raise ConfigError(BAD_EPSILON.format(received=v))


class BatchNormalization(Layer):
    """Normalises each channel (`axis`) with batch statistics while training, moving ones after.

    >>> import layerlab
    >>> layerlab.layers.BatchNormalization().param_count((26, 26, 32))
    128
    """

    _args = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
             "moving_mean_initializer", "moving_variance_initializer")
    _dynamic = ("momentum", "epsilon")
    _weights = ("gamma", "beta", "moving_mean", "moving_variance")
    _state = ("moving_mean", "moving_variance")

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ConfigError(NOT_AN_AXIS.format(received=axis))
        self.axis = int(axis)
        self.momentum = check_each(momentum, _check_momentum)
        self.epsilon = check_each(epsilon, _check_epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.check("beta_initializer", beta_initializer)
        self.gamma_initializer = initializers.check("gamma_initializer", gamma_initializer)
        self.moving_mean_initializer = initializers.check("moving_mean_initializer", moving_mean_initializer)
        self.moving_variance_initializer = initializers.check("moving_variance_initializer",
                                                              moving_variance_initializer)

    def _axis(self, in_shape):
        """The normalised axis of a batch (B, *in_shape), counted from 1 (0 is the batch)."""
        rank = len(in_shape) + 1
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ConfigError(BAD_AXIS.format(layer=self.label(), last=rank - 1, received=self.axis, shape=(None,) + tuple(in_shape)))
        return axis

    def output_shape_for(self, in_shape):
        self._axis(in_shape)
        return tuple(in_shape)

    def _shapes(self, in_shape):
        n = (in_shape[self._axis(in_shape) - 1],)
        names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ()) + self._state
        return {name: n for name in names}

    def param_count(self, in_shape):
        return sum(s[0] for s in self._shapes(in_shape).values())

    def non_trainable_count(self, in_shape):
        return 2 * in_shape[self._axis(in_shape) - 1]

    def init(self, key, in_shape):
        inits = {"gamma": self.gamma_initializer, "beta": self.beta_initializer,
                 "moving_mean": self.moving_mean_initializer, "moving_variance": self.moving_variance_initializer}
        keys = dict(zip(self._weights, jax.random.split(key, 4)))
        params = {name: initializers.get(inits[name])(keys[name], shape)
                  for name, shape in self._shapes(in_shape).items()}
        return params, tuple(in_shape)

    def _normalise(self, params, x, mean, variance, epsilon, axis):
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        inv = 1.0 / jnp.sqrt(variance + epsilon)
        if self.scale:
            inv = inv * params["gamma"]
        offset = -mean * inv
        if self.center:
            offset = offset + params["beta"]
        return x * inv.reshape(shape) + offset.reshape(shape)

    def apply(self, params, x, hparams=None, *, key=None, train=False, mask=None):
        return self.apply_with_state(params, x, hparams, key=key, train=train, mask=mask)[0]

    def apply_with_state(self, params, x, hparams=None, *, key=None, train=False, mask=None):
        hp = hparams or self.hparams()
        axis = self._axis(x.shape[1:])
        if not (train and self.trainable):  # Keras: a frozen BatchNormalization runs in inference mode
            return self._normalise(params, x, params["moving_mean"], params["moving_variance"],
                                   hp["epsilon"], axis), {}
        mean, variance = _moments(x, axis, mask)
        momentum = hp["momentum"]
        new = {"moving_mean": params["moving_mean"] * momentum + mean * (1.0 - momentum),
               "moving_variance": params["moving_variance"] * momentum + variance * (1.0 - momentum)}
        return self._normalise(params, x, mean, variance, hp["epsilon"], axis), new


def _moments(x, axis, mask):
    """Mean and biased variance over every axis but `axis` ((C,) each); samples of weight 0 in
    mask (B,) left out."""
    axes = tuple(a for a in range(x.ndim) if a != axis)
    if mask is None:
        return jnp.mean(x, axes), jnp.var(x, axes)
    w = mask.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)      # (B, 1, ...)
    count = jnp.sum(w) * (x.size // (x.shape[0] * x.shape[axis]))
    mean = jnp.sum(x * w, axes) / count
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    variance = jnp.sum(jnp.square(x - mean.reshape(shape)) * w, axes) / count
    return mean, variance
