"""Datasets as numpy arrays, found locally or downloaded once, always checksum-verified.

    >>> from layerlab.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # like keras.datasets.mnist

Where files are looked for, and in which order: see layerlab.datasets._locate.
`describe()` reports, per dataset, where it was found and whether its checksums match.
Environment: LAYERLAB_DATA (a folder holding mnist/ and fashion-mnist/), LAYERLAB_OFFLINE=1
(never download), XDG_CACHE_HOME and KERAS_HOME (cache locations; layerlab's is in _cache).
A relative LAYERLAB_DATA is read against the working folder at the moment the data is looked
for, as any relative path a program is given; a script that changes folder before loading
should set it to an absolute path (the tests resolve it once, at start, in tests/conftest.py).
"""

from . import fashion_mnist, mnist
from ._load import clear_cache, describe

__all__ = ["clear_cache", "describe", "fashion_mnist", "mnist"]
