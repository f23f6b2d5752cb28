"""TensorBoard: event files written as training goes, one run folder per variant.

Keras writes `log_dir/train` and `log_dir/validation` with scalars `epoch_loss`,
`epoch_accuracy`, `epoch_learning_rate`; layerlab does the same for a single model, and for a
sweep under one folder per variant (`log_dir/00-rate=0.2/train`, ...), named as `layerlab
export --format tensorboard` names them, so `tensorboard --logdir log_dir` compares them.
"""
import os
import re
import time

from layerlab.errors import ConfigError

from .base import BAD_ARG, Callback
from .files import check_folder

NO_TENSORBOARD = ("TensorBoard: expected the tensorboard package; it is not installed. "
                  "Run `pip install 'layerlab[tensorboard]'` (or pip install tensorboard).")


class TensorBoard(Callback):
    """Writes each variant's epoch metrics as TensorBoard scalars under `log_dir`.

    Only the epoch scalars are written (histograms, images, profiling and per-batch updates are
    Keras options layerlab does not have; they are accepted only at their defaults).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        for arg, value, default in (("histogram_freq", histogram_freq, 0), ("write_images", write_images, False),
                                    ("write_steps_per_second", write_steps_per_second, False),
                                    ("update_freq", update_freq, "epoch"), ("profile_batch", profile_batch, 0),
                                    ("embeddings_freq", embeddings_freq, 0),
                                    ("embeddings_metadata", embeddings_metadata, None)):
            if value != default:
                raise ConfigError(BAD_ARG.format(cls="TensorBoard", arg=arg, expected=f"{default!r} (layerlab "
                                                 "writes epoch scalars only)", received=value, example=repr(default)))
        self.log_dir, self.write_graph = os.fspath(log_dir), write_graph
        self._writers = {}

    def check(self, names, settings):
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
        except ImportError:
            raise ConfigError(NO_TENSORBOARD) from None
        label = getattr(self, "_variant_label", "")
        self._run_dir = os.path.join(self.log_dir, label) if label else self.log_dir
        check_folder("TensorBoard", "log_dir", os.path.join(self._run_dir, "train", "x"))

    def on_train_begin(self, logs=None):
        self._writers = {}

    def _writer(self, which):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        if which not in self._writers:
            self._writers[which] = EventFileWriter(os.path.join(self._run_dir, which))
        return self._writers[which]

    def on_epoch_end(self, epoch, logs=None):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        now = time.time()
        for name, value in (logs or {}).items():
            which, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=f"epoch_{tag}",
                                                                           simple_value=float(value))])
            self._writer(which).add_event(event_pb2.Event(wall_time=now, step=epoch, summary=summary))
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def __repr__(self):
        return f"TensorBoard(log_dir={self.log_dir!r})"


def slug(label):
    """A variant's label as one folder name (as layerlab.export names TensorBoard runs)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "variant"
