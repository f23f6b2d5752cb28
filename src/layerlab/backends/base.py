"""Where fit() trains its compile groups: the contract every backend keeps, and what they share.

    model.fit(x, y, epochs=5, backend=layerlab.backends.Local(workers=1))     # one group at a time
    model.fit(x, y, epochs=5, backend="ray")                                  # Ray here, or $RAY_ADDRESS
    model.fit(x, y, epochs=5, backend=layerlab.backends.Ray(address="auto"))  # a running cluster

A backend is any object with `train(groups, make_job, data)`: `groups` are the compile groups
(layerlab.variants.CompileGroup), `make_job(group, init=True)` builds a group's job
(layerlab.training builds them; the backends never import training), `data` is (x, y, x_val,
y_val) as numpy arrays (the validation pair may be None). It trains each job epoch by epoch
through layerlab.engine, and after each epoch of a whole group calls `job.epoch_end(epoch, row,
state, seconds)`, in epoch order, and `job.finish(state)` after the last. A job carries what a
backend needs:

    job.group     the CompileGroup (index, streams: the (S, R) layout of its variant indices)
    job.order     the group's variant indices in that layout, row-major (how rows are ordered)
    job.program   the group's engine.Program; job.hp, job.keys: its (S, R) numbers and (S,) keys
    job.state     the engine state to start from; with make_job(group, init=False) None unless
                  there is one to continue (the backend then draws initial weights itself)
    job.offset    epochs trained before this fit (the random draws continue from there)
    job.done      epochs a resumed run has recorded already; job.epochs: epochs in all
    job.names     the metrics to report; job.recording: whether epoch_end wants the state
    job.treedef() the structure of the group's state
    job.steered   whether callbacks act between epochs: then a slice trains epoch e only after the
                  group's epoch e-1 went through epoch_end, and first takes `state, hp =
                  job.steer(state, hp, part)` (part(a) cuts a (S, R) array to the slice)
    job.finished  True once callbacks stopped every variant: the group ends there (finish it)

Either way every epoch is recorded as it finishes, and a variant's result does not depend on
the backend: a run trained on one can be resumed on the other.
"""
from typing import Any, NamedTuple

import numpy as np


class EpochDone(NamedTuple):
    """One epoch of one slice of a group, on its way to the thread that records it."""

    slice: Any           # the slice that trained it (its .index is its place in the group)
    epoch: int
    row: Any             # metric name -> array over the slice's variants; or the exception raised
    leaves: list | None  # the slice's state as numpy arrays, when the job is recording
    seconds: float | None


def slices(n, k):
    """k contiguous [a, b) ranges of n streams (or variants), as equal as can be:
    slices(5, 2) == [(0, 2), (2, 5)]. The Ray backend cuts its groups with it too."""
    edges = [i * n // k for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]


class Joined:
    """A group trained as slices: keeps each slice's epochs until every slice has one, then hands
    the group's whole epoch to its job (metrics, recorder, progress) and after the last finishes
    it. Both backends use it. `axis`: 0 for slices of streams, 1 for slices of one stream's
    variants; subclasses set `slices` (each with an `index`) and define finish(leaves)."""

    def __init__(self, job, axis):
        self.job, self.axis, self.next, self.pending = job, axis, job.done, {}  # pending: epoch -> {index: part}

    def received(self, done: "EpochDone"):
        """Keeps a slice's epoch (done.row: metric -> array over its variants; done.leaves: its
        state as numpy, or None); hands on every epoch that all slices have now reached."""
        self.pending.setdefault(done.epoch, {})[done.slice.index] = done
        while len(self.pending.get(self.next, ())) == len(self.slices):
            parts = [self.pending[self.next][i] for i in range(len(self.slices))]
            del self.pending[self.next]
            row = {k: np.concatenate([p.row[k] for p in parts], axis=self.axis).reshape(-1) for k in parts[0].row}
            state = self.join([p.leaves for p in parts])
            self.job.epoch_end(self.next, row, lambda state=state: state, max(p.seconds for p in parts))
            self.next += 1
            if self.next == self.job.epochs or self.job.finished:
                self.finish(state)
                return

    def join(self, leaves):
        """The group's state leaves from its slices' (None where the slices sent none)."""
        if leaves[0] is None or len(leaves) == 1:
            return leaves[0]
        return [np.concatenate(a, axis=self.axis) for a in zip(*leaves)]
