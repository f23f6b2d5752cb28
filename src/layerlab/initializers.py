"""Weight initialisers with Keras' names and formulas (glorot_uniform kernels, zero biases)."""
import jax
import jax.numpy as jnp
import numpy as np

from layerlab.errors import ConfigError


def glorot_uniform(key, shape, dtype=jnp.float32):
    # Glorot & Bengio 2010: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); Keras' Dense default.
    fan_in, fan_out = np.prod(shape[:-1]), shape[-1]
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


def glorot_normal(key, shape, dtype=jnp.float32):
    fan_in, fan_out = np.prod(shape[:-1]), shape[-1]
    stddev = np.sqrt(2.0 / (fan_in + fan_out))
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def he_uniform(key, shape, dtype=jnp.float32):
    limit = np.sqrt(6.0 / np.prod(shape[:-1]))
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


def he_normal(key, shape, dtype=jnp.float32):
    stddev = np.sqrt(2.0 / np.prod(shape[:-1]))
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def zeros(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype)


def ones(key, shape, dtype=jnp.float32):
    del key
    return jnp.ones(shape, dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
                "he_uniform": he_uniform, "he_normal": he_normal, "zeros": zeros, "ones": ones}

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
