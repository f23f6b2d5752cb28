"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747): Zalando's article images.

Same layout as MNIST (60,000 + 10,000 28x28 uint8 images, labels 0-9), harder to classify.
Drop-in for keras.datasets.fashion_mnist.load_data; Debian and Ubuntu ship the files:
`apt-get install dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist/.
"""

from __future__ import annotations

from ._load import Split, load

# Label i is CLASS_NAMES[i] (the order of the Fashion-MNIST paper and Keras' docs).
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def load_data(data_dir=None, path=None) -> Split:
    """Load Fashion-MNIST as ((x_train, y_train), (x_test, y_test)).

    x_train: uint8 (60000, 28, 28), y_train: uint8 (60000,) in 0-9;
    x_test:  uint8 (10000, 28, 28), y_test:  uint8 (10000,).
    Each call returns fresh writable copies.

    Args:
        data_dir: a folder holding the four IDX files (.gz or uncompressed), or holding
            fashion-mnist/. None searches $LAYERLAB_DATA/fashion-mnist,
            ~/.cache/layerlab/fashion-mnist, ~/.keras/datasets/fashion-mnist and
            /usr/share/datasets/fashion-mnist, then downloads into layerlab's cache unless
            LAYERLAB_OFFLINE=1.
        path: an .npz with x_train, y_train, x_test, y_test, used if it exists.

    Raises:
        DatasetError: a file is corrupt or truncated, or no copy is found or downloadable.
        ConfigError: data_dir or path is not a usable argument.

    >>> from layerlab.datasets import fashion_mnist
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    >>> x_train.shape, x_test.shape
    ((60000, 28, 28), (10000, 28, 28))
    >>> fashion_mnist.CLASS_NAMES[y_train[0]]
    'Ankle boot'
    """
    return load("fashion_mnist", data_dir, path)
