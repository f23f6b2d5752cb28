"""layerlab.nn's image operations (im2col and Winograd convolutions, a convolution pooled as it
is computed, reshape pooling) against jax.lax's own convolution and reduce_window, which compute
the same thing another way: valid/same padding, strides, dilation, odd sizes, gradients (against
lax and against finite differences), and under jax.vmap over a batched kernel with a shared
input, as the engine trains variants.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from layerlab import nn
from layerlab.errors import ConfigError

DIMS = ("NHWC", "HWIO", "NHWC")


def _reference_conv(x, kernel, strides, padding, dilation):
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=strides, padding=padding.upper(), rhs_dilation=dilation,
        dimension_numbers=DIMS, precision=jax.lax.Precision.HIGHEST)


def _reference_pool(x, kind, window, strides, padding):
    dims, steps = (1, *window, 1), (1, *strides, 1)
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, padding.upper())
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, padding.upper())
    count = jax.lax.reduce_window(jnp.ones_like(x), 0.0, jax.lax.add, dims, steps, padding.upper())
    return total / count


def _data(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# (input H, W, C), (kernel h, w), out, strides, padding, dilation
CONV_CASES = [
    ((28, 28, 1), (3, 3), 32, (1, 1), "valid", (1, 1)),    # Keras' convnet, first layer
    ((13, 13, 32), (3, 3), 8, (1, 1), "valid", (1, 1)),    # its second layer (odd size)
    ((7, 9, 3), (3, 3), 4, (1, 1), "same", (1, 1)),
    ((7, 9, 3), (2, 4), 4, (1, 1), "same", (1, 1)),        # even kernel: 'same' pads more after
    ((11, 8, 2), (3, 2), 5, (2, 3), "valid", (1, 1)),
    ((11, 8, 2), (3, 3), 5, (2, 2), "same", (1, 1)),
    ((10, 12, 2), (3, 3), 3, (1, 1), "valid", (2, 3)),
    ((10, 12, 2), (3, 2), 3, (1, 1), "same", (2, 2)),
    ((9, 9, 2), (3, 3), 3, (2, 2), "same", (2, 2)),
    ((5, 6, 3), (1, 1), 2, (1, 1), "valid", (1, 1)),
    ((4, 4, 2), (4, 4), 2, (1, 1), "valid", (1, 1)),       # kernel as large as the input
]


@pytest.mark.parametrize("spatial, size, out, strides, padding, dilation", CONV_CASES)
def test_conv_equals_lax(spatial, size, out, strides, padding, dilation):
    x, kernel = _data((3, *spatial), 0), _data((*size, spatial[-1], out), 1)
    got = nn.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    want = _reference_conv(x, kernel, strides, padding, dilation)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_takes_ints_for_pairs_and_any_case_of_padding():
    x, kernel = _data((2, 9, 9, 2), 0), _data((3, 3, 2, 4), 1)
    np.testing.assert_array_equal(nn.conv(x, kernel, 2, "SAME", 1),
                                  nn.conv(x, kernel, (2, 2), "same", (1, 1)))


POOL_CASES = [
    ((26, 26, 4), (2, 2), None, "valid"),     # Keras' convnet
    ((11, 11, 4), (2, 2), None, "valid"),     # odd: the last row and column are dropped
    ((11, 11, 4), (2, 2), None, "same"),      # odd: padded after
    ((7, 10, 3), (3, 2), None, "same"),
    ((9, 9, 2), (3, 3), (2, 2), "valid"),     # overlapping windows
    ((9, 8, 2), (3, 3), (2, 1), "same"),
    ((8, 8, 2), (2, 2), (3, 3), "valid"),     # strides larger than the window
    ((6, 6, 2), (1, 1), None, "valid"),
]


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("spatial, window, strides, padding", POOL_CASES)
def test_pooling_equals_lax(kind, spatial, window, strides, padding):
    x = _data((3, *spatial), 2)
    op = nn.max_pool if kind == "max" else nn.average_pool
    got = op(x, window, strides=strides, padding=padding)
    want = _reference_pool(x, kind, window, window if strides is None else strides, padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_same_average_pool_counts_only_the_input_cells():
    out = nn.average_pool(jnp.ones((1, 5, 5, 1)), 2, padding="same")
    np.testing.assert_array_equal(out, np.ones((1, 3, 3, 1)))


def _wide(x):
    """8 channels from 2, so that the convolution runs by Winograd (nn.WINOGRAD_CHANNELS)."""
    return jnp.concatenate([x, 0.5 * x, -x, x[..., ::-1]], axis=-1)


def _wide_kernel(k):
    return jnp.concatenate([k, -k, 0.5 * k, k[:, ::-1]], axis=2)


def _ops():
    return [
        ("winograd", lambda x, k: nn.conv(_wide(x), _wide_kernel(k))),
        ("winograd same", lambda x, k: nn.conv(_wide(x), _wide_kernel(k), padding="same")),
        ("winograd max_pool", lambda x, k: nn.conv_max_pool(_wide(x), _wide_kernel(k))),
        ("winograd max_pool same", lambda x, k: nn.conv_max_pool(_wide(x), _wide_kernel(k), padding="same")),
        ("conv valid", lambda x, k: nn.conv(x, k)),
        ("conv same strided dilated", lambda x, k: nn.conv(x, k, 2, "same", 1)),
        ("conv dilated", lambda x, k: nn.conv(x, k, 1, "valid", 2)),
        ("max_pool", lambda x, k: nn.max_pool(nn.conv(x, k), 2)),
        ("max_pool same overlapping", lambda x, k: nn.max_pool(nn.conv(x, k), 3, 2, "same")),
        ("average_pool same", lambda x, k: nn.average_pool(nn.conv(x, k), 2, padding="same")),
        ("two convs", lambda x, k: nn.conv(nn.conv(x, k[..., :2], padding="same"), k)),
    ]


def _reference_ops():
    def conv(x, k, padding="valid"):
        return _reference_conv(x, k, (1, 1), padding, (1, 1))

    def pool(x):
        return _reference_pool(x, "max", (2, 2), (2, 2), "valid")
    return {
        "winograd": lambda x, k: conv(_wide(x), _wide_kernel(k)),
        "winograd same": lambda x, k: conv(_wide(x), _wide_kernel(k), "same"),
        "winograd max_pool": lambda x, k: pool(conv(_wide(x), _wide_kernel(k))),
        "winograd max_pool same": lambda x, k: pool(conv(_wide(x), _wide_kernel(k), "same")),
        "conv valid": lambda x, k: _reference_conv(x, k, (1, 1), "valid", (1, 1)),
        "conv same strided dilated": lambda x, k: _reference_conv(x, k, (2, 2), "same", (1, 1)),
        "conv dilated": lambda x, k: _reference_conv(x, k, (1, 1), "valid", (2, 2)),
        "max_pool": lambda x, k: _reference_pool(_reference_conv(x, k, (1, 1), "valid", (1, 1)),
                                                 "max", (2, 2), (2, 2), "valid"),
        "max_pool same overlapping": lambda x, k: _reference_pool(
            _reference_conv(x, k, (1, 1), "valid", (1, 1)), "max", (3, 3), (2, 2), "same"),
        "average_pool same": lambda x, k: _reference_pool(
            _reference_conv(x, k, (1, 1), "valid", (1, 1)), "average", (2, 2), (2, 2), "same"),
        "two convs": lambda x, k: _reference_conv(_reference_conv(x, k[..., :2], (1, 1), "same", (1, 1)), k,
                                                  (1, 1), "valid", (1, 1)),
    }


@pytest.mark.parametrize("name, op", _ops())
def test_gradients_equal_lax_and_finite_differences(name, op):
    x, kernel = _data((2, 9, 11, 2), 3), _data((3, 3, 2, 3), 4)
    weights = _data(jax.eval_shape(op, x, kernel).shape, 5)

    def loss(f):
        return lambda x, k: jnp.sum(jnp.sin(f(x, k)) * weights)

    got = jax.grad(loss(op), argnums=(0, 1))(x, kernel)
    want = jax.grad(loss(_reference_ops()[name]), argnums=(0, 1))(x, kernel)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    # A central difference along one random direction of (x, kernel): slope = <grad, direction>.
    # eps is small enough that no window's maximum changes (its two largest cells differ by 0.01
    # at least here), large enough that float32 rounding stays far below the tolerance.
    dx, dk, eps = _data(x.shape, 6), _data(kernel.shape, 7), 1e-4
    f = jax.jit(loss(op))
    slope = (float(f(x + eps * dx, kernel + eps * dk)) - float(f(x - eps * dx, kernel - eps * dk))) / (2 * eps)
    expected = float(jnp.vdot(got[0], dx) + jnp.vdot(got[1], dk))
    assert slope == pytest.approx(expected, rel=2e-2, abs=2e-2)


@pytest.mark.parametrize("name, op", _ops())
def test_vmap_over_kernels_with_a_shared_input(name, op):
    x, kernels = _data((2, 9, 11, 2), 8), _data((4, 3, 3, 2, 3), 9)
    got = jax.jit(jax.vmap(op, in_axes=(None, 0)))(x, kernels)
    want = jnp.stack([_reference_ops()[name](x, k) for k in kernels])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    grads = jax.vmap(jax.grad(lambda x, k: jnp.sum(op(x, k) ** 2), argnums=1), in_axes=(None, 0))(x, kernels)
    want = jnp.stack([jax.grad(lambda k: jnp.sum(_reference_ops()[name](x, k) ** 2))(k) for k in kernels])
    np.testing.assert_allclose(grads, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("call, words", [
    (lambda: nn.conv(jnp.ones((28, 28, 1)), jnp.ones((3, 3, 1, 2))), "shape (28, 28, 1)"),
    (lambda: nn.conv(jnp.ones((1, 8, 8, 3)), jnp.ones((3, 3, 1, 2))), "kernel with shape (3, 3, 1, 2)"),
    (lambda: nn.conv(jnp.ones((1, 8, 8, 1)), jnp.ones((3, 3, 1, 2)), padding="full"), "padding='full'"),
    (lambda: nn.conv(jnp.ones((1, 8, 8, 1)), jnp.ones((3, 3, 1, 2)), strides=0), "strides=0"),
    (lambda: nn.conv(jnp.ones((1, 2, 2, 1)), jnp.ones((3, 3, 1, 2))), "leaves no pixels"),
    (lambda: nn.max_pool(jnp.ones((1, 1, 1, 1)), 2), "leaves no pixels"),
    (lambda: nn.average_pool(jnp.ones((1, 4, 4, 1)), (2, 2, 2)), "pool_size=(2, 2, 2)"),
])
def test_bad_arguments_get_one_line(call, words):
    with pytest.raises(ConfigError, match=None) as caught:
        call()
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("window, padding", [((2, 2), "valid"), ((3, 2), "valid"), ((2, 2), "same")])
def test_max_pool_gradient_goes_to_the_first_maximum_of_a_window_as_lax(window, padding):
    # Ties (a flat region, or zeros after relu): one cell of each window gets the whole gradient,
    # the first in row-major order, as lax.reduce_window's select-and-scatter (and TensorFlow).
    x = jnp.asarray(np.random.default_rng(0).integers(0, 2, (2, 6, 7, 3)), jnp.float32)
    scale = jnp.arange(1.0, 4.0).reshape(1, 1, 1, 3)
    got = jax.grad(lambda x: jnp.sum(nn.max_pool(x, window, padding=padding) * scale))(x)
    want = jax.grad(lambda x: jnp.sum(_reference_pool(x, "max", window, window, padding) * scale))(x)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name, op", _ops())
def test_vmap_over_inputs_and_kernels_and_nested_as_the_engine_does(name, op):
    # Each variant its own input and kernel (a second layer), and the engine's two levels of vmap
    # (streams, then the variants of a stream with a shared batch): values and both gradients.
    xs, kernels = _data((2, 2, 9, 11, 2), 10), _data((2, 3, 3, 3, 2, 3), 11)
    weights = _data((2, 3, *jax.eval_shape(op, xs[0], kernels[0, 0]).shape), 12)
    ref = _reference_ops()[name]

    def loss(f):
        return lambda x, k, w: jnp.sum(jnp.sin(f(x, k)) * w)

    nested = jax.jit(jax.vmap(jax.vmap(jax.value_and_grad(loss(op), argnums=(0, 1)), in_axes=(None, 0, 0))))
    value, (gx, gk) = nested(xs, kernels, weights)
    for s in range(2):
        for r in range(3):
            want, (wx, wk) = jax.value_and_grad(loss(ref), argnums=(0, 1))(xs[s], kernels[s, r], weights[s, r])
            np.testing.assert_allclose(value[s, r], want, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(gx[s, r], wx, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(gk[s, r], wk, rtol=1e-4, atol=1e-3)
    inputs = _data((3, 2, 9, 11, 2), 15)   # one input per variant
    per_variant = jax.jit(jax.vmap(jax.grad(loss(op), argnums=(0, 1))))(inputs, kernels[0], weights[0])
    shared_kernel = jax.jit(jax.vmap(jax.grad(loss(op), argnums=0), in_axes=(0, None, 0)))(inputs, kernels[0, 0], weights[0])
    for r in range(3):
        want = jax.grad(loss(ref), argnums=(0, 1))(inputs[r], kernels[0, r], weights[0, r])
        np.testing.assert_allclose(per_variant[0][r], want[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(per_variant[1][r], want[1], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(shared_kernel[r], jax.grad(loss(ref))(inputs[r], kernels[0, 0], weights[0, r]),
                                   rtol=1e-4, atol=1e-3)


def test_a_shared_input_gets_the_sum_of_the_variants_gradients():
    x, kernels = _data((2, 9, 11, 2), 13), _data((4, 3, 3, 2, 3), 14)

    def total(f):
        return lambda x: jnp.sum(jnp.sin(jax.vmap(f, in_axes=(None, 0))(x, kernels)))

    np.testing.assert_allclose(jax.grad(total(nn.conv))(x), jax.grad(total(_reference_ops()["conv valid"]))(x),
                               rtol=1e-4, atol=1e-4)


# (input H, W), padding: even and odd outputs, a last row and column the pooling leaves out
WINOGRAD_CASES = [((13, 13), "valid"), ((12, 12), "valid"), ((6, 9), "valid"), ((7, 10), "same"), ((4, 4), "valid")]


@pytest.mark.parametrize("spatial, padding", WINOGRAD_CASES)
def test_winograd_convolution_and_its_pooled_tiles_equal_lax(spatial, padding):
    x, kernel = _data((3, *spatial, 8), 20), _data((3, 3, 8, 5), 21)
    assert nn._winograd_fits(kernel, (1, 1), (1, 1)) and not nn._winograd_fits(kernel[:, :, :7], (1, 1), (1, 1))
    want = _reference_conv(x, kernel, (1, 1), padding, (1, 1))
    np.testing.assert_allclose(nn.conv(x, kernel, padding=padding), want, rtol=1e-4, atol=1e-4)
    if min(want.shape[1:3]) >= 2:
        pooled = _reference_pool(want, "max", (2, 2), (2, 2), "valid")
        np.testing.assert_allclose(nn.conv_max_pool(x, kernel, padding=padding), pooled, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv, pool, channels", [
    ({"strides": 2}, {}, 8),                                      # strided: no Winograd
    ({}, {"pool_size": 3}, 8),                                    # 3x3 windows
    ({}, {"pool_size": 2, "pool_strides": 1}, 8),                 # overlapping windows
    ({}, {"pool_padding": "same"}, 8),
    ({"padding": "same"}, {}, 2),                                 # two channels: im2col
])
def test_conv_max_pool_is_max_pool_of_conv_where_it_cannot_pool_the_tiles(conv, pool, channels):
    x, kernel = _data((2, 11, 11, channels), 22), _data((3, 3, channels, 4), 23)
    got = nn.conv_max_pool(x, kernel, **conv, **pool)
    window = pool.get("pool_size", 2)
    want = _reference_pool(_reference_conv(x, kernel, (conv.get("strides", 1),) * 2, conv.get("padding", "valid"), (1, 1)),
                           "max", (window, window), (pool.get("pool_strides", window),) * 2,
                           pool.get("pool_padding", "valid"))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_pooled_winograd_gradient_goes_to_the_first_maximum_of_a_window():
    # A zero region gives ties (every output of the tile is 0): lax's select-and-scatter sends
    # each window's gradient to its first cell in row-major order, and so must the pooled tiles.
    x = _data((2, 10, 10, 8), 24) * (jnp.arange(10) < 5)[None, :, None, None]
    kernel, weights = _data((3, 3, 8, 4), 25), _data((2, 4, 4, 4), 26)

    def loss(f):
        return lambda x, k: jnp.sum(f(x, k) * weights)

    got = jax.grad(loss(nn.conv_max_pool), argnums=(0, 1))(x, kernel)
    want = jax.grad(loss(lambda x, k: _reference_pool(_reference_conv(x, k, (1, 1), "valid", (1, 1)),
                                                      "max", (2, 2), (2, 2), "valid")), argnums=(0, 1))(x, kernel)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_conv_max_pool_checks_its_arguments_in_one_line():
    with pytest.raises(ConfigError) as caught:
        nn.conv_max_pool(jnp.ones((1, 3, 3, 8)), jnp.ones((3, 3, 8, 2)))
    assert "leaves no pixels" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        nn.conv_max_pool(jnp.ones((1, 8, 8, 8)), jnp.ones((3, 3, 4, 2)))
    assert "kernel with shape (3, 3, 4, 2)" in str(caught.value)
