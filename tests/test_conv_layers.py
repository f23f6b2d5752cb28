"""Conv2D, pooling, Reshape, BatchNormalization and SpatialDropout2D: forward passes against
independent references (jax.lax.conv_general_dilated, numpy loops), gradients against finite
differences, BatchNormalization against Keras' formulas, Keras' summary rows, and bad input as
one line at construction or at summary()."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layerlab
from layerlab import layers
from layerlab.layers import convolutional, normalization, reshaping
from layerlab.layers import regularization

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# -- Conv2D against jax.lax.conv_general_dilated ----------------------------------------------------
def _lax_same_pads(size, extent, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("in_shape, kernel_size, strides, padding, dilation", [
    ((7, 5, 3), (3, 3), (1, 1), "valid", (1, 1)),
    ((7, 5, 3), (3, 2), (2, 2), "same", (1, 1)),
    ((8, 7, 2), (2, 3), (2, 1), "valid", (1, 1)),
    ((9, 8, 2), (3, 3), (1, 1), "valid", (2, 2)),
    ((9, 6, 1), (3, 2), (1, 1), "same", (2, 3)),
    ((6, 6, 4), (1, 1), (3, 3), "same", (1, 1)),
])
def test_conv2d_equals_lax_conv_general_dilated(in_shape, kernel_size, strides, padding, dilation):
    layer = layers.Conv2D(5, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                          activation="tanh")
    params, out_shape = layer.init(jax.random.PRNGKey(1), in_shape)
    params["bias"] = jnp.asarray(_x(5))
    x = _x(3, *in_shape)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    pads = ([_lax_same_pads(n, e, s) for n, e, s in zip(in_shape[:2], extent, strides)] if padding == "same"
            else [(0, 0), (0, 0)])
    ref = jax.lax.conv_general_dilated(x, params["kernel"], strides, pads, rhs_dilation=dilation,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                       precision=jax.lax.Precision.HIGHEST)
    ref = np.tanh(np.asarray(ref) + np.asarray(params["bias"]))
    y = np.asarray(layer.apply(params, x))
    assert y.shape == (3,) + out_shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_conv2d_kernel_initializers_use_keras_fans():
    # Keras: fan_in = kh*kw*in, fan_out = kh*kw*out for a conv kernel (3, 3, 4, 8).
    assert layerlab.initializers.compute_fans((3, 3, 4, 8)) == (36, 72)
    assert layerlab.initializers.compute_fans((7, 5)) == (7, 5)
    kernel = layers.Conv2D(8, 3).init(jax.random.PRNGKey(0), (10, 10, 4))[0]["kernel"]
    limit = np.sqrt(6 / (36 + 72))
    assert np.abs(np.asarray(kernel)).max() <= limit and np.abs(np.asarray(kernel)).max() > 0.9 * limit
    for name in ("glorot_normal", "he_uniform", "he_normal", "lecun_normal", "ones"):
        k = layers.Conv2D(8, 3, kernel_initializer=name).init(jax.random.PRNGKey(0), (10, 10, 4))[0]["kernel"]
        assert k.shape == (3, 3, 4, 8) and np.all(np.isfinite(np.asarray(k)))
    he = layers.Conv2D(64, 3, kernel_initializer="he_normal").init(jax.random.PRNGKey(0), (10, 10, 16))[0]
    assert np.std(np.asarray(he["kernel"])) == pytest.approx(np.sqrt(2 / 144), rel=0.05)


# -- pooling against numpy loops ----------------------------------------------------------------------
def _pool_reference(x, pool, strides, padding, op):
    """Keras' pooling written as loops: 'same' pads so that out = ceil(n / s), padding ignored."""
    _, h, w, _ = x.shape
    outs, starts = [], []
    for n, p, s in zip((h, w), pool, strides):
        out = -(-n // s) if padding == "same" else (n - p) // s + 1
        before = max((out - 1) * s + p - n, 0) // 2 if padding == "same" else 0
        outs.append(out)
        starts.append([i * s - before for i in range(out)])
    y = np.zeros((x.shape[0], outs[0], outs[1], x.shape[3]), np.float64)
    for i, r in enumerate(starts[0]):
        for j, c in enumerate(starts[1]):
            window = x[:, max(r, 0):min(r + pool[0], h), max(c, 0):min(c + pool[1], w), :]
            y[:, i, j, :] = op(window, axis=(1, 2))
    return y


@pytest.mark.parametrize("cls, op", [(layers.MaxPooling2D, np.max), (layers.AveragePooling2D, np.mean)])
@pytest.mark.parametrize("in_shape, pool, strides, padding", [
    ((6, 6, 2), (2, 2), None, "valid"),
    ((7, 5, 3), (2, 2), None, "valid"),
    ((7, 5, 3), (2, 2), None, "same"),
    ((7, 6, 2), (3, 3), (2, 2), "same"),
    ((8, 7, 1), (3, 2), (1, 2), "valid"),
])
def test_pooling_equals_a_numpy_reference(cls, op, in_shape, pool, strides, padding):
    layer = cls(pool, strides=strides, padding=padding)
    x = _x(2, *in_shape)
    ref = _pool_reference(x, pool, strides or pool, padding, op)
    y = np.asarray(layer.apply({}, x))
    assert y.shape == (2,) + layer.output_shape_for(in_shape) == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_global_pooling_and_reshape_equal_numpy():
    x = _x(3, 5, 4, 2)
    np.testing.assert_allclose(np.asarray(layers.GlobalAveragePooling2D().apply({}, x)), x.mean(axis=(1, 2)),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layers.GlobalMaxPooling2D().apply({}, x)), x.max(axis=(1, 2)))
    kept = layers.GlobalAveragePooling2D(keepdims=True).apply({}, x)
    assert kept.shape == (3, 1, 1, 2)
    np.testing.assert_array_equal(np.asarray(layers.Reshape((-1, 8)).apply({}, x)), x.reshape(3, 5, 8))


# -- gradients against finite differences -------------------------------------------------------------
def _check_grads(f, args):
    """f's gradient against central differences in float64, along random directions."""
    with jax.enable_x64(True):
        args = [jnp.asarray(a, jnp.float64) for a in args]
        grads = jax.grad(f, argnums=tuple(range(len(args))))(*args)
        rng = np.random.default_rng(1)
        for _ in range(3):
            dirs = [jnp.asarray(rng.normal(size=a.shape)) for a in args]
            eps = 1e-6
            plus = f(*[a + eps * d for a, d in zip(args, dirs)])
            minus = f(*[a - eps * d for a, d in zip(args, dirs)])
            numeric = (plus - minus) / (2 * eps)
            analytic = sum(jnp.vdot(g, d) for g, d in zip(grads, dirs))
            np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("layer", [
    layers.Conv2D(3, (3, 2), strides=2, padding="same", activation="tanh"),
    layers.Conv2D(2, 2, dilation_rate=2),
])
def test_conv2d_gradients_equal_finite_differences(layer):
    params, _ = layer.init(jax.random.PRNGKey(0), (7, 6, 2))
    x = _x(2, 7, 6, 2)
    _check_grads(lambda k, b, x: jnp.sum(jnp.sin(layer.apply({"kernel": k, "bias": b}, x))),
                 [params["kernel"], params["bias"] + 0.1, x])


@pytest.mark.parametrize("layer", [layers.MaxPooling2D(2), layers.AveragePooling2D(3, strides=2, padding="same"),
                                   layers.GlobalAveragePooling2D(), layers.GlobalMaxPooling2D()])
def test_pooling_gradients_equal_finite_differences(layer):
    _check_grads(lambda x: jnp.sum(jnp.sin(layer.apply({}, x))), [_x(2, 7, 6, 2)])


def test_batch_normalization_gradients_equal_finite_differences():
    layer = layers.BatchNormalization()
    params, _ = layer.init(jax.random.PRNGKey(0), (4, 3, 2))

    def f(gamma, beta, x):
        return jnp.sum(jnp.sin(layer.apply({**params, "gamma": gamma, "beta": beta}, x, train=True)))
    _check_grads(f, [params["gamma"] + 0.5, params["beta"] + 0.1, _x(3, 4, 3, 2)])


# -- BatchNormalization against Keras' formulas --------------------------------------------------------
def test_batch_normalization_training_and_inference_follow_keras_formulas():
    layer = layers.BatchNormalization(momentum=0.9, epsilon=0.01)
    params, _ = layer.init(jax.random.PRNGKey(0), (4, 3, 2))
    params = {k: jnp.asarray(_x(2)) if k in ("gamma", "beta", "moving_mean") else jnp.asarray(np.abs(_x(2)) + 0.5)
              for k in params}
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = _x(5, 4, 3, 2)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased, as keras.ops.moments
    y, new = layer.apply_with_state(params, x, layer.hparams(), train=True)
    np.testing.assert_allclose(np.asarray(y), (x - mean) / np.sqrt(var + 0.01) * p["gamma"] + p["beta"],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(new["moving_mean"]), p["moving_mean"] * 0.9 + mean * 0.1, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(new["moving_variance"]), p["moving_variance"] * 0.9 + var * 0.1,
                               rtol=1e-5)
    # inference: the moving statistics, and nothing to update
    y, new = layer.apply_with_state(params, x, layer.hparams(), train=False)
    assert new == {}
    ref = (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 0.01) * p["gamma"] + p["beta"]
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-5)
    # a frozen layer runs in inference mode while training (Keras)
    frozen = layers.BatchNormalization(momentum=0.9, epsilon=0.01, trainable=False)
    y_frozen, new = frozen.apply_with_state(params, x, frozen.hparams(), train=True)
    assert new == {}
    np.testing.assert_allclose(np.asarray(y_frozen), ref, rtol=1e-4, atol=1e-5)


def test_batch_normalization_leaves_padding_samples_out_of_its_statistics():
    layer = layers.BatchNormalization(momentum=0.5)
    params, _ = layer.init(jax.random.PRNGKey(0), (3,))
    x = _x(6, 3)
    mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
    y, new = layer.apply_with_state(params, x, layer.hparams(), train=True, mask=mask)
    y_real, new_real = layer.apply_with_state(params, x[:4], layer.hparams(), train=True)
    np.testing.assert_allclose(np.asarray(y)[:4], np.asarray(y_real), rtol=1e-5, atol=1e-6)
    for k in new:
        np.testing.assert_allclose(np.asarray(new[k]), np.asarray(new_real[k]), rtol=1e-5, atol=1e-7)


def test_batch_normalization_momentum_and_epsilon_are_traced():
    layer = layers.BatchNormalization()
    params, _ = layer.init(jax.random.PRNGKey(0), (3,))
    x = _x(8, 3)
    f = jax.vmap(lambda m, e: layer.apply_with_state(params, x, {"momentum": m, "epsilon": e}, train=True)[1])
    out = f(jnp.array([0.9, 0.5]), jnp.array([1e-3, 1e-1]))
    np.testing.assert_allclose(np.asarray(out["moving_mean"][1]), 0.5 * np.asarray(x.mean(0)), rtol=1e-5)


def test_spatial_dropout_drops_whole_channels_and_scales_the_rest():
    layer = layers.SpatialDropout2D(0.5, seed=1)
    x = np.ones((20, 4, 3, 6), np.float32)
    u = layer.draw_noise(jax.random.PRNGKey(0), (20,) + layer.noise_per_sample((4, 3, 6)))
    assert u.shape == (20, 1, 1, 6)
    y = np.asarray(layer.apply({}, x, layer.hparams(), train=True, noise=u))
    per_channel = y.reshape(20, 12, 6)
    assert np.all(per_channel == per_channel[:, :1, :])  # one decision per sample and channel
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.3 < (per_channel[:, 0, :] == 0).mean() < 0.7
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x, layer.hparams(), train=False)), x)


# -- summary rows as Keras prints them ------------------------------------------------------------------
def _rows(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines).splitlines()
    rows = [(line[:29].rstrip(), line[29:55].rstrip(), line[55:].rstrip()) for line in text[4:-5:2]]
    return rows, text[-4:-1]


def test_summary_of_keras_simple_mnist_convnet():
    layerlab.backend.clear_session()
    model = layerlab.Sequential([
        layers.Input(shape=(28, 28, 1)), layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)), layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)), layers.Flatten(), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax")])
    rows, totals = _rows(model)
    assert rows == [
        ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
        ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
        ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18496"),
        ("max_pooling2d_1 (MaxPooling2", "(None, 5, 5, 64)", "0"),
        ("flatten (Flatten)", "(None, 1600)", "0"),
        ("dropout (Dropout)", "(None, 1600)", "0"),
        ("dense (Dense)", "(None, 10)", "16010"),
    ]
    assert totals == ["Total params: 34,826", "Trainable params: 34,826", "Non-trainable params: 0"]
    assert model.count_params() == 34826


def test_summary_of_a_batch_norm_convnet_counts_moving_statistics_as_non_trainable():
    layerlab.backend.clear_session()
    model = layerlab.Sequential([
        layers.Conv2D(32, 3, use_bias=False, input_shape=(28, 28, 1)), layers.BatchNormalization(),
        layers.Activation("relu"), layers.MaxPooling2D(), layers.Conv2D(64, 3, padding="same"),
        layers.BatchNormalization(), layers.SpatialDropout2D(0.1), layers.AveragePooling2D(),
        layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")])
    rows, totals = _rows(model)
    assert rows == [
        ("conv2d (Conv2D)", "(None, 26, 26, 32)", "288"),
        ("batch_normalization (BatchNo", "(None, 26, 26, 32)", "128"),
        ("activation (Activation)", "(None, 26, 26, 32)", "0"),
        ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
        ("conv2d_1 (Conv2D)", "(None, 13, 13, 64)", "18496"),
        ("batch_normalization_1 (Batch", "(None, 13, 13, 64)", "256"),
        ("spatial_dropout2d (SpatialDr", "(None, 13, 13, 64)", "0"),
        ("average_pooling2d (AveragePo", "(None, 6, 6, 64)", "0"),
        ("global_average_pooling2d (Gl", "(None, 64)", "0"),
        ("dense (Dense)", "(None, 10)", "650"),
    ]
    # Keras: BatchNormalization's moving mean and variance are non-trainable (2 x (32 + 64)).
    assert totals == ["Total params: 19,818", "Trainable params: 19,626", "Non-trainable params: 192"]


# -- bad input: one line at construction or at summary() ------------------------------------------------
@pytest.mark.parametrize("template, factory, mentions", [
    (convolutional.BAD_POSITIVE, lambda: layers.Conv2D(0, 3), ("Conv2D", "filters", "0")),
    (convolutional.BAD_PAIR, lambda: layers.Conv2D(8, 3, strides=0), ("strides", "0")),
    (convolutional.BAD_PAIR, lambda: layers.Conv2D(8, (3, 3, 3)), ("kernel_size", "(3, 3, 3)")),
    (convolutional.BAD_PADDING, lambda: layers.Conv2D(8, 3, padding="full"), ("padding", "'full'")),
    (convolutional.BAD_PADDING, lambda: layers.MaxPooling2D(padding="full"), ("MaxPooling2D", "'full'")),
    (convolutional.CHANNELS_FIRST, lambda: layers.Conv2D(8, 3, data_format="channels_first"),
     ("data_format", "'channels_first'")),
    (convolutional.CHANNELS_FIRST, lambda: layers.AveragePooling2D(data_format="channels_first"),
     ("AveragePooling2D",)),
    (convolutional.CHANNELS_FIRST, lambda: layers.GlobalAveragePooling2D(data_format="channels_first"),
     ("GlobalAveragePooling2D",)),
    (convolutional.CHANNELS_FIRST, lambda: layers.SpatialDropout2D(0.1, data_format="channels_first"),
     ("SpatialDropout2D",)),
    (convolutional.STRIDES_AND_DILATION, lambda: layers.Conv2D(8, 3, strides=2, dilation_rate=2), ("strides",)),
    (convolutional.BAD_POSITIVE, lambda: layers.Conv2D(layerlab.sweep([8, -1]), 3), ("-1",)),
    (convolutional.BAD_PAIR, lambda: layers.MaxPooling2D(pool_size=0), ("pool_size", "0")),
    (reshaping.BAD_TARGET, lambda: layers.Reshape((-1, -1)), ("target_shape", "(-1, -1)")),
    (normalization.NOT_AN_AXIS, lambda: layers.BatchNormalization(axis="channels"), ("axis", "'channels'")),
    (normalization.BAD_MOMENTUM, lambda: layers.BatchNormalization(momentum=1.5), ("momentum", "1.5")),
    (normalization.BAD_EPSILON, lambda: layers.BatchNormalization(epsilon=0), ("epsilon", "0")),
    (regularization.BAD_RATE, lambda: layers.SpatialDropout2D(1.0), ("rate", "1.0")),
])
def test_bad_arguments_are_one_line_at_construction(config_error, template, factory, mentions):
    config_error(template, factory, mentions=mentions)


@pytest.mark.parametrize("template, in_shape, layer, mentions", [
    (convolutional.NO_PIXELS, (28, 28, 1), lambda: layers.Conv2D(8, 29), ("kernel_size", "(28, 28)")),
    (convolutional.NO_PIXELS, (5, 5, 1), lambda: layers.Conv2D(8, 3, dilation_rate=3), ("(7, 7)",)),
    (convolutional.NO_PIXELS, (1, 1, 4), lambda: layers.MaxPooling2D(2), ("pool_size", "(2, 2)")),
    (reshaping.SIZE_MISMATCH, (28, 28), lambda: layers.Reshape((28, 28, 2)), ("784", "(28, 28, 2)")),
    (reshaping.SIZE_MISMATCH, (28, 28), lambda: layers.Reshape((-1, 5)), ("784",)),
    (normalization.BAD_AXIS, (28, 28, 1), lambda: layers.BatchNormalization(axis=4), ("axis=4",)),
    (normalization.BAD_AXIS, (10,), lambda: layers.BatchNormalization(axis=0), ("axis=0",)),
    (regularization.NOT_AN_IMAGE, (10,), lambda: layers.SpatialDropout2D(0.1), ("(10,)",)),
    (convolutional.NOT_AN_IMAGE, (10,), lambda: layers.GlobalMaxPooling2D(), ("(10,)",)),
])
def test_bad_shapes_are_one_line_at_summary(config_error, template, in_shape, layer, mentions):
    layerlab.backend.clear_session()
    model = layerlab.Sequential([layers.Input(shape=in_shape), layer(), layers.Flatten(), layers.Dense(2)])
    message = config_error(template, model.summary, mentions=mentions)
    assert type(model.layers[0]).__name__ in message and repr(model.layers[0].name) in message


def test_28x28_samples_reaching_conv2d_name_both_fixes(config_error):
    layerlab.backend.clear_session()
    model = layerlab.Sequential([layers.Conv2D(4, 3, input_shape=(28, 28)), layers.Flatten(), layers.Dense(10)])
    config_error(convolutional.NOT_AN_IMAGE, model.summary,
                 mentions=("Conv2D 'conv2d'", "(28, 28)", "layers.Reshape((28, 28, 1))", "x[..., None]"))
    bare = layerlab.Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10, activation="softmax")])
    bare.compile("adam", "sparse_categorical_crossentropy")
    config_error(convolutional.NOT_AN_IMAGE, bare.fit, np.zeros((4, 28, 28), np.float32), np.zeros(4),
                 verbose=0, mentions=("x[..., None]",))


def test_both_fixes_for_28x28_samples_train():
    x, y = _x(16, 28, 28), RNG.integers(0, 10, 16)
    weights = [_x(3, 3, 1, 2) * 0.3, np.zeros(2, np.float32), _x(72, 10) * 0.1, np.zeros(10, np.float32)]
    histories = []
    for first, data in (([layers.Reshape((28, 28, 1), input_shape=(28, 28))], x), ([], x[..., None])):
        layerlab.backend.clear_session()
        model = layerlab.Sequential(first + [layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(4),
                                             layers.Flatten(), layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        model.build((None,) + data.shape[1:])
        model.set_weights(weights)  # the same start (an extra layer changes how the init key is split)
        histories.append(model.fit(data, y, epochs=2, batch_size=8, seed=3, verbose=0).history)
    assert histories[0] == histories[1]
    assert np.isfinite(histories[0]["loss"]).all()


# -- training: sweeps, weights, inference with the moving statistics ----------------------------------
def conv_bn(filters=4, kernel_size=3, padding="valid", pool_size=2, momentum=0.9, epsilon=0.001, rate=0.2,
            spatial=0.1):
    return layerlab.Sequential([
        layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False, input_shape=(8, 8, 1)),
        layers.BatchNormalization(momentum=momentum, epsilon=epsilon), layers.Activation("relu"),
        layers.SpatialDropout2D(spatial), layers.MaxPooling2D(pool_size),
        layers.Flatten(), layers.Dropout(rate), layers.Dense(3, activation="softmax")])


def _compiled(model):
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model


DATA = (_x(60, 8, 8, 1), RNG.integers(0, 3, 60), _x(20, 8, 8, 1), RNG.integers(0, 3, 20))


def test_conv_bn_sweep_equals_single_runs():
    x, y, xv, yv = DATA
    sweep = layerlab.sweep
    layerlab.backend.clear_session()
    model = _compiled(conv_bn(kernel_size=sweep([3, 2]), momentum=sweep([0.9, 0.5]), rate=sweep([0.0, 0.5])))
    # 60 samples in batches of 16: the last batch is padded, and the padding stays out of the statistics
    result = model.fit(x, y, validation_data=(xv, yv), epochs=2, batch_size=16, seed=1, verbose=0)
    assert len(result.variants) == 8
    assert len({id(p) for p in model.compiled.programs.values()}) == 2  # one program per kernel_size
    for i, v in enumerate(result.variants):
        layerlab.backend.clear_session()
        single = _compiled(conv_bn(kernel_size=v["conv2d.kernel_size"], momentum=v["batch_normalization.momentum"],
                                   rate=v["dropout.rate"]))
        history = single.fit(x, y, validation_data=(xv, yv), epochs=2, batch_size=16, seed=1, verbose=0).history
        for k, values in history.items():
            np.testing.assert_allclose(result.histories[i].history[k], values, rtol=1e-5, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("setting", ["filters", "padding", "pool_size", "epsilon", "spatial"])
def test_conv_settings_sweep_in_groups_or_in_one_program(setting):
    x, y, xv, yv = DATA
    values = {"filters": [2, 3], "padding": ["valid", "same"], "pool_size": [2, 3], "epsilon": [1e-3, 0.5],
              "spatial": [0.0, 0.5]}[setting]
    layerlab.backend.clear_session()
    model = _compiled(conv_bn(**{setting: layerlab.sweep(values)}))
    result = model.fit(x, y, validation_data=(xv, yv), epochs=1, batch_size=32, seed=0, verbose=0)
    static = setting in ("filters", "padding", "pool_size")
    assert len(model.compiled.programs) == (2 if static else 1)
    assert np.isfinite(result.metrics["val_loss"]).all()
    assert not np.array_equal(result.metrics["loss"][0], result.metrics["loss"][1])


def _moving_statistics_by_numpy(model, x, epochs, batch_size):
    """Each BatchNormalization's moving (mean, variance) after `epochs` passes over x in order, by
    numpy: batch statistics over (batch, H, W), biased variance, Keras' update; weights fixed."""
    moving = {i: (np.zeros(p["moving_mean"].shape), np.ones(p["moving_variance"].shape))
              for i, (layer, p) in enumerate(zip(model.layers, model.params))
              if isinstance(layer, layers.BatchNormalization)}
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):  # the last batch is the partial one, unpadded
            a = x[start:start + batch_size].astype(np.float64)
            for i, (layer, p) in enumerate(zip(model.layers, model.params)):
                if i not in moving:
                    a = np.asarray(layer.apply(p, jnp.asarray(a, jnp.float32), train=False), np.float64)
                    continue
                mean, var, m = a.mean((0, 1, 2)), a.var((0, 1, 2)), layer.momentum
                moving[i] = (moving[i][0] * m + mean * (1 - m), moving[i][1] * m + var * (1 - m))
                a = (a - mean) / np.sqrt(var + layer.epsilon) * np.asarray(p["gamma"]) + np.asarray(p["beta"])
    return moving


@pytest.mark.parametrize("momenta", [(0.9, 0.5), (0.5, 0.8)])
def test_two_batch_norm_layers_move_their_own_statistics_as_numpy_does(momenta):
    # Two BatchNormalization layers, each with its own momentum and width; a learning rate of 1e-30
    # keeps the other weights as they started, so numpy can replay the batches (60 in 16s: the
    # last one padded by the engine, its padding left out) and the moving statistics must agree.
    x = _x(60, 8, 8, 1)
    layerlab.backend.clear_session()
    model = layerlab.Sequential([
        layers.Conv2D(4, 3, use_bias=False, input_shape=(8, 8, 1)), layers.BatchNormalization(momentum=momenta[0]),
        layers.Activation("relu"), layers.Conv2D(6, 3, use_bias=False),
        layers.BatchNormalization(momentum=momenta[1]), layers.Activation("relu"),
        layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(layerlab.optimizers.SGD(learning_rate=1e-30), "sparse_categorical_crossentropy")
    model.fit(x, RNG.integers(0, 3, 60), epochs=2, batch_size=16, shuffle=False, seed=1, verbose=0)
    expected = _moving_statistics_by_numpy(model, x, 2, 16)
    assert sorted(expected) == [1, 4]
    for i, (mean, variance) in expected.items():
        np.testing.assert_allclose(np.asarray(model.params[i]["moving_mean"]), mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.asarray(model.params[i]["moving_variance"]), variance, rtol=1e-4, atol=1e-6)


def test_batch_norm_model_weights_in_keras_order_and_inference_uses_moving_statistics():
    x, y, xv, yv = DATA
    layerlab.backend.clear_session()
    model = _compiled(conv_bn(momentum=0.5))
    history = model.fit(x, y, validation_data=(xv, yv), epochs=2, batch_size=16, seed=0, verbose=0)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 3, 1, 4), (4,), (4,), (4,), (4,), (36, 3), (3,)]
    gamma, beta, moving_mean, moving_variance = weights[1:5]
    assert not np.allclose(moving_mean, 0) and not np.allclose(moving_variance, 1)  # updated while training
    assert np.all(moving_variance > 0)
    loss, _ = model.evaluate(xv, yv)
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    # evaluate at inference reads the moving statistics: changing them changes the loss
    changed = list(weights)
    changed[3] = moving_mean + 1.0
    model.set_weights(changed)
    assert model.evaluate(xv, yv)[0] != pytest.approx(loss, rel=1e-3)
    assert np.array_equal(model.get_weights()[3], changed[3])
    model.set_weights(weights)
    assert model.evaluate(xv, yv)[0] == loss


# -- against Keras itself, where it is installed (a test extra) ------------------------------------------
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("Keras runs on another backend here")
    return keras


def test_output_shapes_and_counts_equal_keras_for_every_image_layer():
    keras = _keras()
    specs = [("Conv2D", dict(filters=5, kernel_size=(3, 2), strides=2, padding="same")),
             ("Conv2D", dict(filters=3, kernel_size=3, dilation_rate=2, use_bias=False)),
             ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")), ("AveragePooling2D", dict(pool_size=2)),
             ("GlobalAveragePooling2D", dict()), ("GlobalMaxPooling2D", dict(keepdims=True)),
             ("BatchNormalization", dict(center=False)), ("SpatialDropout2D", dict(rate=0.2)),
             ("Reshape", dict(target_shape=(-1, 3)))]
    for name, kwargs in specs:
        ours = getattr(layers, name)(**kwargs)
        theirs = getattr(keras.layers, name)(**kwargs)
        model = keras.Sequential([keras.Input((9, 8, 3)), theirs])
        assert ours.output_shape_for((9, 8, 3)) == tuple(model.output_shape[1:]), name
        assert ours.param_count((9, 8, 3)) == theirs.count_params(), name
        assert ours.non_trainable_count((9, 8, 3)) == sum(int(np.prod(w.shape)) for w in theirs.non_trainable_weights)
        assert set(ours.get_config()) - {"name"} <= set(theirs.get_config()), name  # Keras' argument names


def test_batch_normalization_equals_keras_in_training_and_inference():
    keras = _keras()
    x = _x(6, 4, 3, 2)
    theirs = keras.layers.BatchNormalization(momentum=0.8, epsilon=0.01)
    theirs.build(x.shape)
    ours = layers.BatchNormalization(momentum=0.8, epsilon=0.01)
    params = dict(zip(["gamma", "beta", "moving_mean", "moving_variance"],
                      [_x(2), _x(2), _x(2), np.abs(_x(2)) + 0.5]))
    theirs.set_weights([params[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")])
    y_inference = np.asarray(theirs(x, training=False))
    y_training = np.asarray(theirs(x, training=True))
    y, new = ours.apply_with_state({k: jnp.asarray(v) for k, v in params.items()}, x, ours.hparams(), train=True)
    np.testing.assert_allclose(np.asarray(y), y_training, rtol=1e-5, atol=1e-5)
    for k, w in zip(("moving_mean", "moving_variance"), theirs.get_weights()[2:]):
        np.testing.assert_allclose(np.asarray(new[k]), w, rtol=1e-5, atol=1e-6)
    y = ours.apply({k: jnp.asarray(v) for k, v in params.items()}, x, ours.hparams(), train=False)
    np.testing.assert_allclose(np.asarray(y), y_inference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation, same_gradients", [("relu", True), (None, True), ("tanh", False), ("gelu", None)])
def test_a_max_pooling_after_a_conv2d_pools_before_a_non_decreasing_activation(activation, same_gradients):
    """Sequential pools first when the activation never decreases (stack._pool_first): the same
    outputs as activating first, bit for bit; for relu the same gradients too (the bias's up to
    the order of its sum). gelu, which
    decreases below about -0.75, keeps the written order."""
    model = layerlab.Sequential([layers.Input(shape=(9, 9, 2)), layers.Conv2D(3, 3, activation=activation),
                                 layers.MaxPooling2D(2), layers.Flatten()])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 9, 9, 2)), jnp.float32)
    params = model.init(jax.random.PRNGKey(0), (9, 9, 2))
    conv, pool, flat = model.layers

    def written_order(p, x):
        return flat.apply(p[2], pool.apply(p[1], conv.apply(p[0], x)))

    assert (0 in model._pool_first()) == (same_gradients is not None)
    np.testing.assert_array_equal(model.apply(params, x), written_order(params, x))
    if same_gradients:
        def gradient(f):
            return jax.grad(lambda p: jnp.sum(jnp.sin(f(p, x))))(params)
        grads = [gradient(model.apply), gradient(written_order)]
        np.testing.assert_array_equal(grads[0][0]["kernel"], grads[1][0]["kernel"])
        # The bias is added after the pooling: its gradient sums the pooled cells, not all of
        # them with zeros between, so only the order of the additions differs.
        np.testing.assert_allclose(grads[0][0]["bias"], grads[1][0]["bias"], rtol=1e-6)
