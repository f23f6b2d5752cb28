"""The machine's float32 matmul rate through XLA (the engine's own kernels), for the shapes of
the article's model and for a large square product (the practical peak).

    python benchmarks/matmul_rate.py

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


def rate(m, k, n, repeats=300):
    a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeats):
            r = f(a, b)
        r.block_until_ready()
        best = min(best, (time.perf_counter() - t) / repeats)
    return 2 * m * k * n / best / 1e9


def main():
    shapes = {"forward 5 variants (32x784 @ 784x640)": (32, 784, 640),
              "weight gradient 5 variants (640x32 @ 32x784)": (640, 32, 784),
              "forward 1 model (32x784 @ 784x128)": (32, 784, 128),
              "square 1024": (1024, 1024, 1024)}
    out = {"model_epoch_gflop": round(model_epoch_flop() / 1e9, 2), "devices": str(jax.devices())}
    for name, (m, k, n) in shapes.items():
        out[name] = round(rate(m, k, n, 300 if m * n < 10**6 else 10), 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
