"""The dataset, seen: a grid of samples per class, the class counts, the pixel-value histogram,
each class's mean image, and one image with its 28x28 values written in the cells (the
series' "look closer" view). MNIST's classes are digits; Fashion-MNIST's are named.

>>> from layerlab.figures import dataset_figures
>>> dataset_figures("fashion_mnist", split="test").save("out/fashion")      # doctest: +SKIP
"""
import numpy as np
from matplotlib.figure import Figure

from layerlab.datasets import _load, _registry, fashion_mnist
from layerlab.errors import ConfigError
from layerlab.figures.curves import Figures  # also chooses Agg when there is no display

SPLITS = ("train", "test")
PER_CLASS = 10  # samples per class in the grid: the first ones of each class in the split
UNKNOWN_DATASET = ("datasets show: name: expected one of {valid}; received {received!r}. "
                   "`layerlab datasets` lists them.")
BAD_SPLIT = "datasets show: split: expected 'train' or 'test'; received {received!r}. Pass split='test'."


def load_split(name, split="train"):
    """(x uint8 (n, 28, 28), y (n,), class names) of a registered dataset's split."""
    name = name.replace("-", "_")
    if name not in _registry.REGISTRY:
        raise ConfigError(UNKNOWN_DATASET.format(valid=", ".join(sorted(_registry.REGISTRY)), received=name))
    if split not in SPLITS:
        raise ConfigError(BAD_SPLIT.format(received=split))
    (x, y), (xt, yt) = _load.load(name)
    names = list(fashion_mnist.CLASS_NAMES) if name == "fashion_mnist" else [str(c) for c in range(10)]
    return (x, y, names) if split == "train" else (xt, yt, names)


def samples_figure(x, y, names, per_class=PER_CLASS):
    """One row per class: its first `per_class` images, the class name at the left."""
    C = len(names)
    fig = Figure(figsize=(per_class * 0.9 + 1.2, C * 0.9), layout="constrained")
    axes = fig.subplots(C, per_class, squeeze=False)
    for c in range(C):
        chosen = np.flatnonzero(y == c)[:per_class]
        for k, ax in enumerate(axes[c]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if k < len(chosen):
                ax.imshow(x[chosen[k]], cmap="gray", vmin=0, vmax=255)
        axes[c, 0].set_ylabel(names[c], rotation=0, ha="right", va="center")
    return fig


def counts_figure(y, names, title):
    counts = np.bincount(y, minlength=len(names))
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(len(names)), counts)
    for c, n in enumerate(counts):
        ax.text(c, n, f"{n:,}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_ylabel("images")
    ax.set_title(f"{title}: {len(y):,} images by class")
    ax.tick_params(direction="in")
    return fig


def histogram_figure(x, title):
    """How often each pixel value 0-255 occurs (log scale: the black background dominates)."""
    counts = np.bincount(np.asarray(x, np.uint8).ravel(), minlength=256)
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(256), counts, width=1.0)
    ax.set_yscale("log")
    ax.set_xlim(-1, 256)
    ax.set_xlabel("pixel value (0 = black, 255 = white)")
    ax.set_ylabel("pixels")
    ax.set_title(f"{title}: pixel values ({counts[0] / counts.sum():.0%} are 0)")
    ax.tick_params(direction="in")
    return fig


def means_figure(x, y, names):
    """Each class's mean image."""
    fig = Figure(figsize=(len(names) * 1.2, 1.8), layout="constrained")
    for c, ax in enumerate(fig.subplots(1, len(names), squeeze=False)[0]):
        ax.imshow(x[y == c].mean(axis=0) if np.any(y == c) else np.zeros(x.shape[1:]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(names[c], fontsize=8)
        ax.set_axis_off()
    return fig


def closer_figure(image, label):
    """One image with each pixel's value (0-255) written in its cell."""
    image = np.asarray(image)
    fig = Figure(figsize=(11, 11), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    for (r, c), v in np.ndenumerate(image):
        ax.text(c, r, str(int(v)), ha="center", va="center", fontsize=5.5, color="black" if v > 127 else "white")
    ax.set_xticks(range(image.shape[1]))
    ax.set_yticks(range(image.shape[0]))
    ax.tick_params(labelsize=6)
    ax.set_title(f"label {label}: {image.shape[0]}x{image.shape[1]} pixel values")
    return fig


def dataset_figures(name="mnist", split="train", index=0) -> Figures:
    """Every view of a dataset's split by file name; `index` picks the "look closer" image."""
    x, y, names = load_split(name, split)
    title = f"{name.replace('-', '_')} {split}"
    return Figures({"samples": samples_figure(x, y, names), "class_counts": counts_figure(y, names, title),
                    "pixel_histogram": histogram_figure(x, title), "class_means": means_figure(x, y, names),
                    "look_closer": closer_figure(x[index], names[int(y[index])])})


def dataset_summary(name="mnist", split="train") -> dict:
    """Plain numbers: images, size, each class's count and the pixel values' statistics."""
    x, y, names = load_split(name, split)
    counts = np.bincount(y, minlength=len(names))
    return {"dataset": name.replace("-", "_"), "split": split, "images": len(x), "shape": list(x.shape[1:]),
            "classes": [{"class": c, "label": names[c], "count": int(counts[c])} for c in range(len(names))],
            "pixels": {"min": int(x.min()), "max": int(x.max()), "mean": round(float(x.mean()), 4),
                       "zero_fraction": round(float(np.mean(x == 0)), 4)}}


__all__ = ["BAD_SPLIT", "SPLITS", "UNKNOWN_DATASET", "closer_figure", "counts_figure", "dataset_figures",
           "dataset_summary", "histogram_figure", "load_split", "means_figure", "samples_figure"]
