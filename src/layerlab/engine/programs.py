"""Programs shared by structure, and running them epoch by epoch.

Two models whose layers, static settings, optimizer flags, loss, input shape and batch size
agree compile to the same code, whatever their names or per-variant numbers: they share one
Program (and so its jit caches). Every backend trains through `run_epoch`/`epochs_of`, on a
whole compile group or on a slice of it.
"""
import json
import time
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np

from .program import Program, stream_keys

MAX_PROGRAMS = 64  # compiled programs kept; the least recently used is dropped first
_PROGRAMS: OrderedDict = OrderedDict()  # structure -> Program


def structure(model, optimizer, loss, in_shape, batch_size=None, shuffle=True, validate=True) -> str:
    """What decides a program's code: layer classes, static arguments and trainability, never
    names or the numbers that reach the program as per-variant arrays (as JSON text)."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items()
                  if k not in ("name", "input_shape") and k not in layer._dynamic}
        layers.append((type(layer).__name__, config, layer.trainable))
    opt = None if optimizer is None else (type(optimizer).__name__, optimizer.statics())
    return json.dumps([layers, opt, None if loss is None else (type(loss).__name__, loss.get_config()),
                       list(in_shape), batch_size, shuffle, validate], sort_keys=True, default=repr)


def program(model, optimizer, loss, in_shape, batch_size=None, shuffle=True, validate=True) -> Program:
    """The shared program for this structure (optimizer None: evaluate and predict only)."""
    key = structure(model, optimizer, loss, in_shape, batch_size, shuffle, validate)
    found = _PROGRAMS.pop(key, None)
    if found is None:
        if len(_PROGRAMS) >= MAX_PROGRAMS:
            _PROGRAMS.popitem(last=False)  # the least recently used
        found = Program(model, None if optimizer is None else optimizer.transform(), loss, in_shape,
                        batch_size or 32, shuffle=shuffle, validate=validate)
    _PROGRAMS[key] = found
    return found


def clear_programs():
    """Forgets every compiled program (clear_session() keeps them: they do not depend on names)."""
    _PROGRAMS.clear()


def to_device_data(x, y):
    """x (already float32) and y on the device."""
    return jnp.asarray(x), jnp.asarray(y)


def device_data(x, y, x_val=None, y_val=None):
    """(x, y, x_val, y_val) on the device; the validation pair stays (None, None) without it."""
    return to_device_data(x, y) + (to_device_data(x_val, y_val) if x_val is not None else (None, None))


def run_epoch(program, state, hp, keys, epoch, device, names):
    """Trains `state` for epoch number `epoch`: (state, row, seconds), row[name] an (S, R) array."""
    t0 = time.perf_counter()
    state, m = program.epoch(state, hp, keys, jnp.int32(epoch), *device)
    row = {k: np.asarray(getattr(m, k)) for k in names}
    return state, row, time.perf_counter() - t0


def epochs_of(program, state, hp, keys, offset, epochs, device, names):
    """Trains `state` for each epoch in `epochs` (a range) and yields (epoch, row, state, seconds)
    after each: row[name] is an array over the state's (S, R) variants, row-major."""
    for e in epochs:
        state, row, seconds = run_epoch(program, state, hp, keys, offset + e, device, names)
        yield e, {k: v.reshape(-1) for k, v in row.items()}, state, seconds


def state_treedef(program, keys, hp):
    """The structure of `program`'s training state for these keys and numbers (traced, not compiled)."""
    return jax.tree.structure(jax.eval_shape(program.init, keys, hp))


def params_from_leaves(model, optimizer, loss, in_shape, leaves):
    """(params, expected): the public parameters (S, R, ...) in the layers' layout from a training
    state's leaves, as a checkpoint holds them, and the per-variant shapes this model's state
    has; params is None when the leaves do not fit those shapes."""
    prog = Program(model, optimizer.transform(), loss, in_shape, 1)
    hp = {"layers": [], "optimizer": {k: jax.ShapeDtypeStruct((1, 1), jnp.float32) for k in optimizer.hparams()}}
    shapes = jax.eval_shape(prog.init, stream_keys(jnp.zeros((1, 2), jnp.uint32)), hp)
    expected = [tuple(s.shape[2:]) for s in jax.tree.leaves(shapes)]
    if [tuple(a.shape[2:]) for a in leaves] != expected:
        return None, expected
    return prog.public_params(jax.tree.unflatten(jax.tree.structure(shapes), list(leaves))), expected
