"""Where fit() trains its compile groups: here, on this machine's cores (the default), or on Ray.

    model.fit(x, y, epochs=5, backend=layerlab.backends.Local(workers=1))     # one group at a time
    model.fit(x, y, epochs=5, backend="ray")                                  # Ray here, or $RAY_ADDRESS
    model.fit(x, y, epochs=5, backend=layerlab.backends.Ray(address="auto"))  # a running cluster

Either way the recorder (the run store) gets every epoch as it finishes, and a variant's result
does not depend on the backend: a run trained on one can be resumed on the other.
"""
from layerlab.errors import ConfigError

from .local import Local
from .ray import BackendWarning, Ray, RayNotInstalled

BACKENDS = ("local", "ray")
BAD_BACKEND = ("fit: backend: expected one of {valid}, None, layerlab.backends.Local(...) or "
               "layerlab.backends.Ray(...); received "
               "{received!r}. Pass backend='ray' to train on Ray, or leave it out to train here.")

__all__ = ["BACKENDS", "BackendWarning", "Local", "Ray", "RayNotInstalled", "get"]


def get(backend):
    """A Local or a Ray backend (layerlab.training calls its train())."""
    if backend is None or (isinstance(backend, str) and backend == "local"):
        return Local()
    if isinstance(backend, Local):
        return backend
    if isinstance(backend, str) and backend == "ray":
        return Ray()
    if isinstance(backend, Ray):
        return backend
    raise ConfigError(BAD_BACKEND.format(valid=list(BACKENDS), received=backend))
