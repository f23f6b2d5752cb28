"""Where fit() trains its compile groups: here, on this machine's cores (the default), or on Ray.
See layerlab.backends.base for the contract every backend keeps."""
from layerlab.errors import ConfigError

from .local import Local
from .ray import BackendWarning, Ray, RayNotInstalled

BACKENDS = ("local", "ray")
BAD_BACKEND = ("fit: backend: expected one of {valid}, None, layerlab.backends.Local(...), "
               "layerlab.backends.Ray(...) or an object with train(groups, make_job, data); received "
               "{received!r}. Pass backend='ray' to train on Ray, or leave it out to train here.")

__all__ = ["BACKENDS", "BackendWarning", "Local", "Ray", "RayNotInstalled", "get"]


def get(backend):
    """A Local or a Ray backend from fit's `backend=` (None, 'local', 'ray' or an instance)."""
    if backend is None or (isinstance(backend, str) and backend == "local"):
        return Local()
    if isinstance(backend, (Local, Ray)) or callable(getattr(backend, "train", None)):
        return backend  # any object keeping the contract of layerlab.backends.base
    if isinstance(backend, str) and backend == "ray":
        return Ray()
    raise ConfigError(BAD_BACKEND.format(valid=list(BACKENDS), received=backend))
