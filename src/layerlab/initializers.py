"""Weight initialisers with Keras' names and formulas (glorot_uniform kernels, zero biases), with
Keras' fans for convolution kernels."""
import jax
import jax.numpy as jnp
import numpy as np

from layerlab.errors import ConfigError


def compute_fans(shape):
    """(fan_in, fan_out) as Keras computes them: a vector counts its length both ways, a matrix
    (in, out) its two axes, and a convolution kernel (kh, kw, in, out) its receptive field times
    the input and output channels."""
    shape = tuple(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(key, shape, dtype=jnp.float32):
    # Glorot & Bengio 2010: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); Keras' Dense default.
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / max(2.0, fan_in + fan_out))
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


def glorot_normal(key, shape, dtype=jnp.float32):
    fan_in, fan_out = compute_fans(shape)
    stddev = np.sqrt(2.0 / max(2.0, fan_in + fan_out))
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def he_uniform(key, shape, dtype=jnp.float32):
    # He et al. 2015: for ReLU units, variance 2 / fan_in.
    limit = np.sqrt(6.0 / max(1.0, compute_fans(shape)[0]))
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


def he_normal(key, shape, dtype=jnp.float32):
    stddev = np.sqrt(2.0 / max(1.0, compute_fans(shape)[0]))
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def lecun_normal(key, shape, dtype=jnp.float32):
    # Klambauer et al. 2017 (SELU): variance 1 / fan_in, truncated at two standard deviations.
    stddev = np.sqrt(1.0 / max(1.0, compute_fans(shape)[0]))
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def zeros(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype)


def ones(key, shape, dtype=jnp.float32):
    del key
    return jnp.ones(shape, dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal, "he_uniform": he_uniform,
                "he_normal": he_normal, "lecun_normal": lecun_normal, "zeros": zeros, "ones": ones}

UNKNOWN_INITIALIZER = ("{argument}: expected one of {valid}; received {received!r}. "
                       "Pass one of those names.")


def check(argument, name):
    if name not in INITIALIZERS:
        raise ConfigError(UNKNOWN_INITIALIZER.format(argument=argument, valid=sorted(INITIALIZERS),
                                                     received=name))
    return name


def get(name):
    return INITIALIZERS[name]


def serialize(identifier):
    """The name a config records: 'he_normal' for 'he_normal' and initializers.he_normal alike
    (None for a function that is not one of INITIALIZERS), as activations.serialize."""
    if isinstance(identifier, str):
        return check("initializer", identifier)
    return next((name for name, fn in INITIALIZERS.items() if fn is identifier), None)
