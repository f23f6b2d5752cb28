"""The machine's float32 matmul rate through XLA (the engine's own kernels), for the shapes of
the article's model and for a large square product (the practical peak).

    python benchmarks/matmul_rate.py               # both cores
    taskset -c 0 python benchmarks/matmul_rate.py  # one core

Each product runs 200 times inside one compiled loop (its left operand nudged by the loop's
carry, so that XLA cannot hoist it out), which leaves out the cost of calling a program.

A model-epoch of the article's model costs about 24.4 GFLOP: per batch of 32, the first
layer's forward (32x784 @ 784x128) and weight gradient (128x32 @ 32x784), 6.4 MFLOP each,
the small second layer, over 1875 batches; plus the validation pass (10000 samples forward).
"""
import json
import time

import jax
import jax.numpy as jnp

BATCH, IN, HIDDEN, OUT, N_TRAIN, N_VAL = 32, 784, 128, 10, 60000, 10000


def model_epoch_flop():
    steps = N_TRAIN // BATCH
    per_step = 2 * BATCH * IN * HIDDEN * 2 + 2 * BATCH * HIDDEN * OUT * 3  # layer 1: fwd + dW; layer 2: fwd, dW, dx
    return steps * per_step + N_VAL * 2 * (IN * HIDDEN + HIDDEN * OUT)


def rate(m, k, n, transpose_a=False, repeats=200):
    a = jnp.ones((k, m) if transpose_a else (m, k), jnp.float32)
    b = jnp.ones((k, n), jnp.float32)

    def product(a, b):
        return (a.T if transpose_a else a) @ b

    f = jax.jit(lambda a, b: jax.lax.fori_loop(
        0, repeats, lambda i, c: c + product(a + c * 1e-30, b)[0, 0] * 1e-9, jnp.float32(0)))
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, (time.perf_counter() - t) / repeats)
    return 2 * m * k * n / best / 1e9


def main():
    shapes = {"forward 5 variants, engine (640x784 @ 784x32)": (640, 784, 32, False),
              "forward 5 variants, Keras layout (32x784 @ 784x640)": (32, 784, 640, False),
              "weight gradient 5 variants, engine (640x32 @ 32x784)": (640, 32, 784, True),
              "weight gradient 5 variants, Keras layout (784x32 @ 32x640)": (784, 32, 640, True),
              "forward 3 variants, engine (384x784 @ 784x32)": (384, 784, 32, False),
              "weight gradient 3 variants, engine (384x32 @ 32x784)": (384, 32, 784, True),
              "forward 1 model (32x784 @ 784x128)": (32, 784, 128, False),
              "square 1024": (1024, 1024, 1024, False)}
    out = {"model_epoch_gflop": round(model_epoch_flop() / 1e9, 2), "devices": str(jax.devices())}
    for name, (m, k, n, t) in shapes.items():
        out[name] = round(rate(m, k, n, t, 200 if m * n < 10**6 else 10), 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
