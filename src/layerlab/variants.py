"""From sweeps to variants to compile groups.

A setting lives at a *location*: 'dense.units' (layer 'dense', argument 'units'),
'optimizer.learning_rate', or one of fit's own 'batch_size' and 'seed'. Settings that change
shapes or code (units, activation, batch_size, amsgrad...) are *static*: variants that differ in
one train in separate compile groups. The others are numbers that each variant carries as its
own value inside one program. A study of several models (training.fit_models) adds 'model' (the
architecture's name) and 'dataset': static too, and never part of a layer's or optimizer's values.
"""
import hashlib
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import activations
from layerlab.errors import ConfigError
from layerlab.sweep import Sweep, expand

FIT_SETTINGS = ("batch_size", "seed", "model", "dataset")
STATIC_FIT_SETTINGS = ("batch_size", "model", "dataset")
NO_COMBINATIONS = ("fit: combinations: expected a non-empty list of dicts; received {received!r}. "
                   "Leave combinations out to train the whole grid.")
NOT_STABLE = ("fit: independent_draws: expected settings with a stable name; received {location}={value!r}. "
              "Use a named activation (e.g. 'relu') or common random numbers (independent_draws=False).")


def kind(location: str) -> str:
    """'fit', 'optimizer' or 'layer'."""
    if location in FIT_SETTINGS:
        return "fit"
    return "optimizer" if location.startswith("optimizer.") else "layer"


def is_static(location, model, optimizer=None) -> bool:
    """Whether a setting changes shapes or code (a compile group of its own), or is a number each
    variant carries inside one program. The one place that decides it."""
    k = kind(location)
    if k == "fit":
        return location in STATIC_FIT_SETTINGS
    arg = location.rpartition(".")[2]
    if k == "optimizer":
        return arg in optimizer._static
    layer_name = location.rpartition(".")[0]
    layer = next(layer for layer in model.layers if layer.name == layer_name)
    return arg not in layer._dynamic


def concrete(model, optimizer, settings):
    """The model and optimizer with every setting of one variant filled in."""
    layer_values = {k: v for k, v in settings.items() if kind(k) == "layer"}
    opt_values = {k: v for k, v in settings.items() if kind(k) == "optimizer"}
    return model.with_values(layer_values), optimizer.with_values(opt_values)


def collect(model, optimizer, batch_size, seed) -> dict:
    """{location: Sweep} of the model, the optimizer and fit, in that order."""
    sweeps = {**model.sweeps(), **optimizer.sweeps()}
    for location, value in (("batch_size", batch_size), ("seed", seed)):
        if isinstance(value, Sweep):
            sweeps[location] = value
    return sweeps


def variants(sweeps, combinations, seed, batch_size) -> list[dict]:
    """The grid of `sweeps`, or `combinations` crossed with the seeds; every variant names its seed."""
    if combinations is None:
        out = expand(sweeps)
    else:
        if not isinstance(combinations, (list, tuple)) or not combinations:
            raise ConfigError(NO_COMBINATIONS.format(received=combinations))
        own = {k: s for k, s in sweeps.items() if k != "seed"}
        listed = expand(own, combinations)
        seeds = sweeps["seed"].values if "seed" in sweeps else (seed,)
        out = [{**c, "seed": s} for c in listed for s in seeds]
    for v in out:
        v.setdefault("seed", seed)
    return out


class CompileGroup(NamedTuple):
    """Variants that share one compiled program."""

    index: int
    signature: tuple          # the static settings' values
    indices: list             # variant indices, in variant order
    model: object             # concrete Sequential (dynamic settings overridden through hp)
    optimizer: object         # concrete Optimizer
    batch_size: int
    streams: list             # the (S, R) layout: streams[s][r] = variant index
    label: str                # e.g. 'units=64' for progress lines; '' for a single group


# A program's training state (parameters, gradients, optimizer moments) should stay in the
# processor's cache: 50 variants of the article's model (about 80 MB of state) trained as one
# program cost 0.38 s per model-epoch, as five programs of ten 0.36 s, as ten programs of five
# 0.31 s (BENCHMARKS.md). A group whose state exceeds this budget is trained as several
# programs of whole streams (never fewer than one), one after another.
PROGRAM_STATE_BYTES = 8 << 20


def groups(model, optimizer, variant_list, sweeps, batch_size, independent, in_shape=None) -> list[CompileGroup]:
    static = [k for k in sweeps if is_static(k, model, optimizer)]
    by_signature = {}
    for i, v in enumerate(variant_list):
        by_signature.setdefault(tuple((k, repr(v[k])) for k in static), []).append(i)
    out = []
    for signature, indices in by_signature.items():
        first = variant_list[indices[0]]
        group_model, group_opt = concrete(model, optimizer, first)
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={first[k]}" for k in static) if len(by_signature) > 1 else ""
        streams = layout(indices, [v["seed"] for v in variant_list], independent)
        per_program = len(streams)
        if in_shape is not None:
            state_bytes = 4 * 4 * group_model._count_params(tuple(in_shape))  # params, grads, 2 moments
            per_program = max(1, min(len(streams), PROGRAM_STATE_BYTES // max(1, state_bytes * len(streams[0]))))
        for start in range(0, len(streams), per_program):
            part = streams[start:start + per_program]
            out.append(CompileGroup(len(out), signature, sorted(i for s in part for i in s), group_model, group_opt,
                             first.get("batch_size", batch_size), part, label))
    return out


def layout(indices, seeds, independent):
    """Places a group's variants on the (S, R) grid: a stream per seed under common random
    numbers (when every seed has as many variants), else a stream per variant."""
    if not independent:
        by_seed = {}
        for i in indices:
            by_seed.setdefault(seeds[i], []).append(i)
        if len({len(v) for v in by_seed.values()}) == 1:
            return list(by_seed.values())
    return [[i] for i in indices]


def hparams(model, optimizer, variant_list, streams):
    """Per-variant numbers as (S, R) float32 arrays: {'layers': [...], 'optimizer': {...}}."""
    per_variant = {}
    for stream in streams:
        for i in stream:
            m, o = concrete(model, optimizer, variant_list[i])
            per_variant[i] = (m.hparams(), o.hparams())

    def grid(get):
        return jnp.asarray(np.array([[get(per_variant[i]) for i in stream] for stream in streams], np.float32))

    first = per_variant[streams[0][0]]
    layers = [{k: grid(lambda pv, j=j, k=k: pv[0][j][k]) for k in layer_hp} for j, layer_hp in enumerate(first[0])]
    opt = {k: grid(lambda pv, k=k: pv[1][k]) for k in first[1]}
    return {"layers": layers, "optimizer": opt}


def root_key(model, settings, independent):
    """A stream's root key: its seed, folded for independent draws with a hash of its settings
    that names layers by position (automatic names change between sessions)."""
    root = jax.random.PRNGKey(settings["seed"])
    if not independent:
        return root
    position = {layer.name: i for i, layer in enumerate(model.layers)}
    canonical = {}
    for location, value in settings.items():
        if location in ("seed", "model", "dataset"):  # a model's draws are the same alone or in a study
            continue
        if kind(location) == "layer":
            layer_name, _, arg = location.rpartition(".")
            location = f"layers[{position[layer_name]}].{arg}"
        if callable(value):
            name = activations.serialize(value)
            if name is None:
                raise ConfigError(NOT_STABLE.format(location=location, value=value))
            value = name
        canonical[location] = value
    text = json.dumps(canonical, sort_keys=True)
    return jax.random.fold_in(root, int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF)
