"""`layerlab.nn`: the activation functions, under the name the article imports (`tf.nn.relu`).

>>> import numpy as np, layerlab
>>> layerlab.nn.relu(np.array([-1.0, 2.0]))
Array([0., 2.], dtype=float32)
"""
from layerlab.activations import (  # noqa: F401  (re-exports)
    elu, exponential, gelu, hard_sigmoid, hard_silu, hard_swish, leaky_relu, linear,
    log_softmax, mish, relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign, swish,
    tanh,
)
