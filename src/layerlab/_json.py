"""Plain JSON values from what layerlab computes: the one converter configs, specs and reports use.

>>> import numpy as np
>>> plain({"rate": np.float32(0.5), "shape": (28, 28), "best": float("nan")})
{'rate': 0.5, 'shape': [28, 28], 'best': None}
"""
import math

import numpy as np


def plain(value):
    """numpy scalars -> Python numbers, tuples -> lists, NaN/inf and pandas' NA -> None, recursively.

    Dict keys become strings, as JSON's are. Anything else is returned as it is (json.dumps then
    says what it cannot write)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if type(value).__name__ == "NAType":  # pandas.NA, without importing pandas here
        return None
    return value
