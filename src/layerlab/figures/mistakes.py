"""What a variant gets wrong, drawn: its confusion matrix (counts, and normalised by true class),
galleries of misclassified images (most confident first), two variants compared (what each gets
right that the other misses, the difference of their confusion matrices), the hard core, and one
picture's prediction as the article's softmax bars.

>>> from layerlab.figures import inspection_figures
>>> m = result.mistakes(x_test, y_test)                                        # doctest: +SKIP
>>> inspection_figures(m, x_test, variant=1, vs=0).save("out/inspect")         # doctest: +SKIP
"""
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure

from layerlab.figures.curves import Figures  # also chooses Agg when there is no display

GALLERY = 40  # images per gallery, most confident mistakes first
_STROKE = [patheffects.Stroke(linewidth=3, foreground="white"), patheffects.Normal()]


def _matrix(ax, values, names, title, fmt, cmap, vmin=None, vmax=None):
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    C = len(names)
    ax.set_xticks(range(C), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(C), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(C):
        for j in range(C):
            v = values[i, j]
            if np.isfinite(v) and v != 0:
                ax.text(j, i, fmt(v), ha="center", va="center", fontsize=7).set_path_effects(_STROKE)
    return image


def confusion_figure(m, variant):
    """Variant's confusion matrix: counts (left) and normalised by true class (right, rows sum to 1)."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    left, right = fig.subplots(1, 2)
    _matrix(left, m.confusion(variant), m.class_names, "counts", lambda v: f"{int(v)}", "Blues")
    image = _matrix(right, m.normalized(variant), m.class_names, "share of each true class",
                    lambda v: f"{v:.2f}", "Blues", 0, 1)
    fig.colorbar(image, ax=right, shrink=0.8)
    fig.suptitle(f"{m.labels[variant]}: accuracy {m.accuracy(variant):.4f}, "
                 f"{int((~m.correct[variant]).sum())} of {m.y.size} wrong")
    return fig


def per_class_figure(m, variant):
    """Per class: precision and recall (accuracy on that class) as grouped bars."""
    per = m.per_class(variant)
    C = m.classes
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(C) - 0.2, per["recall"], 0.4, label="recall (accuracy on the class)")
    ax.bar(np.arange(C) + 0.2, per["precision"], 0.4, label="precision")
    low = np.nanmin(np.concatenate([per["recall"], per["precision"]]))
    ax.set_ylim(max(0.0, low - 0.05) if np.isfinite(low) else 0.0, 1.0)
    ax.set_xticks(range(C), m.class_names)
    ax.tick_params(direction="in")
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(f"{m.labels[variant]}: per class")
    return fig


def gallery_figure(x, entries, names, title, limit=GALLERY, columns=10):
    """A grid of images, each titled 'true -> predicted (confidence)'; entries as Mistakes gives them."""
    entries = list(entries)[:limit]
    rows = max(1, -(-len(entries) // columns))
    fig = Figure(figsize=(columns * 1.25, rows * 1.45 + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, e in zip(axes, entries):
        ax.imshow(np.asarray(x[e["index"]]).reshape(28, 28), cmap="gray_r", vmin=0, vmax=max(1.0, float(x.max())))
        ax.set_title(f"#{e['index']}\n{names[e['true']]} → {names[e['predicted']]} ({e['confidence']:.2f})",
                     fontsize=7)
    if not entries:
        axes[0].text(0, 0.5, "none", fontsize=12)
    fig.suptitle(title)
    return fig


def difference_figure(m, a, b):
    """confusion(b) - confusion(a): blue where b puts more images (the diagonal: more right)."""
    diff = m.compare(a, b)["confusion_difference"].astype(np.float64)
    span = max(1.0, np.abs(diff).max())
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    image = _matrix(ax, diff, m.class_names, f"{m.labels[b]} minus {m.labels[a]} (counts)",
                    lambda v: f"{int(v):+d}", "RdBu", -span, span)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def inspection_figures(m, x, variant, vs=None, limit=GALLERY) -> Figures:
    """The figures of one variant (and its comparison with `vs`), by file name."""
    names, label = m.class_names, m.labels[variant]
    wrong = m.misclassified(variant)
    out = Figures({"confusion": confusion_figure(m, variant), "per_class": per_class_figure(m, variant),
                   "misclassified": gallery_figure(x, wrong, names, f"{label}: {len(wrong)} mistakes, "
                                                   f"the {min(limit, len(wrong))} most confident", limit)})
    core = m.hard_core()
    out["hard_core"] = gallery_figure(x, [m._entry(variant, i) for i in core], names,
                                      f"wrong in all {len(m)} variants: {core.size} images "
                                      f"(shown with {label}'s answer)", limit)
    if vs is not None:
        c = m.compare(variant, vs)
        other = m.labels[vs]
        out["right_only_in_variant"] = gallery_figure(
            x, c["a_only"], names, f"right in {label}, wrong in {other}: {len(c['a_only'])} ({other}'s answers)", limit)
        out["right_only_in_vs"] = gallery_figure(
            x, c["b_only"], names, f"right in {other}, wrong in {label}: {len(c['b_only'])} ({label}'s answers)", limit)
        out["confusion_difference"] = difference_figure(m, variant, vs)
    return out


def prediction_figure(gray, image, probabilities, names, title=""):
    """One picture: the original, the 28x28 input the model saw, and its probabilities as the
    article's softmax bars (values written on the bars, y from 0 to 1)."""
    p = np.asarray(probabilities, np.float64)
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    grid = fig.add_gridspec(1, 4)
    original, seen, bars = fig.add_subplot(grid[0]), fig.add_subplot(grid[1]), fig.add_subplot(grid[2:])
    original.imshow(gray, cmap="gray", vmin=0, vmax=1)
    original.set_title("your image")
    seen.imshow(image, cmap="gray", vmin=0, vmax=1)
    seen.set_title("what the model sees (28x28)")
    for ax in (original, seen):
        ax.set_xticks([])
        ax.set_yticks([])
    best = int(np.argmax(p))
    bars.bar(np.arange(len(p)), p, color=["tab:red" if c == best else "tab:blue" for c in range(len(p))])
    bars.set_ylim(0, 1)
    bars.set_xlim(-0.5, len(p) - 0.5)
    bars.set_xticks(range(len(p)), names[:len(p)], rotation=90 if max(map(len, names)) > 2 else 0)
    for c, v in enumerate(p):
        bars.text(c, max(v / 2, 0.06), f"{v:.2f}", ha="center", va="center", fontsize=8).set_path_effects(_STROKE)
    bars.set_ylabel("SoftMax(x)")
    bars.set_title(f"predicted: {names[best]} ({p[best]:.2f})")
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["GALLERY", "confusion_figure", "difference_figure", "gallery_figure", "inspection_figures",
           "per_class_figure", "prediction_figure"]
