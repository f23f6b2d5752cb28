"""Plain Python and JSON values from what layerlab computes: the one set of converters configs,
specs, stores and reports use.

>>> import numpy as np
>>> plain({"rate": np.float32(0.5), "shape": (28, 28), "best": float("nan")})
{'rate': 0.5, 'shape': [28, 28], 'best': None}
>>> python({"slope": np.float64("inf"), "shape": (28, 28)})
{'slope': inf, 'shape': [28, 28]}
"""
import math

import numpy as np


def scalar(value):
    """A numpy scalar as the Python number it holds (np.float32(0.2) -> 0.2); anything else as is."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def python(value):
    """numpy scalars -> Python numbers, tuples -> lists, recursively; every number kept as it is
    (a layer's config may hold inf). Dict keys become strings, as JSON's are."""
    if isinstance(value, dict):
        return {str(k): python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [python(v) for v in value]
    return scalar(value)


def plain(value):
    """python(value) ready for strict JSON: NaN, inf and pandas' NA become None, recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if type(value).__name__ == "NAType":  # pandas.NA, without importing pandas here
        return None
    value = scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def number(x):
    """A metric as a float for a row or a document, None for NaN (a diverged or missing epoch)."""
    x = float(x)
    return None if np.isnan(x) else x
