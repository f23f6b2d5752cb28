"""`layerlab.math`: the element-wise functions of `tf.math` that layerlab's users reach for
(the article plots `tf.math.sigmoid`), over numpy or JAX arrays, returning JAX arrays.

>>> import numpy as np, layerlab
>>> layerlab.math.sigmoid(np.array([0.0]))
Array([0.5], dtype=float32)
"""
import jax.numpy as jnp

from layerlab.activations import relu, sigmoid, softmax, softplus, softsign, tanh  # noqa: F401  (re-exports)

exp = jnp.exp
log = jnp.log
sqrt = jnp.sqrt
square = jnp.square
abs = jnp.abs  # tf.math's name
maximum = jnp.maximum
minimum = jnp.minimum
argmax = jnp.argmax
argmin = jnp.argmin


def reduce_sum(x, axis=None, keepdims=False):
    return jnp.sum(x, axis=axis, keepdims=keepdims)


def reduce_mean(x, axis=None, keepdims=False):
    return jnp.mean(x, axis=axis, keepdims=keepdims)


def reduce_max(x, axis=None, keepdims=False):
    return jnp.max(x, axis=axis, keepdims=keepdims)


def reduce_min(x, axis=None, keepdims=False):
    return jnp.min(x, axis=axis, keepdims=keepdims)
