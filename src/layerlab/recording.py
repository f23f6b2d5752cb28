"""The recorder protocol: what fit() tells an observer of a run as it trains.

Training calls it; layerlab's run store (layerlab.store.StoreRecorder) implements it, and so can
anything else (the tests keep runs in memory). It lives below both, so neither imports the other
for it: the seam that Keras callbacks will hang on too. fit(store=...) takes a recorder, or a store path or Store for which
it opens a StoreRecorder. A recorder only observes and persists: it never changes the numbers,
except that on resume it hands back where each group stopped.
"""
from typing import Any, NamedTuple, Protocol


class Resumed(NamedTuple):
    """Where a compile group continues: nothing recorded yet is Resumed(0, None, None)."""

    done: int          # epochs recorded already
    leaves: Any        # the group's state leaves (numpy) after epoch `done`, or None
    history: Any       # {metric: array (len(order), done)}, or None
    extras: Any = None  # {name: array} recorded beside the state (the callbacks' state), or None


FRESH = Resumed(0, None, None)


class Recorder(Protocol):
    """Hooks fit() calls, in this order (group hooks of different groups may interleave)."""

    def start(self, *, model, variants, groups, fit_args, metric_names, name) -> None:
        """Once, before training: the model, its variants (dicts of settings), the compile groups
        (lists of variant indices), fit's settings, the metric names and the run's name (fit's
        `name=`, or None)."""

    def group_start(self, group: int, order: list) -> Resumed:
        """Before a group trains: `order` lists its variant indices in the engine's layout."""

    def epoch_end(self, group: int, epoch: int, row: dict, state) -> None:
        """After each epoch of a whole group: row[name] is an array over `order`; state() returns
        the group's state (params, optimizer state) as numpy arrays. With callbacks, fit passes
        `extras=` too ({name: array}: their state, to hand back as Resumed.extras on resume);
        a variant they stopped has NaN in every metric from then on."""

    def finish(self, status: str, metrics: dict) -> None:
        """At the end: status 'finished', or 'interrupted' when an exception ends the fit (it is
        called from fit's `finally`, so sys.exc_info() tells which)."""


def is_recorder(value) -> bool:
    return all(callable(getattr(value, hook, None)) for hook in ("start", "group_start", "epoch_end", "finish"))
