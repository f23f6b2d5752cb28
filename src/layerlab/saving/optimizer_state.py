"""An optimizer's state between optax's layout (layerlab trains with optax) and Keras 3's list of
variables (optimizer/vars/<i> in the weights file), for the optimizers both sides define alike.

Keras' lists (keras/src/optimizers/*.py, build()): [iterations, learning_rate] and then, per
trainable weight in model.trainable_variables order (weights.trainable_names):
    Adam, AdamW     momentum, velocity interleaved per weight    = optax's mu, nu (uncorrected moments)
    SGD             momentum per weight (none when momentum=0)   = -learning_rate * optax's trace
    RMSprop         velocity per weight, then momentum per weight = optax's nu; -trace
                    (only when momentum > 0)
    Adagrad         accumulator per weight                        = optax's sum_of_squares
Not mapped (their state differs in kind): Adam(amsgrad=True) (optax keeps the bias-corrected
maximum, Keras the raw one) and RMSprop(centered=True); those files carry iterations and the
learning rate only, and Keras then starts its optimizer afresh, warning that the counts differ.

A state here is one variant's optax state in the layers' layout (Dense kernels (in, units)).
"""
import numpy as np


class SlotShapeError(ValueError):
    """args: (index in optimizer/vars, expected shape, received shape)."""


def _slots(optimizer, state):
    """[(kind, tree)] of the optax state's per-weight trees in Keras' order of kinds, or None."""
    name = type(optimizer).__name__
    inner = state.inner_state
    if name in ("Adam", "AdamW") and not getattr(optimizer, "amsgrad", False):
        return [("interleave", (inner[0].mu, inner[0].nu))]
    if name == "SGD":
        lr = float(optimizer.learning_rate)
        return [("each", (inner[0].trace, -lr))] if optimizer.momentum else []
    if name == "RMSprop" and not optimizer.centered:
        return [("each", (inner[0].nu, 1.0))] + ([("each", (inner[2].trace, -1.0))] if optimizer.momentum else [])
    if name == "Adagrad":
        return [("each", (inner[0].sum_of_squares, 1.0))]
    return None


def to_keras(optimizer, state, trainable) -> list:
    """Keras' variable list for `state`; only [iterations, learning_rate] when not mapped."""
    head = [np.asarray(int(state.count), np.int64), np.asarray(float(optimizer.learning_rate), np.float32)]
    slots = _slots(optimizer, state)
    if not slots:
        return head
    out = list(head)
    for kind, spec in slots:
        if kind == "interleave":
            for i, n in trainable:
                out += [np.asarray(t[i][n], np.float32) for t in spec]
        else:
            tree, scale = spec
            out += [np.asarray(tree[i][n], np.float32) * np.float32(scale) for i, n in trainable]
    return out


def expected_count(optimizer, state, trainable):
    slots = _slots(optimizer, state)
    if slots is None:
        return 2
    return 2 + sum(len(trainable) * (len(v) if k == "interleave" else 1) for k, v in slots)


def from_keras(optimizer, fresh, arrays, trainable):
    """`fresh` (optax's init for the model's weights) holding the state in Keras' `arrays`, or None
    when the list does not fit this optimizer (an unbuilt Keras optimizer writes 2 variables).
    Raises SlotShapeError(index, expected shape, received shape) for a slot of the wrong shape."""
    slots = _slots(optimizer, fresh)
    if slots is None or len(arrays) != expected_count(optimizer, fresh, trainable) or len(arrays) == 2:
        return None
    count = int(np.asarray(arrays[0]))
    trees, values, k = {}, {}, 2  # id(tree) -> tree; id(tree) -> {(i, n): array}
    for kind, spec in slots:
        group = spec if kind == "interleave" else (spec[0],)
        scale = None if kind == "interleave" else spec[1]
        for i, n in trainable:
            for tree in group:
                a = np.asarray(arrays[k], np.float32)
                if a.shape != np.shape(tree[i][n]):
                    raise SlotShapeError(k, np.shape(tree[i][n]), a.shape)
                trees[id(tree)] = tree
                values.setdefault(id(tree), {})[(i, n)] = a / np.float32(scale) if scale not in (None, 1.0) else a
                k += 1
    replaced = {key: _put(trees[key], values[key]) for key in values}

    def swap(node):
        return replaced.get(id(node), node)

    inner = tuple(_map_fields(s, swap) for s in fresh.inner_state)
    inner = tuple(s._replace(count=np.asarray(count, np.asarray(s.count).dtype)) if "count" in getattr(s, "_fields", ()) else s
                  for s in inner)
    return fresh._replace(count=np.asarray(count, np.asarray(fresh.count).dtype), inner_state=inner)


def _put(tree, values):
    return [{n: values.get((i, n), np.asarray(a)) for n, a in p.items()} for i, p in enumerate(tree)]


def _map_fields(named, fn):
    if not hasattr(named, "_fields"):
        return named
    return named._replace(**{f: fn(getattr(named, f)) for f in named._fields})

