"""One exception family for bad input, so callers can catch layerlab's complaints in one place.

Every message is one line: which argument, what was expected, what was received, how to fix it.
"""


class LayerlabError(Exception):
    """Base class of the errors layerlab raises for bad input."""


class ConfigError(LayerlabError, ValueError):
    """An argument, a study file or a model definition is not valid."""


class DatasetError(LayerlabError, OSError):
    """A dataset file is missing, corrupt, or cannot be found anywhere layerlab looks."""


class StoreError(LayerlabError, OSError):
    """The run store cannot be opened, read or written (missing, not a store, too new, disk full)."""


class BackendWarning(UserWarning):
    """Something a backend recovered from, such as a Ray worker that died and was replaced."""


class StoreWarning(UserWarning):
    """Something the store recovered from, such as a checkpoint that failed its checksum."""
