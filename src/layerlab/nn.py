"""`layerlab.nn`: the activation functions, under the name the article imports (`tf.nn.relu`), and
the image operations of Keras 3's `keras.ops` (`conv`, `max_pool`, `average_pool`), channels_last.

>>> import numpy as np, layerlab
>>> layerlab.nn.relu(np.array([-1.0, 2.0]))
Array([0., 2.], dtype=float32)
>>> x = np.arange(16.0, dtype=np.float32).reshape(1, 4, 4, 1)
>>> layerlab.nn.max_pool(x, 2)[0, :, :, 0]
Array([[ 5.,  7.],
       [13., 15.]], dtype=float32)

How a convolution is computed, and why (issue 11, BENCHMARKS.md). On XLA:CPU, for Keras' simple
MNIST convnet trained as a vmapped sweep, `jax.lax.conv_general_dilated` everywhere took about 155 s
per model-epoch against 7 s for im2col: vmap turns a convolution of batched inputs and kernels
into a grouped convolution, which XLA:CPU runs slowly. So each of the three products of a
convolution takes the form that is fast for it, with its own rule under `jax.vmap`
(`jax.custom_batching.custom_vmap`), inside one `jax.custom_vjp`:

- forward: im2col, the kernel's kh*kw shifted (strided, dilated) slices of the input
  concatenated along the channels and ONE matmul with the kernel reshaped to (kh*kw*in, out).
  With a shared input (the first layer of all variants of a stream sees the same batch) the
  patches are built once and each variant's product is written in its own (variant-major)
  layout: a wide product would have to be transposed for every later operation;
- kernel gradient: the patches (kept from the forward pass) against the output gradient, one
  product per variant;
- input gradient: for stride 1 without dilation, XLA's own (Eigen) convolution of the padded
  output gradient with the flipped kernel, variant by variant (`lax.map`), so the patch
  gradients are never written out and added back onto the image (col2im: nine shifted passes
  over memory); strided or dilated convolutions use the transpose of im2col.

A 3x3 convolution of stride 1 over WINOGRAD_CHANNELS input channels or more is computed by
Winograd's F(2x2, 3x3) instead (layerlab.winograd: 2.25x fewer multiplications, and transforms
that move less memory than im2col's patches); `conv_max_pool` computes such a convolution's 2x2
output tiles straight into a 2x2 max pooling, skipping what the pooling drops.

A pooling whose windows tile the input is a reshape and a max (or mean). tests/test_nn_ops.py
checks every case against `jax.lax`, with and without vmap.

This module is longer than 300 lines because the convolution's products, their vmap rules and
the poolings share one set of geometry helpers (windows, 'same' pads, shifted slices).
"""
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from layerlab.activations import (  # noqa: F401  (re-exports)
    elu,
    exponential,
    gelu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    leaky_relu,
    linear,
    log_softmax,
    mish,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
    tanh,
)
from layerlab import winograd
from layerlab.batching import batched as _batched, folded as _folded, per_variant as _per_variant
from layerlab.errors import ConfigError

BAD_PADDING = ("`padding` must be 'valid' or 'same'. Received: padding={!r}. "
               "Pass padding='valid' (no padding) or padding='same' (output size = ceil(input / strides)).")
BAD_RANK = ("`{name}` expects inputs of shape (batch, height, width, channels) (channels_last). "
            "Received: inputs with shape {shape}. Add the missing axes, e.g. `x[..., None]` for one channel.")
BAD_KERNEL = ("`conv` expects a kernel of shape (kernel_h, kernel_w, {channels}, filters) for inputs with "
              "{channels} channels. Received: kernel with shape {shape}. Match the kernel's third axis to the inputs' channels.")
BAD_PAIR = ("`{name}` must be a positive integer or a pair of positive integers. Received: {name}={value!r}. "
            "Pass e.g. {name}=2 or {name}=(2, 2).")
NO_OUTPUT = ("`{op}` leaves no pixels: a window of {window} with strides {strides} over inputs of {size} "
             "(padding='valid'). Use a smaller window, padding='same', or larger inputs.")


def _pair(name, value):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ConfigError(BAD_PAIR.format(name=name, value=value))
    return tuple(int(v) for v in pair)


def _padding(padding):
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ConfigError(BAD_PADDING.format(padding))
    return mode


def _check_rank(name, x):
    if jnp.ndim(x) != 4:
        raise ConfigError(BAD_RANK.format(name=name, shape=tuple(jnp.shape(x))))


def _same_pads(size, window, stride):
    """Keras' (TensorFlow's) 'same': output ceil(size / stride); the odd pixel of padding goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _geometry(op, spatial, window, strides, padding):
    """((pad_before, pad_after) per axis, output size per axis) for windows of extent `window`."""
    if padding == "same":
        pads = tuple(_same_pads(n, w, s) for n, w, s in zip(spatial, window, strides))
    else:
        pads = ((0, 0), (0, 0))
    outs = tuple((n + sum(p) - w) // s + 1 for n, p, w, s in zip(spatial, pads, window, strides))
    if min(outs) < 1:
        raise ConfigError(NO_OUTPUT.format(op=op, window=window, strides=strides, size=tuple(spatial)))
    return pads, outs


def _shifted(x, offsets, strides, outs):
    """The window cell at `offsets` of every output pixel: x[..., oy + i*sy, ox + j*sx, :]."""
    (oy, ox), (sy, sx), (ny, nx) = offsets, strides, outs
    return x[..., oy:oy + (ny - 1) * sy + 1:sy, ox:ox + (nx - 1) * sx + 1:sx, :]


def conv(inputs, kernel, strides=1, padding="valid", dilation_rate=1):
    """2-D convolution as Keras' `keras.ops.conv` (channels_last, cross-correlation as Keras does).

    inputs (batch, H, W, in), kernel (kh, kw, in, out) -> (batch, H', W', out).

    >>> import numpy as np, layerlab
    >>> x, k = np.ones((2, 5, 5, 3), np.float32), np.ones((3, 3, 3, 4), np.float32)
    >>> layerlab.nn.conv(x, k).shape, layerlab.nn.conv(x, k, strides=2, padding="same").shape
    ((2, 3, 3, 4), (2, 3, 3, 4))
    """
    inputs, window = _conv_input(inputs, kernel, strides, padding, dilation_rate)
    if _winograd_fits(kernel, window.strides, window.dilation):
        return winograd.conv3x3(inputs, kernel)
    return _conv(inputs, kernel, window)


def _conv_input(inputs, kernel, strides, padding, dilation_rate):
    """(inputs padded for 'same', their _Window): conv's arguments checked, one line per mistake."""
    _check_rank("conv", inputs)
    strides, dilation = _pair("strides", strides), _pair("dilation_rate", dilation_rate)
    padding = _padding(padding)
    kh, kw, k_in, _ = jnp.shape(kernel)
    channels = jnp.shape(inputs)[-1]
    if k_in != channels:
        raise ConfigError(BAD_KERNEL.format(channels=channels, shape=tuple(jnp.shape(kernel))))
    extent = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    pads, outs = _geometry("conv", jnp.shape(inputs)[1:3], extent, strides, padding)
    if padding == "same":
        inputs = jnp.pad(inputs, ((0, 0), *pads, (0, 0)))
    return inputs, _Window((kh, kw), strides, dilation, outs, tuple(jnp.shape(inputs)[1:3]))


WINOGRAD_CHANNELS = 8   # fewer input channels: the products are too thin for the transforms to pay


def _winograd_fits(kernel, strides, dilation):
    """3x3 kernels of stride 1 without dilation, over WINOGRAD_CHANNELS input channels or more,
    are computed by Winograd's F(2x2, 3x3) (layerlab.winograd): 2.25x fewer multiplications."""
    kh, kw, channels, _ = jnp.shape(kernel)
    return (kh, kw) == (3, 3) and strides == (1, 1) and dilation == (1, 1) and channels >= WINOGRAD_CHANNELS


def conv_max_pool(inputs, kernel, strides=1, padding="valid", dilation_rate=1, pool_size=2, pool_strides=None,
                  pool_padding="valid"):
    """max_pool(conv(inputs, kernel, ...), pool_size, pool_strides, pool_padding), computing only
    the convolution's outputs that the pooling reads where it can: a Winograd convolution
    (see conv) followed by a 2x2 tiling pooling with 'valid' padding computes its 2x2 output
    tiles straight into the pooling and skips an odd last row and column.

    >>> import numpy as np, layerlab
    >>> x, k = np.ones((1, 13, 13, 8), np.float32), np.ones((3, 3, 8, 4), np.float32)
    >>> layerlab.nn.conv_max_pool(x, k).shape
    (1, 5, 5, 4)
    """
    inputs, window = _conv_input(inputs, kernel, strides, padding, dilation_rate)
    pool, pool_padding = _pair("pool_size", pool_size), _padding(pool_padding)
    tiling = pool == (2, 2) and (pool_strides is None or _pair("strides", pool_strides) == pool)
    if not (tiling and pool_padding == "valid" and _winograd_fits(kernel, window.strides, window.dilation)):
        return max_pool(conv(inputs, kernel, window.strides, "valid", window.dilation), pool, pool_strides, pool_padding)
    _geometry("max_pool", window.outs, pool, pool, "valid")
    return _max_of_cells(winograd.conv3x3_tiles(inputs, kernel, (window.outs[0] // 2, window.outs[1] // 2)))


class _Window(NamedTuple):
    """A valid convolution's static geometry (the input already padded)."""
    size: tuple       # (kh, kw)
    strides: tuple
    dilation: tuple
    outs: tuple       # output (H', W')
    spatial: tuple    # input (H, W)


def _patches(x, window):
    """(..., H', W', kh*kw*in): cell (i, j) of every window, channels innermost, as the kernel's
    reshape to (kh*kw*in, out) orders them (index i*kw*in + j*in + c)."""
    (kh, kw), (dy, dx) = window.size, window.dilation
    cells = [_shifted(x, (i * dy, j * dx), window.strides, window.outs) for i in range(kh) for j in range(kw)]
    return cells[0] if len(cells) == 1 else jnp.concatenate(cells, axis=-1)


@functools.cache
def _products(window):
    """The three products of a valid convolution with this geometry (made once per geometry:
    custom_vmap takes arrays only, so the geometry is closed over). Each is written for one
    variant; its vmap rule hands the variants to a function that takes them all at once (V
    leading): a shared input's patches are built once, each variant's product is one slice of
    a batched dot, in its own layout, and the input gradients are XLA convolutions kernel by
    kernel (vmap would make one grouped convolution, which XLA:CPU runs slowly)."""

    def patches(x):
        return _patches(x, window)

    def flat(kernels):                              # (V, kh*kw*in, out)
        return jnp.reshape(kernels, (kernels.shape[0], -1, kernels.shape[-1]))

    def rows(a):                                    # (V, pixels, last axis)
        return jnp.reshape(a, (a.shape[0], -1, a.shape[-1]))

    @_per_variant
    def forward_each(xs, kernels):
        ps = patches(xs)
        return jnp.reshape(rows(ps) @ flat(kernels), (*ps.shape[:-1], kernels.shape[-1])), ps

    @jax.custom_batching.custom_vmap
    def forward_shared(x, kernels):
        p = patches(x)
        wide = jnp.broadcast_to(jnp.reshape(p, (1, -1, p.shape[-1])), (kernels.shape[0], p[..., 0].size, p.shape[-1]))
        return jnp.reshape(wide @ flat(kernels), (kernels.shape[0], *p.shape[:-1], kernels.shape[-1])), p

    @forward_shared.def_vmap
    def _(n, batched, x, kernels):
        (kernels,) = _batched(n, [kernels], batched[1:])
        if not batched[0]:
            out, p = forward_shared(x, jnp.reshape(kernels, (-1, *kernels.shape[2:])))
            return (jnp.reshape(out, (n, -1, *out.shape[1:])), p), (True, False)
        if n == 1:
            out, p = forward_shared(x[0], kernels[0])
            return (out[None], p[None]), (True, True)
        xs = jnp.broadcast_to(x[:, None], (n, kernels.shape[1], *x.shape[1:]))
        out, ps = _folded(forward_each, n, [xs, kernels], [True, True])
        return (out, ps[:, 0]), (True, True)   # each mapped input's patches, built once above

    @_per_variant
    def kernel_grad_each(ps, grads):
        return jnp.einsum("vmk,vmo->vko", rows(ps), rows(grads))

    @jax.custom_batching.custom_vmap
    def kernel_grad_shared(p, grads):
        return jnp.einsum("mk,vmo->vko", jnp.reshape(p, (-1, p.shape[-1])), rows(grads))

    @kernel_grad_shared.def_vmap
    def _(n, batched, p, grads):
        (grads,) = _batched(n, [grads], batched[1:])
        if not batched[0]:
            out = kernel_grad_shared(p, jnp.reshape(grads, (-1, *grads.shape[2:])))
            return jnp.reshape(out, (n, -1, *out.shape[1:])), True
        ps = jnp.broadcast_to(p[:, None], (n, grads.shape[1], *p.shape[1:]))
        return _folded(kernel_grad_each, n, [ps, grads], [True, True]), True

    def input_grad_one(grad, kernel):
        (kh, kw) = window.size
        if window.strides == (1, 1) and window.dilation == (1, 1):
            # The full correlation of the output gradient with the flipped kernel: XLA's own
            # convolution, which never writes the (..., H', W', kh*kw*in) patch gradients.
            flipped = jnp.swapaxes(jnp.flip(kernel, (0, 1)), 2, 3)
            return jax.lax.conv_general_dilated(grad, flipped, (1, 1), ((kh - 1, kh - 1), (kw - 1, kw - 1)),
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
        shape = (grad.shape[0], *window.spatial, kernel.shape[2])
        unpatch = jax.linear_transpose(patches, jax.ShapeDtypeStruct(shape, grad.dtype))
        return unpatch(grad @ jnp.reshape(kernel, (-1, kernel.shape[-1])).T)[0]

    @_per_variant
    def input_grad_each(grads, kernels):
        return jax.lax.map(lambda a: input_grad_one(*a), (grads, kernels))

    # -- the per-variant forms the custom_vjp below calls, and their rules ----------------------
    @jax.custom_batching.custom_vmap
    def forward(x, kernel):
        """(output, patches)"""
        out, p = forward_shared(x, kernel[None])
        return out[0], p

    @forward.def_vmap
    def _(n, batched, x, kernel):
        (kernel,) = _batched(n, [kernel], batched[1:])
        if batched[0]:
            return forward_each(x, kernel), (True, True)
        return forward_shared(x, kernel), (True, False)

    @jax.custom_batching.custom_vmap
    def kernel_grad(p, grad):
        return kernel_grad_shared(p, grad[None])[0]

    @kernel_grad.def_vmap
    def _(n, batched, p, grad):
        (grad,) = _batched(n, [grad], batched[1:])
        if batched[0]:
            return kernel_grad_each(p, grad), True
        return kernel_grad_shared(p, grad), True

    @jax.custom_batching.custom_vmap
    def input_grad(grad, kernel):
        return input_grad_one(grad, kernel)

    @input_grad.def_vmap
    def _(n, batched, grad, kernel):
        if not batched[1]:   # one kernel: the mapped axis joins the batch
            out = input_grad(jnp.reshape(grad, (-1, *grad.shape[2:])), kernel)
            return jnp.reshape(out, (n, grad.shape[1], *out.shape[1:])), True
        return input_grad_each(*_batched(n, [grad, kernel], batched)), True

    return forward, kernel_grad, input_grad


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv(x, kernel, window):
    return _products(window)[0](x, kernel)[0]


def _conv_fwd(x, kernel, window):
    out, patches = _products(window)[0](x, kernel)
    return out, (patches, kernel)


def _conv_bwd(window, saved, grad):
    patches, kernel = saved
    _, kernel_grad, input_grad = _products(window)
    return input_grad(grad, kernel), jnp.reshape(kernel_grad(patches, grad), kernel.shape)


_conv.defvjp(_conv_fwd, _conv_bwd)


def _pool_args(op, inputs, pool_size, strides, padding):
    _check_rank(op, inputs)
    window = _pair("pool_size", pool_size)
    strides = window if strides is None else _pair("strides", strides)
    padding = _padding(padding)
    pads, outs = _geometry(op, jnp.shape(inputs)[1:3], window, strides, padding)
    return window, strides, pads, outs


def _tiles(x, window, pads, outs, fill):
    """Windows that tile the input (strides == pool_size): (batch, H', ph, W', pw, C)."""
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill) if any(map(sum, pads)) else x
    (ph, pw), (ny, nx) = window, outs
    x = x[:, :ny * ph, :nx * pw, :]    # 'valid' drops the last rows and columns that fit no window
    return jnp.reshape(x, (x.shape[0], ny, ph, nx, pw, x.shape[-1]))


def max_pool(inputs, pool_size, strides=None, padding="valid"):
    """Max pooling as Keras' `keras.ops.max_pool` (channels_last); strides default to pool_size.

    >>> import numpy as np, layerlab
    >>> layerlab.nn.max_pool(np.ones((1, 5, 5, 2)), 2, padding="same").shape
    (1, 3, 3, 2)
    """
    window, strides, pads, outs = _pool_args("max_pool", inputs, pool_size, strides, padding)
    if window == strides:
        return _max_of_tiles(_tiles(inputs, window, pads, outs, -jnp.inf))
    x = jnp.pad(inputs, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
    cells = [_shifted(x, (i, j), strides, outs) for i in range(window[0]) for j in range(window[1])]
    return _reduce(jnp.maximum, cells)


def _tile_max(tiles):
    """(batch, H', W', C): the cells of each window compared elementwise. A reduction here
    (jnp.max over the window axes) is one that XLA:CPU may fuse with the convolution before it
    into a single library call which ran 10x slower than the two apart (BENCHMARKS.md)."""
    return _reduce(jnp.maximum, [tiles[:, :, i, :, j, :] for i in range(tiles.shape[2]) for j in range(tiles.shape[4])])


@jax.custom_vjp
def _max_of_tiles(tiles):
    return _tile_max(tiles)


def _max_of_tiles_fwd(tiles):
    top = _tile_max(tiles)
    return top, (tiles, top)


def _max_of_tiles_bwd(saved, grad):
    """The gradient goes to the first maximum of each window (row by row), as TensorFlow's and
    XLA's select-and-scatter do. JAX's own rule for a max splits it among tied cells with a
    compare, a count and a division over the 6-D tiles, which on XLA:CPU cost more than both
    convolutions of Keras' simple convnet (BENCHMARKS.md); this is one elementwise pass."""
    tiles, top = saved
    (ph, pw) = tiles.shape[2], tiles.shape[4]
    cells = _to_first_max([tiles[:, :, i, :, j, :] for i in range(ph) for j in range(pw)], top, grad)
    rows = [jnp.stack(cells[i * pw:(i + 1) * pw], axis=3) for i in range(ph)]   # (batch, H', W', pw, C)
    return (jnp.stack(rows, axis=2),)                                          # (batch, H', ph, W', pw, C)


def _to_first_max(cells, top, grad):
    """Per cell, grad where the cell is the first to equal top, else 0."""
    taken, out = jnp.zeros(top.shape, bool), []
    for cell in cells:
        hit = (cell == top) & ~taken
        taken = taken | hit
        out.append(jnp.where(hit, grad, jnp.zeros_like(grad)))
    return out


_max_of_tiles.defvjp(_max_of_tiles_fwd, _max_of_tiles_bwd)


@jax.custom_vjp
def _max_of_cells(cells):
    """(k, ...) -> (...): the largest of the k cells; the gradient goes to the first largest."""
    return _reduce(jnp.maximum, [cells[i] for i in range(cells.shape[0])])


def _max_of_cells_fwd(cells):
    top = _max_of_cells(cells)
    return top, (cells, top)


def _max_of_cells_bwd(saved, grad):
    cells, top = saved
    return (_first_max_cells(cells[None], top[None], grad[None])[0],)


@_per_variant
def _first_max_cells(cells, top, grad):
    """(V, k, ...): the gradient of each variant's max of k cells, stacked behind the variant
    axis (stacked under vmap, the cells would come first and be transposed behind it)."""
    return jnp.stack(_to_first_max([cells[:, i] for i in range(cells.shape[1])], top, grad), axis=1)


_max_of_cells.defvjp(_max_of_cells_fwd, _max_of_cells_bwd)


def average_pool(inputs, pool_size, strides=None, padding="valid"):
    """Average pooling as Keras' `keras.ops.average_pool`; with 'same', a window at the border
    averages only the input's own cells (the padding is not counted), as Keras does.

    >>> import numpy as np, layerlab
    >>> float(layerlab.nn.average_pool(np.ones((1, 3, 3, 1)), 2, padding="same")[0, 1, 1, 0])
    1.0
    """
    window, strides, pads, outs = _pool_args("average_pool", inputs, pool_size, strides, padding)
    if window == strides:
        total = jnp.sum(_tiles(inputs, window, pads, outs, 0), axis=(2, 4))
    else:
        x = jnp.pad(inputs, ((0, 0), *pads, (0, 0)))
        total = _reduce(jnp.add, [_shifted(x, (i, j), strides, outs)
                                  for i in range(window[0]) for j in range(window[1])])
    if padding == "valid" or not any(map(sum, pads)):
        return total / math.prod(window)
    return total / _cells_counted(jnp.shape(inputs)[1:3], window, strides, pads, outs).astype(total.dtype)


def _cells_counted(spatial, window, strides, pads, outs):
    """(1, H', W', 1) numpy constant: how many of each window's cells lie inside the input."""
    counts = []
    for n, w, s, (before, _), m in zip(spatial, window, strides, pads, outs):
        starts = np.arange(m) * s - before
        counts.append(np.minimum(starts + w, n) - np.maximum(starts, 0))
    return np.outer(*counts)[None, :, :, None]


def _reduce(op, cells):
    # A balanced tree keeps the chain short; XLA fuses it into one loop over the output.
    while len(cells) > 1:
        cells = [op(a, b) for a, b in zip(cells[::2], cells[1::2])] + cells[len(cells) - len(cells) % 2:]
    return cells[0]
