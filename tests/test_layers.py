"""Layers: the contract table, numeric behaviour, traced hyperparameters, validation, configs."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layerlab
from layerlab import layers, sweep
from layerlab.layers import activation_layers, base, core, regularization


KEY = jax.random.PRNGKey(0)
RNG = np.random.default_rng(0)
# One input for the Dropout tests (one shape, so JAX compiles each op once): 40,000 units in
# [1, 2), none zero of its own.
UNITS = RNG.uniform(1.0, 2.0, size=(100, 400)).astype(np.float32)

# -- the contract table --------------------------------------------------------------------------
# (id, factory, one sample's input shape, output shape, {param: shape}, param count)
CONTRACT = [
    ("flatten_2d", lambda: layers.Flatten(), (28, 28), (784,), {}, 0),
    ("flatten_3d", lambda: layers.Flatten(), (3, 4, 5), (60,), {}, 0),
    ("flatten_flat", lambda: layers.Flatten(), (7,), (7,), {}, 0),
    ("dense_hidden", lambda: layers.Dense(128, activation="relu"), (784,), (128,),
     {"kernel": (784, 128), "bias": (128,)}, 100480),
    ("dense_output", lambda: layers.Dense(10, activation="softmax"), (128,), (10,),
     {"kernel": (128, 10), "bias": (10,)}, 1290),
    ("dense_no_bias", lambda: layers.Dense(5, use_bias=False), (7,), (5,), {"kernel": (7, 5)}, 35),
    ("dense_last_axis", lambda: layers.Dense(4, activation=layerlab.nn.tanh), (3, 6), (3, 4),
     {"kernel": (6, 4), "bias": (4,)}, 28),
    ("dropout", lambda: layers.Dropout(0.2), (128,), (128,), {}, 0),
    ("dropout_seeded_2d", lambda: layers.Dropout(0.5, seed=1), (4, 6), (4, 6), {}, 0),
    ("activation", lambda: layers.Activation("relu"), (5,), (5,), {}, 0),
    ("activation_softmax_2d", lambda: layers.Activation(layerlab.nn.softmax), (2, 5), (2, 5), {}, 0),
    ("leaky_relu", lambda: layers.LeakyReLU(), (5,), (5,), {}, 0),
    ("leaky_relu_slope", lambda: layers.LeakyReLU(negative_slope=0.1), (2, 3), (2, 3), {}, 0),
    ("prelu", lambda: layers.PReLU(), (5,), (5,), {"alpha": (5,)}, 5),
    ("prelu_2d", lambda: layers.PReLU(), (4, 6), (4, 6), {"alpha": (4, 6)}, 24),
    ("prelu_shared_1", lambda: layers.PReLU(shared_axes=[1]), (4, 6), (4, 6), {"alpha": (1, 6)}, 6),
    ("prelu_shared_int", lambda: layers.PReLU(shared_axes=2), (4, 6), (4, 6), {"alpha": (4, 1)}, 4),
    ("prelu_shared_all", lambda: layers.PReLU(shared_axes=(1, 2)), (4, 6), (4, 6), {"alpha": (1, 1)}, 1),
    ("input", lambda: layers.Input(shape=(28, 28)), (28, 28), (28, 28), {}, 0),
    ("input_image", lambda: layers.Input(shape=(28, 28, 1)), (28, 28, 1), (28, 28, 1), {}, 0),
    ("reshape", lambda: layers.Reshape((28, 28, 1)), (28, 28), (28, 28, 1), {}, 0),
    ("reshape_minus_one", lambda: layers.Reshape((-1, 2)), (3, 4), (6, 2), {}, 0),
    ("conv2d", lambda: layers.Conv2D(32, 3, activation="relu"), (28, 28, 1), (26, 26, 32),
     {"kernel": (3, 3, 1, 32), "bias": (32,)}, 320),
    ("conv2d_same_strides", lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same"), (7, 5, 3), (4, 3, 4),
     {"kernel": (3, 2, 3, 4), "bias": (4,)}, 76),
    ("conv2d_dilated_no_bias", lambda: layers.Conv2D(2, 3, dilation_rate=2, use_bias=False), (9, 8, 2), (5, 4, 2),
     {"kernel": (3, 3, 2, 2)}, 36),
    ("max_pooling2d", lambda: layers.MaxPooling2D(2), (26, 26, 32), (13, 13, 32), {}, 0),
    ("max_pooling2d_odd", lambda: layers.MaxPooling2D(2), (11, 11, 3), (5, 5, 3), {}, 0),
    ("max_pooling2d_same", lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (7, 6, 2), (4, 3, 2), {}, 0),
    ("average_pooling2d", lambda: layers.AveragePooling2D(), (5, 4, 2), (2, 2, 2), {}, 0),
    ("average_pooling2d_same", lambda: layers.AveragePooling2D(2, padding="same"), (5, 3, 2), (3, 2, 2), {}, 0),
    ("global_average_pooling2d", lambda: layers.GlobalAveragePooling2D(), (5, 4, 3), (3,), {}, 0),
    ("global_max_pooling2d_keepdims", lambda: layers.GlobalMaxPooling2D(keepdims=True), (5, 4, 3), (1, 1, 3),
     {}, 0),
    ("batch_normalization", lambda: layers.BatchNormalization(), (6, 5, 4), (6, 5, 4),
     {"gamma": (4,), "beta": (4,), "moving_mean": (4,), "moving_variance": (4,)}, 16),
    ("batch_normalization_dense", lambda: layers.BatchNormalization(center=False), (7,), (7,),
     {"gamma": (7,), "moving_mean": (7,), "moving_variance": (7,)}, 21),
    ("batch_normalization_axis_1", lambda: layers.BatchNormalization(axis=1, scale=False), (3, 5), (3, 5),
     {"beta": (3,), "moving_mean": (3,), "moving_variance": (3,)}, 9),
    ("spatial_dropout2d", lambda: layers.SpatialDropout2D(0.3), (4, 4, 3), (4, 4, 3), {}, 0),
]


@pytest.mark.parametrize("factory, in_shape, out_shape, param_shapes, count",
                         [c[1:] for c in CONTRACT], ids=[c[0] for c in CONTRACT])
def test_layer_contract(factory, in_shape, out_shape, param_shapes, count):
    layer = factory()
    # shapes without the batch axis
    assert layer.output_shape_for(in_shape) == out_shape
    params, init_out = layer.init(KEY, in_shape)
    assert init_out == out_shape
    assert {k: tuple(v.shape) for k, v in params.items()} == param_shapes
    assert all(v.dtype == jnp.float32 for v in params.values())
    assert layer.param_count(in_shape) == count == sum(math.prod(s) for s in param_shapes.values())
    # apply on a batch of 3, in training and at inference
    x = RNG.normal(size=(3,) + in_shape).astype(np.float32)
    for train in (False, True):
        y = layer.apply(params, x, layer.hparams(), key=jax.random.PRNGKey(2), train=train)
        assert y.shape == (3,) + out_shape
        assert np.all(np.isfinite(np.asarray(y)))
    # config round trip through JSON: same class, config, repr, and outputs
    config = layer.get_config()
    text = json.dumps(config)
    rebuilt = type(layer).from_config(json.loads(text))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert json.dumps(rebuilt.get_config()) == text
    assert repr(rebuilt) == repr(layer)
    assert rebuilt.name == layer.name
    np.testing.assert_array_equal(np.asarray(rebuilt.apply(params, x, rebuilt.hparams(), train=False)),
                                  np.asarray(layer.apply(params, x, layer.hparams(), train=False)))
    assert layers.LAYERS[type(layer).__name__] is type(layer)


def test_contract_table_covers_every_layer_class():
    assert {type(c[1]()).__name__ for c in CONTRACT} == set(layers.LAYERS)


# -- repr ----------------------------------------------------------------------------------------
def test_repr_shows_the_spec_and_evaluates_back():
    namespace = {**{name: getattr(layers, name) for name in layers.__all__}, "sweep": sweep}
    specimens = [
        layers.Dense(128, activation=layerlab.nn.relu, input_shape=(784,)),
        layers.Dropout(sweep([0.0, 0.2, 0.4]), seed=3),
        layers.LeakyReLU(alpha=0.1),
        layers.PReLU(shared_axes=[1]),
        layers.Flatten(input_shape=(28, 28)),
        layers.Input(shape=(28, 28)),
        layers.Activation("softmax"),
    ]
    assert repr(specimens[0]) == ("Dense(units=128, activation='relu', use_bias=True, "
                                  "kernel_initializer='glorot_uniform', bias_initializer='zeros', "
                                  "input_shape=(784,), name='dense')")
    assert repr(specimens[1]) == "Dropout(rate=sweep([0.0, 0.2, 0.4]), seed=3, name='dropout')"
    assert repr(specimens[2]) == "LeakyReLU(negative_slope=0.1, name='leaky_re_lu')"
    for layer in specimens:
        assert eval(repr(layer), namespace).get_config() == layer.get_config(), repr(layer)


# -- Dense and Flatten ---------------------------------------------------------------------------
def test_dense_computes_activation_of_x_kernel_plus_bias():
    layer = layers.Dense(3, activation="relu")
    kernel = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0]], np.float32)
    bias = np.array([0.5, 0.0, -0.25], np.float32)
    x = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    y = layer.apply({"kernel": kernel, "bias": bias}, x)
    np.testing.assert_allclose(np.asarray(y), np.maximum(x @ kernel + bias, 0), rtol=1e-6)
    # activate=False leaves the activation out (the loss folds softmax/sigmoid in)
    y_lin = layer.apply({"kernel": kernel, "bias": bias}, x, activate=False)
    np.testing.assert_allclose(np.asarray(y_lin), x @ kernel + bias, rtol=1e-6)


def test_dense_init_is_glorot_uniform_kernel_and_zero_bias():
    params, _ = layers.Dense(128).init(KEY, (784,))
    limit = math.sqrt(6 / (784 + 128))
    kernel = np.asarray(params["kernel"])
    assert np.all(np.abs(kernel) <= limit) and np.max(np.abs(kernel)) > 0.9 * limit
    assert abs(kernel.std() - limit / math.sqrt(3)) < 0.01 * limit
    np.testing.assert_array_equal(np.asarray(params["bias"]), np.zeros(128))


def test_init_is_pure_in_the_key():
    layer = layers.Dense(4)
    a, _ = layer.init(KEY, (3,))
    b, _ = layer.init(KEY, (3,))
    c, _ = layer.init(jax.random.PRNGKey(9), (3,))
    np.testing.assert_array_equal(np.asarray(a["kernel"]), np.asarray(b["kernel"]))
    assert not np.array_equal(np.asarray(a["kernel"]), np.asarray(c["kernel"]))


def test_flatten_keeps_row_major_order():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(np.asarray(layers.Flatten().apply({}, x)), x.reshape(2, 12))


def test_input_layer_is_the_identity():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    layer = layers.Input(shape=(2, 3))
    assert isinstance(layer, layers.InputLayer) and layer.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x)), x)


# -- Dropout -------------------------------------------------------------------------------------
def test_dropout_is_the_identity_at_inference():
    x = UNITS
    y = layers.Dropout(0.5).apply({}, x, key=jax.random.PRNGKey(1), train=False)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


@pytest.mark.parametrize("rate", [0, 0.0, jnp.float32(0.0)])
def test_dropout_rate_zero_is_exactly_the_identity_in_training(rate):
    x = UNITS
    y = layers.Dropout(0.5).apply({}, x, {"rate": rate}, key=jax.random.PRNGKey(1), train=True)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    y = jax.jit(lambda r: layers.Dropout(0.0).apply({}, x, {"rate": r}, key=KEY, train=True))(rate)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_is_inverted_and_drops_about_rate(rate):
    x = UNITS
    y = np.asarray(layers.Dropout(rate).apply({}, x, key=jax.random.PRNGKey(1), train=True))
    kept = y != 0
    # kept units are scaled by 1 / (1 - rate), dropped ones are exactly 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    assert abs((1 - kept.mean()) - rate) < 0.012          # 40,000 units: std <= 0.0025
    assert abs(y.mean() / x.mean() - 1) < 0.03            # expectation preserved


def test_dropout_mask_depends_on_key_and_seed_only():
    x = UNITS
    layer = layers.Dropout(0.5)
    a = layer.apply({}, x, key=jax.random.PRNGKey(1), train=True)
    b = layer.apply({}, x, key=jax.random.PRNGKey(1), train=True)
    c = layer.apply({}, x, key=jax.random.PRNGKey(2), train=True)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    s1 = layers.Dropout(0.5, seed=1).apply({}, x, key=jax.random.PRNGKey(1), train=True)
    s2 = layers.Dropout(0.5, seed=2).apply({}, x, key=jax.random.PRNGKey(1), train=True)
    assert not np.array_equal(np.asarray(s1), np.asarray(s2))
    # a seeded layer needs no key; the mask is then fixed by the seed
    np.testing.assert_array_equal(np.asarray(layers.Dropout(0.5, seed=1).apply({}, x, train=True)),
                                  np.asarray(layers.Dropout(0.5, seed=1).apply({}, x, train=True)))


def test_dropout_in_training_without_key_or_seed_is_a_clear_error(config_error):
    config_error(regularization.NO_KEY, layers.Dropout(0.5).apply, {}, jnp.ones((2, 3)), train=True,
                 mentions=("key", "None"))


def test_dropout_rate_can_be_vmapped_through_hparams():
    x = UNITS
    layer = layers.Dropout(0.5)
    rates = jnp.array([0.0, 0.2, 0.5, 0.8])
    y = jax.vmap(lambda r: layer.apply({}, x, {"rate": r}, key=jax.random.PRNGKey(1), train=True))(rates)
    y = np.asarray(y)
    assert y.shape == (4, 100, 400)
    np.testing.assert_array_equal(y[0], x)                    # the rate-0 variant keeps everything
    for i, rate in enumerate(np.asarray(rates)):
        kept = y[i] != 0
        assert abs((1 - kept.mean()) - rate) < 0.012
        np.testing.assert_allclose(y[i][kept], x[kept] / (1 - rate), rtol=1e-6)
    assert layer.rate == 0.5                                   # apply never writes to the layer


def test_dropout_rate_is_traced_under_jit_without_recompiling():
    traces = []
    layer = layers.Dropout(0.5)

    @jax.jit
    def run(rate, x):
        traces.append(1)
        return layer.apply({}, x, {"rate": rate}, key=KEY, train=True)

    fractions = [float(np.mean(np.asarray(run(jnp.float32(r), UNITS)) == 0)) for r in (0.1, 0.6)]
    assert len(traces) == 1
    assert abs(fractions[0] - 0.1) < 0.012 and abs(fractions[1] - 0.6) < 0.012


def test_dropout_hparams_and_sweeps():
    assert layers.Dropout(0.2).hparams() == {"rate": 0.2}
    swept = layers.Dropout(sweep([0.0, 0.2]))
    assert swept.sweeps() == {"rate": sweep([0.0, 0.2])}
    assert swept.with_values({"rate": 0.2}).rate == 0.2
    assert swept.with_values({"rate": 0.2}).name == swept.name


# -- LeakyReLU and PReLU -------------------------------------------------------------------------
def test_leaky_relu_layer_default_slope_is_keras_0_3():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)
    np.testing.assert_allclose(np.asarray(layers.LeakyReLU().apply({}, x)), [[-0.6, -0.15, 0.0, 1.5]], rtol=1e-6)
    assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1   # tf.keras 2's name
    assert layers.LeakyReLU().hparams() == {"negative_slope": 0.3}


def test_leaky_relu_slope_can_be_vmapped_and_jitted():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)
    layer = layers.LeakyReLU()
    traces = []

    @jax.jit
    def run(slopes):
        traces.append(1)
        return jax.vmap(lambda s: layer.apply({}, x, {"negative_slope": s}))(slopes)

    slopes = np.array([0.0, 0.1, 0.3], np.float32)
    expected = np.where(x >= 0, x, slopes[:, None, None] * x)
    np.testing.assert_allclose(np.asarray(run(jnp.asarray(slopes))), expected, rtol=1e-6)
    run(jnp.asarray(slopes + 0.05))
    assert len(traces) == 1


def test_prelu_starts_as_relu_and_uses_one_alpha_per_unit():
    layer = layers.PReLU()
    params, _ = layer.init(KEY, (3,))
    x = np.array([[-1.0, -2.0, 3.0], [2.0, -4.0, -1.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(layer.apply(params, x)), np.maximum(x, 0))
    alpha = np.array([0.1, 0.2, 0.3], np.float32)
    np.testing.assert_allclose(np.asarray(layer.apply({"alpha": alpha}, x)), np.where(x >= 0, x, alpha * x), rtol=1e-6)


def test_prelu_shared_axes_broadcast_alpha():
    layer = layers.PReLU(shared_axes=[1])
    params, _ = layer.init(KEY, (2, 3))
    alpha = np.array([[0.1, 0.2, 0.3]], np.float32)                      # (1, 3)
    x = -jnp.ones((4, 2, 3))
    assert params["alpha"].shape == alpha.shape
    y = layer.apply({"alpha": jnp.asarray(alpha)}, x)          # JAX arrays: no implicit rank promotion
    np.testing.assert_allclose(np.asarray(y), np.broadcast_to(-alpha, x.shape), rtol=1e-6)


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [1.0, 1, -0.1, 1.5, "0.5", True, None, float("nan")])
def test_dropout_rejects_rates_outside_0_1(config_error, rate):
    config_error(regularization.BAD_RATE, layers.Dropout, rate, mentions=("rate", repr(rate)))


@pytest.mark.parametrize("rate", [0, 0.0, 0.2, 0.999, np.float32(0.5)])
def test_dropout_accepts_rates_in_0_1(rate):
    assert layers.Dropout(rate).rate == rate


def test_dropout_rejects_an_invalid_value_inside_a_sweep(config_error):
    config_error(regularization.BAD_RATE, layers.Dropout, sweep([0.2, 1.0]), mentions=("rate", "1.0"))


@pytest.mark.parametrize("units", [0, -3, 2.5, "128", True, None])
def test_dense_rejects_units_that_are_not_positive_ints(config_error, units):
    config_error(core.BAD_UNITS, layers.Dense, units, mentions=("units", repr(units)))


def test_dense_rejects_bad_units_inside_a_sweep(config_error):
    config_error(core.BAD_UNITS, layers.Dense, sweep([64, 0]), mentions=("units", "0"))


@pytest.mark.parametrize("slope", [-0.1, "0.3", True])
def test_leaky_relu_rejects_bad_slopes(config_error, slope):
    config_error(activation_layers.BAD_SLOPE, layers.LeakyReLU, slope, mentions=("negative_slope", repr(slope)))


@pytest.mark.parametrize("axes", [0, [0], [1.5], "1", [True]])
def test_prelu_rejects_shared_axes_that_are_not_sample_axes(config_error, axes):
    config_error(activation_layers.SHARED_AXES_NOT_INTS, layers.PReLU, shared_axes=axes,
                 mentions=("shared_axes",))


def test_prelu_rejects_shared_axes_beyond_the_input_rank(config_error):
    layer = layers.PReLU(shared_axes=[3])
    config_error(activation_layers.BAD_SHARED_AXES, layer.param_count, (4, 6),
                 mentions=("shared_axes", "[3]", "(4, 6)"))
    config_error(activation_layers.BAD_SHARED_AXES, layer.init, KEY, (4, 6), mentions=("shared_axes",))


def test_unknown_initializer_is_rejected(config_error):
    config_error(layerlab.initializers.UNKNOWN_INITIALIZER, layers.Dense, 3, kernel_initializer="glorot",
                 mentions=("kernel_initializer", "'glorot'"))


@pytest.mark.parametrize("shape", [(28, 0), (28, -1), (28.0, 28), "28", (), None])
def test_input_rejects_bad_shapes(config_error, shape):
    config_error(core.BAD_INPUT, layers.Input, shape=shape, mentions=("shape", repr(shape)))


@pytest.mark.parametrize("shape", [(28, 0), (2.5,), "ab", ()])
def test_input_shape_argument_is_validated(config_error, shape):
    config_error(base.BAD_INPUT_SHAPE, layers.Flatten, input_shape=shape, mentions=("input_shape",))


def test_unknown_keyword_and_bad_name_are_rejected(config_error):
    config_error(None, layers.Dense, 3, activaton="relu", mentions=("activaton", "'relu'"))
    config_error(base.BAD_NAME, layers.Dense, 3, name="", mentions=("name", "''"))
    config_error(None, layers.Dropout, 0.2, seed=1.5, mentions=("seed", "1.5"))


def test_input_shape_as_an_int_means_one_axis():
    assert layers.Dense(3, input_shape=4).input_shape == (4,)


# -- configs with sweeps and numpy numbers -------------------------------------------------------
def _json_round_trip(layer):
    return type(layer).from_config(json.loads(json.dumps(layer.get_config())))


def test_sweeps_round_trip_through_json():
    dropout = layers.Dropout(sweep([0.0, 0.2, 0.4]))
    assert dropout.get_config()["rate"] == {"sweep": [0.0, 0.2, 0.4]}
    assert _json_round_trip(dropout).rate == sweep([0.0, 0.2, 0.4])
    dense = layers.Dense(sweep([64, 128]), activation=sweep(["relu", layerlab.nn.tanh]))
    assert dense.get_config()["activation"] == {"sweep": ["relu", "tanh"]}
    again = _json_round_trip(dense)
    assert again.units == sweep([64, 128]) and again.activation == sweep(["relu", "tanh"])
    assert again.sweeps() == {"units": sweep([64, 128]), "activation": sweep(["relu", "tanh"])}
    slope = layers.LeakyReLU(sweep([0.1, 0.3]))
    assert _json_round_trip(slope).negative_slope == sweep([0.1, 0.3])


def test_a_frozen_layer_stays_frozen_through_its_config():
    frozen = layers.Dense(4, trainable=False)
    assert frozen.get_config()["trainable"] is False and not _json_round_trip(frozen).trainable
    assert "trainable" not in layers.Dense(4).get_config() and _json_round_trip(layers.Dense(4)).trainable
    model = layerlab.Sequential([layers.Flatten(input_shape=(2, 2)), layers.Dense(3, trainable=False)])
    again = layerlab.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert [layer.trainable for layer in again.layers] == [True, False]


def test_numpy_numbers_give_json_configs():
    dense = layers.Dense(np.int64(3))
    dropout = layers.Dropout(np.float32(0.25))
    assert json.loads(json.dumps(dense.get_config()))["units"] == 3
    assert json.loads(json.dumps(dropout.get_config()))["rate"] == 0.25
