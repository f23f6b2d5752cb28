"""Which setting to pick and after how many epochs: the lowest val_loss over every setting and
epoch, and the fewest epochs at which some setting comes within `tolerance` of it.

>>> import numpy as np
>>> from layerlab.analysis.stats import SeedGroup
>>> groups = [SeedGroup("rate=0.0", {"rate": 0.0}, [0], [1]), SeedGroup("rate=0.5", {"rate": 0.5}, [1], [1])]
>>> print(recommend(groups, np.array([[0.30, 0.20, 0.25], [0.40, 0.30, 0.10]])))
Lowest val_loss: rate=0.5 after 3 epochs (0.1000). No setting comes within 5% of it in fewer epochs.
"""
from dataclasses import dataclass

import numpy as np

from layerlab._json import plain

TOLERANCE = 0.05  # relative: within 5 % of the lowest val_loss counts as nearly as good


def n_epochs(n):
    """'1 epoch', '5 epochs'."""
    return f"{n} epoch" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Recommendation:
    """The setting and epoch count with the lowest val_loss, and the quickest one close to it."""
    label: str
    settings: dict
    epochs: int
    val_loss: float
    quick_label: str
    quick_settings: dict
    quick_epochs: int
    quick_val_loss: float
    tolerance: float

    def __str__(self):
        text = f"Lowest val_loss: {self.label} after {n_epochs(self.epochs)} ({self.val_loss:.4f})."
        if self.quick_epochs < self.epochs:
            text += (f" Fewer epochs, nearly as good: {self.quick_label} after {n_epochs(self.quick_epochs)} "
                     f"reaches {self.quick_val_loss:.4f}, within {self.tolerance:.0%} of the best.")
        else:
            text += f" No setting comes within {self.tolerance:.0%} of it in fewer epochs."
        return text

    def to_dict(self):
        return plain(self.__dict__)


def recommend(groups, curves, tolerance=TOLERANCE):
    """groups: list of SeedGroup; curves: (groups, epochs) mean val_loss. NaN and inf (diverged
    epochs) never win."""
    curves = np.where(np.isfinite(curves), curves, np.inf)
    g, e = np.unravel_index(int(np.argmin(curves)), curves.shape)
    best = float(curves[g, e])
    threshold = best + tolerance * abs(best)
    ok = curves <= threshold
    qe = int(np.flatnonzero(ok.any(axis=0))[0])
    qg = int(np.argmin(np.where(ok[:, qe], curves[:, qe], np.inf)))
    return Recommendation(groups[g].label, groups[g].settings, int(e) + 1, best,
                          groups[qg].label, groups[qg].settings, qe + 1, float(curves[qg, qe]),
                          float(tolerance))
