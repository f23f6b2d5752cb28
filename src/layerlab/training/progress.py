"""Progress while training: a bar on terminals and in notebooks, a line per epoch, or nothing.

One model gets Keras' line (`Epoch 3/10 - 1.2s - loss: ... - val_accuracy: ...`). A sweep's line
names what its numbers are: the best variant of the group at that epoch (by val_loss, else
loss) with its metrics, and the range the others span, never an unlabelled mean.
"""
import sys
import time

import numpy as np


class Progress:
    """verbose 1: a rich progress bar (epochs of all groups, best variant so far, ETA);
    verbose 2: one line per epoch; verbose 0: silent. labels[i]: variant i's name ('rate=0.2')."""

    def __init__(self, verbose, total_epochs, labels):
        self.verbose = verbose
        self.total = total_epochs
        self.labels = list(labels)
        self._bar = None
        self._start = time.perf_counter()
        if verbose == 1:
            from rich.console import Console
            console = Console()
            if not (console.is_terminal or console.is_jupyter):
                self.verbose = 2  # a log file or a pipe: one line per epoch, as Keras does
        if self.verbose == 1:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn
            self._bar = Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False)
            n = len(self.labels)
            self._task = self._bar.add_task(f"{n} variant{'s' * (n != 1)}", total=total_epochs, info="")
            self._bar.start()

    def epoch_done(self, group_label, epoch, epochs, seconds, metrics: dict, indices):
        """metrics[name]: (variants, epochs) so far; indices: the group's variants; epoch from 1."""
        if self.verbose == 1:
            self._bar.update(self._task, advance=1,
                             info=f"{group_label} epoch {epoch}/{epochs} {best_so_far(metrics, self.labels, epoch)}")
        elif self.verbose == 2:
            prefix = f"{group_label} " if group_label else ""
            print(f"{prefix}Epoch {epoch}/{epochs} - {seconds:.1f}s - {self.line(metrics, indices, epoch - 1)}",
                  file=sys.stdout, flush=True)

    def line(self, metrics, indices, e):
        """Epoch e's numbers: Keras' for one variant; else the best variant's and the range."""
        if len(indices) == 1:  # one model, or a compile group of one variant: Keras' numbers
            keras = " - ".join(f"{k}: {v[indices[0], e]:.4f}" for k, v in metrics.items())
            return keras if len(self.labels) == 1 else f"{self.labels[indices[0]]}: {keras}"
        key = _key(metrics)
        values = metrics[key][indices, e]
        finite = np.flatnonzero(np.isfinite(values))
        if not finite.size:
            return f"{len(indices)} variants, none with a finite {key}"
        best = indices[finite[np.argmin(values[finite])]]
        low, high = values[finite].min(), values[finite].max()
        others = ", ".join(f"{k} {v[best, e]:.4f}" for k, v in metrics.items() if k != key)
        return (f"best of {len(indices)} variants by {key}: {self.labels[best]} with {key} {low:.4f}"
                f" ({others}); {key} over the variants {low:.4f} to {high:.4f}")

    def skip(self, epochs):
        """Counts epochs done before (a resumed run's) without a line for each."""
        if self._bar is not None and epochs:
            self._bar.update(self._task, advance=epochs)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def _key(metrics):
    return "val_loss" if "val_loss" in metrics else "loss"


def best_so_far(metrics, labels, epoch):
    """The bar's note over every variant's epochs 1..epoch. One model: its best validation
    accuracy (else loss), as before sweeps; a sweep: 'best val_loss 0.0851 (rate=0.2, epoch 7)'."""
    if len(labels) == 1:
        key = "val_accuracy" if "val_accuracy" in metrics else ("val_loss" if "val_loss" in metrics else "loss")
        values = metrics[key][:, :epoch]
        values = values[np.isfinite(values)]
        if not values.size:
            return ""
        return f"best {key} {(values.max() if 'accuracy' in key else values.min()):.4f}"
    key = _key(metrics)
    values = metrics[key][:, :epoch]
    if not np.isfinite(values).any():
        return ""
    i, e = np.unravel_index(int(np.nanargmin(np.where(np.isfinite(values), values, np.nan))), values.shape)
    return f"best {key} {values[i, e]:.4f} ({labels[i]}, epoch {e + 1})"
