"""Marking a setting as a sweep, and expanding sweeps into variants.

`sweep([...])` stands in for any argument's value. A model, an optimizer and fit() may hold
several; together they form a grid (every combination), or an explicit list of combinations.

>>> import layerlab
>>> layerlab.sweep([0.0, 0.2, 0.4])
sweep([0.0, 0.2, 0.4])
"""
import itertools
import math
from collections.abc import Iterable

from layerlab._json import scalar
from layerlab.errors import ConfigError

EMPTY_SWEEP = ("sweep: expected a non-empty list of values; received {received!r}. "
               "Pass the values to compare, e.g. layerlab.sweep([0.0, 0.2, 0.4]).")
DUPLICATE_VALUES = ("sweep: expected distinct values; received {received!r}. "
                    "Remove the repeated values (use repeats= or a seed sweep to repeat a run).")


class Sweep:
    """The values one setting takes across the variants of a comparison."""

    __slots__ = ("values",)

    def __init__(self, values):
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ConfigError(EMPTY_SWEEP.format(received=values))
        values = tuple(scalar(v) for v in values)
        if not values:
            raise ConfigError(EMPTY_SWEEP.format(received=list(values)))
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(DUPLICATE_VALUES.format(received=list(values)))
        self.values = values

    def __repr__(self):
        return f"sweep({list(self.values)!r})"

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def __eq__(self, other):
        return isinstance(other, Sweep) and self.values == other.values

    def __hash__(self):
        return hash(self.values)

    def to_config(self):
        return {"sweep": list(self.values)}


def sweep(values) -> Sweep:
    """Marks a setting as compared across values: `Dropout(layerlab.sweep([0.0, 0.2]))`."""
    return Sweep(values)


def is_sweep(value) -> bool:
    return isinstance(value, Sweep)


def from_config(value):
    """The inverse of Sweep.to_config for values read from JSON or TOML."""
    if isinstance(value, dict) and set(value) == {"sweep"}:
        return Sweep(value["sweep"])
    return value


def check_each(value, check):
    """Runs `check` on a plain value or on every value of a sweep; returns the value unchanged."""
    for v in (value.values if isinstance(value, Sweep) else (value,)):
        check(v)
    return value


UNKNOWN_COMBINATION_KEY = ("combinations[{index}]: expected keys among the swept settings "
                           "{valid}; received {received!r}. Name only settings marked with "
                           "layerlab.sweep().")
MISSING_COMBINATION_KEY = ("combinations[{index}]: expected a value for every swept setting "
                           "{valid}; {missing!r} is missing. Give each combination all of them.")
NOT_A_SWEPT_VALUE = ("combinations[{index}].{key}: expected one of the swept values {valid}; "
                     "received {received!r}. Add the value to the sweep or fix the combination.")


def expand(sweeps: dict, combinations=None) -> list[dict]:
    """Variants as dicts {location: value}: the grid of `sweeps`, or the listed combinations.

    The grid's order is the sweeps' order, the last one varying fastest (like nested loops).
    """
    keys = list(sweeps)
    if combinations is None:
        return [dict(zip(keys, combo)) for combo in itertools.product(*(sweeps[k].values for k in keys))]
    out = []
    for i, combo in enumerate(combinations):
        unknown = [k for k in combo if k not in sweeps]
        if unknown:
            raise ConfigError(UNKNOWN_COMBINATION_KEY.format(index=i, valid=keys, received=unknown[0]))
        missing = [k for k in keys if k not in combo]
        if missing:
            raise ConfigError(MISSING_COMBINATION_KEY.format(index=i, valid=keys, missing=missing[0]))
        for k in keys:
            if not any(_same(combo[k], v) for v in sweeps[k].values):
                raise ConfigError(NOT_A_SWEPT_VALUE.format(index=i, key=k, valid=list(sweeps[k].values),
                                                           received=combo[k]))
        out.append({k: scalar(combo[k]) for k in keys})
    return out


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=0, abs_tol=0)
        except (TypeError, ValueError):
            return False
    return a == b
