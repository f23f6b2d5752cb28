"""Activation functions by Keras name, as plain functions over numpy or JAX arrays.

Every function is jax.nn's where jax.nn has it; only the Keras defaults are bound here
(Keras' gelu is the exact erf form, its `leaky_relu` string uses slope 0.2).

>>> import numpy as np, layerlab
>>> np.round(layerlab.activations.softmax(np.array([2., -1, 1, 1])), 2)
array([0.56, 0.03, 0.21, 0.21], dtype=float32)
"""
import difflib
import functools

import jax
import jax.numpy as jnp

from layerlab.errors import ConfigError


def linear(x):
    """The identity: what a layer without `activation=` applies."""
    return jnp.asarray(x)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def gelu(x, approximate=False):
    # Keras defaults to the exact form; jax.nn.gelu defaults to the tanh approximation.
    return jax.nn.gelu(x, approximate=approximate)


def leaky_relu(x, negative_slope=0.2):
    # Keras' activation function uses 0.2; the LeakyReLU *layer* defaults to 0.3, as in Keras.
    return jax.nn.leaky_relu(x, negative_slope=negative_slope)


def exponential(x):
    return jnp.exp(x)


relu = jax.nn.relu
sigmoid = jax.nn.sigmoid
tanh = jnp.tanh
elu = jax.nn.elu
selu = jax.nn.selu
silu = jax.nn.silu
swish = jax.nn.silu
relu6 = jax.nn.relu6
softplus = jax.nn.softplus
softsign = jax.nn.soft_sign
hard_sigmoid = jax.nn.hard_sigmoid  # relu6(x + 3) / 6, Keras 3's definition
hard_silu = jax.nn.hard_silu
hard_swish = jax.nn.hard_silu
mish = jax.nn.mish

# Name -> function. Aliases (swish/silu, hard_swish/hard_silu) map to one function, and the
# first name listed for a function is the one configs record.
ACTIVATIONS = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "softmax": softmax, "tanh": tanh,
    "elu": elu, "selu": selu, "gelu": gelu, "silu": silu, "swish": swish,
    "leaky_relu": leaky_relu, "relu6": relu6, "softplus": softplus, "softsign": softsign,
    "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu, "hard_swish": hard_swish,
    "exponential": exponential, "mish": mish, "log_softmax": log_softmax,
}
_NAME_OF = {}
for _name, _fn in ACTIVATIONS.items():
    _NAME_OF.setdefault(id(_fn), _name)
_NAME_OF[id(jax.nn.softmax)] = "softmax"
_NAME_OF[id(jax.nn.log_softmax)] = "log_softmax"
# Not jax.nn.gelu: it defaults to the tanh approximation, a different function from Keras' gelu.

# Activations that never decrease: max(f(a), f(b)) == f(max(a, b)) exactly, so a max pooling after
# them may pool first and activate a quarter of the cells (layers.stack). Not gelu, silu, mish.
NON_DECREASING = frozenset({"linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu",
                            "leaky_relu", "softplus", "softsign", "exponential"})

UNKNOWN_ACTIVATION = ("activation: expected one of {valid}; received {received!r}.{hint} "
                      "Pass a name from that list or a function such as layerlab.nn.relu.")


def get(identifier):
    """Returns the activation function for a Keras name, a function, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in ACTIVATIONS:
            close = difflib.get_close_matches(key, ACTIVATIONS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(UNKNOWN_ACTIVATION.format(
                valid=", ".join(sorted(ACTIVATIONS)), received=identifier, hint=hint))
        return ACTIVATIONS[key]
    if callable(identifier):
        return identifier
    raise ConfigError(UNKNOWN_ACTIVATION.format(
        valid=", ".join(sorted(ACTIVATIONS)), received=identifier, hint=""))


def serialize(identifier):
    """The name a config records: 'relu' for 'relu', layerlab.nn.relu and jax.nn.relu alike."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        # The canonical name, so 'swish' and layerlab.nn.swish both record 'silu' (as Keras 3).
        return _NAME_OF[id(get(identifier))]
    if isinstance(identifier, functools.partial):
        return None
    return _NAME_OF.get(id(identifier))


def name_of(identifier):
    """A display name for any activation, including custom callables."""
    name = serialize(identifier)
    return name if name is not None else getattr(identifier, "__name__", repr(identifier))
