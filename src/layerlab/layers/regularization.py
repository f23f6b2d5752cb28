"""Dropout (Srivastava et al. 2014), inverted: kept units are scaled by 1 / (1 - rate); SpatialDropout2D
drops whole channels."""
import numbers

import jax
import jax.numpy as jnp

from layerlab.errors import ConfigError
from layerlab.layers.base import Layer
from layerlab.layers.convolutional import data_format_of
from layerlab.sweep import check_each

NO_KEY = ("Dropout: key: expected a jax.random key when train=True; received None. "
          "Pass key=jax.random.PRNGKey(0) to apply(), or give the layer a seed=.")
NO_NOISE_SHAPE = ("Dropout: noise_shape: expected None; received {received!r}. "
                  "layerlab drops units independently; leave noise_shape out.")
BAD_SEED = ("Dropout: seed: expected an int or None; received {received!r}. "
            "Pass an int, or leave it out and give fit() a seed.")
BAD_RATE = ("Dropout: rate: expected a float in the range [0, 1); received {received!r}. "
            "Use a rate below 1 (0.0 turns dropout off).")


def _check_rate(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < 1:
        raise ConfigError(BAD_RATE.format(received=v))


class Dropout(Layer):
    """Zeroes each unit with probability `rate` while training; the identity at inference.

    `rate` reaches `apply` through `hparams`, so it may be a traced value: a sweep of rates
    trains in one program. A rate of exactly 0 keeps every unit (uniform draws are >= 0).

    >>> import layerlab
    >>> layerlab.layers.Dropout(0.2)
    Dropout(rate=0.2, seed=None, name='dropout')
    """

    _args = ("rate", "seed")
    _dynamic = ("rate",)

    def __init__(self, rate, seed=None, noise_shape=None, **kwargs):
        if noise_shape is not None:
            raise ConfigError(NO_NOISE_SHAPE.format(received=noise_shape))
        super().__init__(**kwargs)
        self.rate = check_each(rate, _check_rate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ConfigError(BAD_SEED.format(received=seed))
        self.seed = seed

    def noise_per_sample(self, in_shape):
        return tuple(in_shape)

    def draw_noise(self, key, shape, dtype=jnp.float32):
        """Uniform [0, 1) draws for `shape` (batches, then samples): a unit is kept where its
        draw is >= rate. The engine draws a chunk of steps at once and passes them to apply()."""
        if key is None and self.seed is None:
            raise ConfigError(NO_KEY)
        if self.seed is not None:
            key = jax.random.fold_in(jax.random.PRNGKey(0) if key is None else key, self.seed)
        return jax.random.uniform(key, shape, dtype)

    def apply(self, params, x, hparams=None, *, key=None, train=False, noise=None):
        rate = (hparams or self.hparams())["rate"]
        if not train or (isinstance(rate, (int, float)) and rate == 0):
            return x
        u = noise if noise is not None else self.draw_noise(key, (x.shape[0],) + self.noise_per_sample(x.shape[1:]),
                                                            x.dtype)
        keep = u >= rate  # P(keep) = 1 - rate; (B, *noise_per_sample) broadcasts over x
        return jnp.where(keep, x / (1 - rate), 0).astype(x.dtype)


NOT_AN_IMAGE = ("{layer}: input shape: expected one sample as (height, width, channels); received "
                "{received!r}. Put it after a Conv2D, or reshape the samples with layers.Reshape.")


class SpatialDropout2D(Dropout):
    """Drops whole channels (feature maps) with probability `rate` while training (Tompson et al.
    2015): one draw per sample and channel, shared by every pixel, as Keras' noise_shape
    (batch, 1, 1, channels). channels_last only.

    >>> import layerlab
    >>> layerlab.layers.SpatialDropout2D(0.1)
    SpatialDropout2D(rate=0.1, data_format='channels_last', seed=None, name='spatial_dropout2d')
    """

    _args = ("rate", "data_format", "seed")

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = data_format_of("SpatialDropout2D", data_format)

    def output_shape_for(self, in_shape):
        if len(in_shape) != 3:
            raise ConfigError(NOT_AN_IMAGE.format(layer=self.label(), received=tuple(in_shape)))
        return tuple(in_shape)

    def noise_per_sample(self, in_shape):
        return (1, 1, self.output_shape_for(in_shape)[-1])
