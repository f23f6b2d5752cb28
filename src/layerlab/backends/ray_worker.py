"""The Ray backend's worker side: one slice of a compile group, trained epoch by epoch.

Everything a task receives is plain data (JSON configs, numpy arrays, object refs), so the
worker rebuilds the model and its program itself; the program is compiled once per worker
process and structure (layerlab.engine's program cache), the data fetched once per worker.
"""
import os

import numpy as np

from layerlab import engine, losses, optimizers
from layerlab.errors import ConfigError
from layerlab.layers import Stack

WRONG_STRUCTURE = ("Ray worker: the model rebuilt from its config compiles differently from the driver's "
                   "({received} vs {expected}); expected the same layerlab on every node. Install the "
                   "driver's layerlab ({version}) on each node.")

_DATA: dict = {}  # in a worker: the last dataset on its device, by object refs


def train_slice(spec, hp, keys, data, epochs, offset, leaves):
    """A Ray generator task: trains streams of one group for epochs range(*epochs), starting from
    `leaves` (the slice's state; None: fresh weights), and yields (epoch, row, state leaves, pid,
    seconds) after each epoch. hp, keys: the slice's (S, R) numbers and (S, 2) keys as numpy;
    data: object refs of (x, y, x_val, y_val), fetched once per worker."""
    import jax
    import jax.numpy as jnp

    program = _program(spec)
    device = _device_data(data)
    hp, keys = jax.tree.map(jnp.asarray, hp), jax.tree.map(jnp.asarray, keys)
    if leaves is None:
        state = program.init(keys, hp)
    else:
        treedef = jax.tree.structure(jax.eval_shape(program.init, keys, hp))
        state = jax.tree.unflatten(treedef, [jnp.asarray(a) for a in leaves])
    pid = os.getpid()
    for e, row, state, seconds in engine.epochs_of(program, state, hp, keys, offset, range(*epochs), device,
                                                   spec["names"]):
        yield e, row, [np.array(a) for a in jax.tree.leaves(state)], pid, seconds


def _program(spec):
    model = Stack.from_config(spec["model"])
    for layer, trainable in zip(model.layers, spec["trainable"]):
        layer.trainable = trainable
    args = (model, optimizers.deserialize(spec["optimizer"]), losses.deserialize(spec["loss"]),
            tuple(spec["in_shape"]), spec["batch_size"], spec["shuffle"], spec["validate"])
    structure = engine.structure(*args)
    if structure != spec["structure"]:
        raise ConfigError(WRONG_STRUCTURE.format(received=structure[:60], expected=spec["structure"][:60],
                                                 version=spec["version"]))
    return engine.program(*args)  # compiled once per worker process and structure


def _device_data(refs):
    import ray

    key = tuple(None if r is None else r.hex() for r in refs)
    if key not in _DATA:
        _DATA.clear()
        x, y, x_val, y_val = [None if r is None else np.array(ray.get(r)) for r in refs]
        _DATA[key] = engine.device_data(x, y, x_val, y_val)
    return _DATA[key]
