"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions of stride 1 (Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", 2016), as oneDNN and cuDNN offer it.

Each 2x2 tile of the output comes from a 4x4 tile of the input d and the 3x3 kernel g as

    Y = A^T [(G g G^T) * (B^T d B)] A

so the 36 multiplications of a tile become 16, and over all tiles the products are 16 matrix
products of (tiles, in) @ (in, out): 2.25x fewer multiply-adds than the direct form, and the
input's transform (4 values per input value) is smaller than im2col's patches (9 per value).
The transforms' coefficients are 0, 1, -1 and 1/2; float32 results differ from the direct sum by
a few units in the last place (tests/test_nn_ops.py compares them with `jax.lax`).

How it runs on XLA:CPU (BENCHMARKS.md): each transform is one small product (16x16, 16x9 or
4x16 over the tile's cells) with its own gradient (the transposed matrix) and vmap rule (the
engine's variants stay the leading axis, so nothing is transposed behind it); the input tiles'
gradient adds the overlapping tiles back by parity, two shifted adds per axis; the kernel's
gradient is a plain product of the transposed tiles.

>>> import numpy as np
>>> from layerlab import winograd
>>> x, k = np.ones((1, 6, 6, 2), np.float32), np.ones((3, 3, 2, 1), np.float32)
>>> winograd.conv3x3(x, k)[0, :, :, 0]
Array([[18., 18., 18., 18.],
       [18., 18., 18., 18.],
       [18., 18., 18., 18.],
       [18., 18., 18., 18.]], dtype=float32)
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import batching

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])   # input tiles
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])       # the kernel
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])                                # output tiles


def _static(matrix):
    return tuple(tuple(float(c) for c in row) for row in matrix)


# The 2-D transforms on cells numbered row-major: cell (a, b) of a tile is index 4a + b.
INPUT, KERNEL, OUTPUT = _static(np.kron(B_T, B_T)), _static(np.kron(G, G)), _static(np.kron(A_T, A_T))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _mix(matrix, cells):
    """(len(matrix), ...): matrix @ cells over the leading axis of cells, one product. Its
    gradient is the same with the transpose (JAX's own would add one padded copy per cell)."""
    return _mixed(np.asarray(matrix, np.float32), cells)


@jax.custom_batching.custom_vmap
def _mixed(matrix, cells):
    return jnp.reshape(matrix @ jnp.reshape(cells, (cells.shape[0], -1)), (matrix.shape[0], *cells.shape[1:]))


@_mixed.def_vmap
def _(n, flags, matrix, cells):
    # Under vmap a product with an unmapped matrix would put the cells in front of the variant
    # axis, and XLA transpose every variant's cells back: the matrix goes with each variant.
    return _mixed_each(*batching.batched(n, [matrix, cells], flags)), True


@batching.per_variant
def _mixed_each(matrices, cells):
    rows = matrices @ jnp.reshape(cells, (*cells.shape[:2], -1))
    return jnp.reshape(rows, (*rows.shape[:2], *cells.shape[2:]))


def _mix_fwd(matrix, cells):
    return _mix(matrix, cells), None


def _mix_bwd(matrix, _, grad):
    return (_mix(tuple(zip(*matrix)), grad),)


_mix.defvjp(_mix_fwd, _mix_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _offsets(x, count, spatial):
    """(16, batch, ty, tx, in): the 4x4 input tiles at (2i, 2j), offset (k, l) as cell 4k + l."""
    (ty, tx) = count
    return jnp.stack([x[:, k:k + 2 * ty - 1:2, l:l + 2 * tx - 1:2] for k in range(4) for l in range(4)])


def _offsets_fwd(x, count, spatial):
    return _offsets(x, count, spatial), None


def _fold(cells, axis):
    """Overlapping tiles added back along one axis: offsets (4, ...) whose cells[k] have the
    tile axis `axis`, stride 2 -> (..., 2t + 2, ...) there: a pixel of parity p gets offset p of
    its own tile and offset p + 2 of the tile before."""
    def shift(a, before):
        pads = [(0, 0)] * a.ndim
        pads[axis] = (1, 0) if before else (0, 1)
        return jnp.pad(a, pads)
    parities = [shift(cells[p], False) + shift(cells[p + 2], True) for p in range(2)]
    shape = list(parities[0].shape)
    shape[axis] *= 2
    return jnp.reshape(jnp.stack(parities, axis=axis + 1), shape)   # (..., t + 1, 2, ...) interleaved


def _offsets_bwd(count, spatial, _, grad):
    cells = jnp.reshape(grad, (4, 4, *grad.shape[1:]))           # (k, l, batch, ty, tx, in)
    rows = _fold(cells, 2)                                       # (l, batch, 2ty + 2, tx, in)
    x = _fold(rows, 2)                                           # (batch, 2ty + 2, 2tx + 2, in)
    (h, w), (gh, gw) = spatial, x.shape[1:3]
    return (jnp.pad(x, ((0, 0), (0, h - gh), (0, w - gw), (0, 0))),)


_offsets.defvjp(_offsets_fwd, _offsets_bwd)


@jax.custom_vjp
def _products(v, u):
    """The 16 products (16, tiles, in) @ (16, in, out) of the transformed tiles and kernel."""
    return v @ u


def _products_fwd(v, u):
    return v @ u, (jnp.swapaxes(v, 1, 2), u)


def _products_bwd(saved, grad):
    # The kernel's gradient sums over the tiles, the longer axis of both operands: XLA:CPU runs
    # that form (the first operand transposed) several times slower than the tiles transposed
    # once and a plain product.
    v_t, u = saved
    return grad @ jnp.swapaxes(u, 1, 2), v_t @ grad


_products.defvjp(_products_fwd, _products_bwd)


def conv3x3_tiles(x, g, count):
    """The 2x2 output tiles at (2i, 2j), i < ty, j < tx, of the valid 3x3 correlation of x
    (batch, >= 2ty + 2, >= 2tx + 2, in) with g (3, 3, in, out): (4, batch, ty, tx, out), cell
    (a, b) of each tile as index 2a + b."""
    channels, out = g.shape[2:]
    v = _mix(INPUT, _offsets(x, count, tuple(x.shape[1:3])))                     # B^T d B
    u = _mix(KERNEL, jnp.reshape(g, (9, channels, out)))                         # G g G^T
    m = _products(jnp.reshape(v, (16, -1, channels)), u)
    return _mix(OUTPUT, jnp.reshape(m, (16, *v.shape[1:-1], out)))              # A^T m A


def conv3x3(x, g):
    """The valid 3x3 correlation of x (batch, H, W, in) with g (3, 3, in, out), stride 1:
    (batch, H - 2, W - 2, out), the input padded by a row or column where H - 2 or W - 2 is odd."""
    ho, wo = x.shape[1] - 2, x.shape[2] - 2
    count = (-(-ho // 2), -(-wo // 2))
    pads = ((0, 0), (0, 2 * count[0] + 2 - x.shape[1]), (0, 2 * count[1] + 2 - x.shape[2]), (0, 0))
    y = conv3x3_tiles(jnp.pad(x, pads) if any(map(sum, pads)) else x, g, count)   # (4, batch, ty, tx, out)
    y = jnp.reshape(y, (2, 2, *y.shape[1:]))
    y = jnp.reshape(jnp.transpose(y, (2, 3, 0, 4, 1, 5)), (x.shape[0], 2 * count[0], 2 * count[1], g.shape[-1]))
    return y[:, :ho, :wo]
