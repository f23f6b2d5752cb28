"""Progress while training: a bar on terminals and in notebooks, a line per epoch, or nothing."""
import sys
import time


class Progress:
    """verbose 1: a rich progress bar (epochs of all groups, best val metric, ETA);
    verbose 2: one Keras-style line per epoch; verbose 0: silent."""

    def __init__(self, verbose, total_epochs, n_variants):
        self.verbose = verbose
        self.total = total_epochs
        self.n_variants = n_variants
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
            self._task = self._bar.add_task(f"{n_variants} variant{'s' * (n_variants != 1)}", total=total_epochs, info="")
            self._bar.start()

    def epoch_done(self, group_label, epoch, epochs, seconds, logs: dict, best: str):
        """logs: this epoch's metrics, averaged over the group's variants."""
        if self.verbose == 1:
            self._bar.update(self._task, advance=1, info=f"{group_label} epoch {epoch}/{epochs} {best}")
        elif self.verbose == 2:
            metrics = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            prefix = f"{group_label} " if group_label else ""
            print(f"{prefix}Epoch {epoch}/{epochs} - {seconds:.1f}s - {metrics}", file=sys.stdout, flush=True)

    def skip(self, epochs):
        """Counts epochs done before (a resumed run's) without a line for each."""
        if self._bar is not None and epochs:
            self._bar.update(self._task, advance=epochs)

    def close(self):
        if self._bar is not None:
            self._bar.stop()
