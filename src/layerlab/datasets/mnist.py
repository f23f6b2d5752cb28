"""MNIST handwritten digits (LeCun, Cortes & Burges): 60,000 training and 10,000 test images.

Drop-in for keras.datasets.mnist.load_data, but it searches the folders layerlab knows (see
layerlab.datasets._locate) before downloading, and verifies every file's SHA-256.
"""

from __future__ import annotations

from ._load import Split, load

CLASS_NAMES = tuple(str(digit) for digit in range(10))  # label i is the digit i


def load_data(data_dir=None, path=None) -> Split:
    """Load MNIST as ((x_train, y_train), (x_test, y_test)).

    x_train: uint8 (60000, 28, 28), y_train: uint8 (60000,) in 0-9;
    x_test:  uint8 (10000, 28, 28), y_test:  uint8 (10000,).
    Each call returns fresh writable copies.

    Args:
        data_dir: a folder holding the four IDX files (.gz or uncompressed), or holding mnist/.
            None searches $LAYERLAB_DATA/mnist, ~/.cache/layerlab/mnist, Keras' cache and
            /usr/share/datasets/mnist, then downloads into layerlab's cache unless
            LAYERLAB_OFFLINE=1. A string ending in ".npz" is taken as `path` (Keras' argument).
        path: an .npz with x_train, y_train, x_test, y_test (Keras' mnist.npz; a relative
            path is tried in the working folder, then in ~/.keras/datasets), used if it exists.

    Raises:
        DatasetError: a file is corrupt or truncated, or no copy is found or downloadable.
        ConfigError: data_dir or path is not a usable argument.

    >>> from layerlab.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
    >>> x_train.shape, x_train.dtype, y_test.shape
    ((60000, 28, 28), dtype('uint8'), (10000,))
    >>> y_train[:5].tolist()
    [5, 0, 4, 1, 9]
    """
    return load("mnist", data_dir, path)
