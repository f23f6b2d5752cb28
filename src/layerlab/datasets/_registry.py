"""What each dataset is: its four files, their checksums and shapes, and where to download them.

Checksums are SHA-256 of the *decompressed* IDX files (header included). Copies differ in their
gzip wrappers (Debian and layerlab's shared/ recompressed theirs), but every correct copy has the
same decompressed bytes, so this is the one hash that identifies the data.
Sources: /work/shared/datasets/README.md, checked against the files there and against Debian's
dataset-fashion-mnist package.
"""

from __future__ import annotations

from typing import NamedTuple


class FileSpec(NamedTuple):
    role: str  # which array of load_data: "x_train", "y_train", "x_test" or "y_test"
    name: str  # uncompressed file name; the compressed one adds ".gz"
    shape: tuple[int, ...]
    sha256: str  # of the decompressed file
    dtype: str = "uint8"


class DatasetSpec(NamedTuple):
    name: str  # Python name: layerlab.datasets.<name>
    dirname: str  # folder name under LAYERLAB_DATA, layerlab's cache and /usr/share/datasets
    files: tuple[FileSpec, ...]  # in load_data's order: x_train, y_train, x_test, y_test
    urls: tuple[str, ...]  # mirrors serving "<file name>.gz", tried in order
    keras_subdir: str  # folder of the .gz files under ~/.keras/datasets ("" = the folder itself)
    npz_name: str | None = None  # a Keras-style .npz holding all four arrays, if one exists
    npz_url: str | None = None
    npz_sha256: str | None = None  # of the .npz file itself (Keras' published checksum)
    hint: str = ""  # one more way to get the files, for the not-found message


def _files(train_x: str, train_y: str, test_x: str, test_y: str) -> tuple[FileSpec, ...]:
    # MNIST and Fashion-MNIST share names and shapes: 28x28 uint8 images, uint8 labels 0-9.
    return (
        FileSpec("x_train", "train-images-idx3-ubyte", (60000, 28, 28), train_x),
        FileSpec("y_train", "train-labels-idx1-ubyte", (60000,), train_y),
        FileSpec("x_test", "t10k-images-idx3-ubyte", (10000, 28, 28), test_x),
        FileSpec("y_test", "t10k-labels-idx1-ubyte", (10000,), test_y),
    )


MNIST = DatasetSpec(
    name="mnist",
    dirname="mnist",
    files=_files(
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    # torchvision's mirror; yann.lecun.com now refuses downloads.
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    keras_subdir="",
    npz_name="mnist.npz",
    npz_url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    npz_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    hint="or copy Keras' mnist.npz to ~/.keras/datasets/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    dirname="fashion-mnist",
    files=_files(
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    urls=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' source
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's
    ),
    keras_subdir="fashion-mnist",
    hint="or run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)",
)

# Looked up at call time, so tests may swap in tiny fake datasets with monkeypatch.setitem.
REGISTRY: dict[str, DatasetSpec] = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}


def identify(sha256: str) -> str:
    """Name the registered file whose decompressed SHA-256 is `sha256`, or "".

    Turns "checksum mismatch" into "this is Fashion-MNIST's train-images", the usual mix-up.

    >>> identify(MNIST.files[1].sha256)
    "mnist's train-labels-idx1-ubyte"
    """
    for spec in REGISTRY.values():
        for f in spec.files:
            if f.sha256 == sha256:
                return f"{spec.name}'s {f.name}"
    return ""
