"""What each variant gets wrong: confusion matrices, per-class precision and recall, the
misclassified images (most confident first), two variants compared, and the hard core that
every variant misses. Plain numpy over the predictions; computing them is training's job
(one compiled program per compile group, `SweepResult.predict`).

>>> m = result.mistakes(x_test, y_test)                       # doctest: +SKIP
>>> m.confusion(0)[7, 2]          # sevens variant 0 calls two  # doctest: +SKIP
>>> m.compare(0, 1)["b_only"][:5]  # right in 1, wrong in 0    # doctest: +SKIP
>>> len(m.hard_core())                                         # doctest: +SKIP
"""
import numpy as np

from layerlab.errors import ConfigError

BAD_PROBABILITIES = ("mistakes: probabilities: expected an array (variants, samples, classes); received shape "
                     "{shape}. Pass what SweepResult.predict(x) returns.")
BAD_LABELS = ("mistakes: y: expected {n} integer labels from 0 to {last}, one per sample; received {received}. "
              "Pass the labels of the images that were predicted.")
BAD_VARIANT = ("mistakes: variant: expected an index from 0 to {last}; received {received!r}. "
               "Pass one of the sweep's variants (result.label(i) names them).")


def _plain(x):
    """A float for JSON: NaN (an undefined precision) becomes None."""
    x = float(x)
    return None if np.isnan(x) else round(x, 6)


class Mistakes:
    """Predictions of every variant on one labelled set, and what they get wrong.

    probabilities: (V, n, C) outputs; y: (n,) true classes; labels: a name per variant
    ('rate=0.2'); class_names: a name per class ('7', or 'Sneaker' for Fashion-MNIST);
    description: which images these are ('mnist: the first 10000 test images').
    """

    def __init__(self, probabilities, y, labels=None, class_names=None, description="the given images"):
        p = np.asarray(probabilities, np.float64)
        if p.ndim != 3 or p.shape[1] == 0:
            raise ConfigError(BAD_PROBABILITIES.format(shape=p.shape))
        y = np.asarray(y)
        V, n, C = p.shape
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= C:
            raise ConfigError(BAD_LABELS.format(n=n, last=C - 1, received=f"shape {y.shape}, dtype {y.dtype}"))
        self.probabilities, self.y = p, y.astype(np.int64)
        self.predicted = p.argmax(axis=2)                          # (V, n)
        self.confidence = p.max(axis=2)                            # (V, n) the predicted class's probability
        self.correct = self.predicted == self.y[None, :]           # (V, n)
        self.labels = list(labels) if labels is not None else [f"variant {i}" for i in range(V)]
        self.class_names = [str(c) for c in (class_names if class_names is not None else range(C))]
        self.description = description

    def __len__(self):
        return self.probabilities.shape[0]

    @property
    def classes(self):
        return self.probabilities.shape[2]

    def _check(self, v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(self):
            raise ConfigError(BAD_VARIANT.format(last=len(self) - 1, received=v))
        return int(v)

    def accuracy(self, v) -> float:
        return float(self.correct[self._check(v)].mean())

    def confusion(self, v) -> np.ndarray:
        """(C, C) counts: row = true class, column = predicted class."""
        v, C = self._check(v), self.classes
        return np.bincount(self.y * C + self.predicted[v], minlength=C * C).reshape(C, C)

    def normalized(self, v) -> np.ndarray:
        """The confusion matrix divided by each true class's count (rows sum to 1; NaN if absent)."""
        counts = self.confusion(v).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts / counts.sum(axis=1, keepdims=True)

    def per_class(self, v) -> dict:
        """Per class: support (true images), accuracy on that class (= recall), precision and recall."""
        counts = self.confusion(v).astype(np.float64)
        hits, support, called = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall, precision = hits / support, hits / called
        return {"support": support.astype(np.int64), "accuracy": recall, "precision": precision, "recall": recall}

    def misclassified(self, v, limit=None) -> list:
        """The images variant v gets wrong, most confident first (ties by index):
        [{'index', 'true', 'predicted', 'confidence'}, ...]."""
        v = self._check(v)
        wrong = np.flatnonzero(~self.correct[v])
        order = wrong[np.lexsort((wrong, -self.confidence[v, wrong]))]
        return [self._entry(v, i) for i in order[:limit]]

    def _entry(self, v, i):
        return {"index": int(i), "true": int(self.y[i]), "predicted": int(self.predicted[v, i]),
                "confidence": round(float(self.confidence[v, i]), 6)}

    def compare(self, a, b) -> dict:
        """Variant a against b: 'a_only' (images a gets right and b wrong; the entries are b's
        mistakes), 'b_only' (the reverse; a's mistakes), each most confident mistake first, and
        'confusion_difference', confusion(b) - confusion(a)."""
        a, b = self._check(a), self._check(b)

        def only(right, wrong):
            idx = np.flatnonzero(self.correct[right] & ~self.correct[wrong])
            idx = idx[np.lexsort((idx, -self.confidence[wrong, idx]))]
            return [self._entry(wrong, i) for i in idx]

        return {"a": a, "b": b, "a_only": only(a, b), "b_only": only(b, a),
                "confusion_difference": self.confusion(b) - self.confusion(a)}

    def hard_core(self, variants=None) -> np.ndarray:
        """Indices of the images every variant (of `variants`, default all) gets wrong."""
        chosen = range(len(self)) if variants is None else [self._check(v) for v in variants]
        return np.flatnonzero(~self.correct[list(chosen)].any(axis=0))

    def to_dict(self, v, vs=None) -> dict:
        """Plain values for JSON: the confusion counts (rows = true class), every mistake (most
        confident first), per-class numbers, the hard core; with `vs` the comparison with it."""
        v = self._check(v)
        per = self.per_class(v)
        out = {"variant": v, "label": self.labels[v], "accuracy": round(self.accuracy(v), 6),
               "confusion": self.confusion(v).tolist(), "misclassified": self.misclassified(v),
               "per_class": [{"class": c, "label": self.class_names[c], "support": int(per["support"][c]),
                              "accuracy": _plain(per["accuracy"][c]), "precision": _plain(per["precision"][c]),
                              "recall": _plain(per["recall"][c])} for c in range(self.classes)]}
        core = self.hard_core()
        out["hard_core"] = {"count": int(core.size), "of": int(self.y.size), "variants": len(self),
                            "indices": core.tolist()}
        if vs is not None:
            c = self.compare(v, vs)
            out["comparison"] = {"vs": c["b"], "vs_label": self.labels[c["b"]],
                                 "right_only_in_variant": c["a_only"], "right_only_in_vs": c["b_only"], "confusion_difference": c["confusion_difference"].tolist()}
        return out

    def __repr__(self):
        lines = [f"Mistakes({len(self)} variants, {self.y.size} images; {self.hard_core().size} wrong in every one)"]
        lines += [f"  [{i}] {self.labels[i]}: {int((~self.correct[i]).sum())} wrong, accuracy {self.accuracy(i):.4f}"
                  for i in range(len(self))]
        return "\n".join(lines)


def mistakes(probabilities, y, labels=None, class_names=None) -> Mistakes:
    """Mistakes of every variant from their predictions (V, n, C) and the true labels (n,)."""
    return Mistakes(probabilities, y, labels, class_names)


__all__ = ["BAD_LABELS", "BAD_PROBABILITIES", "BAD_VARIANT", "Mistakes", "mistakes"]
