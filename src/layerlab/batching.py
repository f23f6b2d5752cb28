"""Rules for `jax.custom_batching.custom_vmap` functions whose arguments all lead with a variant
axis: however many vmaps are stacked over them (the engine maps seed streams, then the variants
of a stream), such a function sees one variant axis, the mapped axes folded into it. XLA:CPU
runs a product with one batch axis in front as it is; with two, it may transpose a large
operand first (BENCHMARKS.md).
"""
import jax
import jax.numpy as jnp


def batched(n, arrays, flags):
    """custom_vmap rules: every argument with the mapped axis in front (flags: which have it)."""
    return [a if b else jnp.broadcast_to(a, (n, *jnp.shape(a))) for a, b in zip(arrays, flags)]


def folded(fn, n, arrays, flags):
    """Calls `fn`, whose arguments all lead with a variant axis V, on arguments mapped once more
    (n, V, ...) as (n * V, ...)."""
    arrays = batched(n, arrays, flags)
    out = fn(*[jnp.reshape(a, (-1, *a.shape[2:])) for a in arrays])
    return jax.tree.map(lambda o: jnp.reshape(o, (n, -1, *o.shape[1:])), out)


def per_variant(f):
    """A custom_vmap function whose arguments all lead with a variant axis, mapped by folding."""
    f = jax.custom_batching.custom_vmap(f)

    def rule(n, flags, *arrays):
        out = folded(f, n, arrays, flags)
        return out, jax.tree.map(lambda _: True, out)
    f.def_vmap(rule)
    return f
