"""Activation functions against their closed forms in numpy, and by name vs by function.

The references are written out in float64 numpy, independently of jax.nn, with Keras'
definitions where they differ from other libraries: exact (erf) gelu, leaky_relu slope 0.2,
hard_sigmoid = relu6(x + 3) / 6 (Keras 3), selu with the constants of Klambauer et al. 2017.
"""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layerlab
from layerlab import activations, layers

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# Negative, zero and large values, both signs; float32 inputs as the layers see them.
GRID = np.array([-1000.0, -50.0, -20.0, -6.0, -3.0, -2.5, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5,
                 1.0, 2.5, 3.0, 6.0, 7.0, 20.0, 50.0, 1000.0], np.float32)


def _softplus(x):
    return np.logaddexp(x, 0.0)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _relu6(x):
    return np.minimum(np.maximum(x, 0.0), 6.0)


_erf = np.vectorize(math.erf)

REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "softmax": lambda x: np.exp(_log_softmax(x)),
    "log_softmax": _log_softmax,
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "relu6": _relu6,
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_sigmoid": lambda x: _relu6(x + 3.0) / 6.0,
    "hard_silu": lambda x: x * _relu6(x + 3.0) / 6.0,
    "hard_swish": lambda x: x * _relu6(x + 3.0) / 6.0,
    "exponential": np.exp,
    "mish": lambda x: x * np.tanh(_softplus(x)),
}
NAMES = sorted(REFERENCE)
# Names that must exist (the list); the registry may hold more, never fewer.
REQUIRED = {"linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "gelu", "swish", "silu",
            "leaky_relu", "relu6", "softplus", "softsign", "hard_sigmoid", "exponential", "mish",
            "log_softmax"}


def _grid_for(name):
    # exp overflows float32 past ~88; the large negative end is still tested.
    return GRID[GRID <= 50] if name == "exponential" else GRID


def test_registry_holds_every_required_name_and_nothing_untested():
    assert REQUIRED <= set(activations.ACTIVATIONS)
    assert set(activations.ACTIVATIONS) == set(REFERENCE)


@pytest.mark.parametrize("module", [layerlab.nn, layerlab.activations], ids=["nn", "activations"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_closed_form(module, name):
    x = _grid_for(name)
    expected = REFERENCE[name](x.astype(np.float64))
    for given in (x, jnp.asarray(x)):          # numpy and JAX arrays alike
        got = np.asarray(getattr(module, name)(given))
        assert got.shape == x.shape
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_nn_and_activations_expose_the_same_function_as_the_registry(name):
    assert getattr(layerlab.nn, name) is getattr(layerlab.activations, name)
    assert activations.get(name) is getattr(layerlab.nn, name)


@pytest.mark.parametrize("name", NAMES)
def test_works_on_a_batch_under_jit(name):
    x = np.linspace(-4, 4, 12, dtype=np.float32).reshape(3, 4)
    got = jax.jit(getattr(layerlab.nn, name))(x)
    np.testing.assert_allclose(np.asarray(got), REFERENCE[name](x.astype(np.float64)), rtol=2e-6, atol=1e-7)


def test_softmax_of_the_articles_example():
    y = np.asarray(layerlab.nn.softmax(np.array([2.0, -1, 1, 1])), np.float64)
    np.testing.assert_array_equal(np.round(y, 2), [0.56, 0.03, 0.21, 0.21])
    assert np.sum(y) == pytest.approx(1.0, abs=1e-6)


def test_softmax_normalises_the_last_axis_by_default_and_takes_axis():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(np.sum(np.asarray(layerlab.nn.softmax(x)), axis=-1), [1, 1], rtol=1e-6)
    np.testing.assert_allclose(np.sum(np.asarray(layerlab.nn.softmax(x, axis=0)), axis=0), [1, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layerlab.nn.log_softmax(x, axis=0)),
                               _log_softmax(x.T.astype(np.float64)).T, rtol=1e-6)


def test_keras_defaults_that_differ_from_other_libraries():
    # gelu: exact erf form, not jax.nn.gelu's tanh approximation (they differ by ~1e-4 at 1.5).
    assert float(layerlab.nn.gelu(1.5)) == pytest.approx(0.5 * 1.5 * (1 + math.erf(1.5 / math.sqrt(2))), rel=1e-6)
    assert abs(float(layerlab.nn.gelu(1.5)) - float(jax.nn.gelu(1.5, approximate=True))) > 1e-5
    # leaky_relu: the function's slope is 0.2; the LeakyReLU layer's default is 0.3.
    assert float(layerlab.nn.leaky_relu(-1.0)) == pytest.approx(-0.2)
    assert layers.LeakyReLU().negative_slope == 0.3
    # hard_sigmoid: Keras 3's relu6(x + 3) / 6, not tf.keras 2's clip(0.2 x + 0.5).
    assert float(layerlab.nn.hard_sigmoid(1.0)) == pytest.approx(4 / 6)


def test_no_activation_means_linear():
    assert activations.get(None) is activations.linear
    dense = layers.Dense(3, name="d")
    assert dense.get_config()["activation"] == "linear"
    params, _ = dense.init(jax.random.PRNGKey(0), (4,))
    params["bias"] = jnp.arange(3.0)
    x = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)  # negative values stay negative
    expected = x @ np.asarray(params["kernel"]) + np.arange(3.0)
    np.testing.assert_allclose(np.asarray(dense.apply(params, x)), expected, rtol=1e-5, atol=1e-6)
    assert np.any(expected < 0)


@pytest.mark.parametrize("name", NAMES)
def test_dense_by_name_and_by_function_is_the_same_layer(name):
    by_name = layers.Dense(4, activation=name, name="d")
    by_function = layers.Dense(4, activation=getattr(layerlab.nn, name), name="d")
    assert by_name.get_config() == by_function.get_config()
    assert json.loads(json.dumps(by_name.get_config())) == by_name.get_config()
    assert repr(by_name) == repr(by_function)
    assert by_name.output_activation() == by_function.output_activation()
    params, _ = by_name.init(jax.random.PRNGKey(1), (5,))
    x = np.linspace(-2, 2, 10, dtype=np.float32).reshape(2, 5)
    y_name = np.asarray(by_name.apply(params, x))
    z = x @ np.asarray(params["kernel"])  # bias starts at zero
    np.testing.assert_allclose(y_name, REFERENCE[name](z.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y_name, np.asarray(by_function.apply(params, x)))


@pytest.mark.parametrize("name", NAMES)
def test_activation_layer_applies_the_named_function(name):
    layer = layers.Activation(name)
    x = np.linspace(-5, 5, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(np.asarray(layer.apply({}, x)), REFERENCE[name](x.astype(np.float64)),
                               rtol=2e-6, atol=1e-7)
    assert layers.Activation(getattr(layerlab.nn, name), name=layer.name).get_config() == layer.get_config()


@pytest.mark.parametrize("given, canonical", [
    ("relu", "relu"), (layerlab.nn.relu, "relu"), (jax.nn.relu, "relu"), ("ReLU", "relu"),
    ("softmax", "softmax"), (jax.nn.softmax, "softmax"), (layerlab.nn.softmax, "softmax"),
    ("swish", "silu"), (layerlab.nn.swish, "silu"), ("silu", "silu"),
    ("hard_swish", "hard_silu"), (layerlab.nn.hard_silu, "hard_silu"),
    (None, "linear"), (layerlab.nn.gelu, "gelu"), (jax.nn.gelu, None),  # jax.nn.gelu approximates: not Keras gelu
])
def test_serialize_records_one_name_per_function(given, canonical):
    assert activations.serialize(given) == canonical


def test_custom_function_is_used_but_has_no_config_name():
    def double(x):
        return 2 * x

    layer = layers.Dense(2, activation=double, name="d")
    params, _ = layer.init(jax.random.PRNGKey(0), (3,))
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(np.asarray(layer.apply(params, x)), 2 * x @ np.asarray(params["kernel"]), rtol=1e-6)
    assert activations.serialize(double) is None
    assert activations.name_of(double) == "double"
    with pytest.raises(layerlab.ConfigError, match="JSON"):
        layer.get_config()


@pytest.mark.parametrize("typo, suggestion", [("rellu", "relu"), ("sigmod", "sigmoid"), ("softmx", "softmax"),
                                              ("leakyrelu", "leaky_relu")])
def test_unknown_name_lists_valid_ones_and_suggests_the_closest(config_error, typo, suggestion):
    for make in (lambda: layers.Dense(3, activation=typo), lambda: layers.Activation(typo),
                 lambda: activations.get(typo)):
        message = config_error(activations.UNKNOWN_ACTIVATION, make,
                               mentions=("activation", repr(typo), f"Did you mean {suggestion!r}?"))
        assert all(name in message for name in REQUIRED)


def test_not_a_name_or_function_is_rejected(config_error):
    config_error(activations.UNKNOWN_ACTIVATION, layers.Dense, 3, activation=3, mentions=("activation", "received 3"))
