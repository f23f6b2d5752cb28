"""The local backend: fit()'s compile groups on this machine's cores, a few at a time.

XLA:CPU spreads each operation of one program over the cores, but the operations of a batch-32
step are small, and one program keeps about 1.4 of 2 cores busy (BENCHMARKS.md). Two programs
run side by side in two threads fill both: the article's 5-variant sweep as two slices (2 + 3
variants) trains an epoch in 1.21 s instead of 1.40 s. So each group is cut into *slices*: of
whole streams where it has enough of them, else of one stream's variants (they keep the
stream's key, so the same batches, masks and initial weights). A variant's numbers do not
depend on its slice beyond the last bits of float rounding (the products change width).

Each running slice trains epoch after epoch in a worker thread and passes each epoch's metrics
(and, when a recorder wants it, a copy of its state) to this thread, which joins a group's
slices epoch by epoch and hands the epoch to fit() (metrics, recorder, progress). The store
thus sees whole groups, as with every backend, and a run trained with any number of workers
resumes with any other. A slice runs at most LEAD epochs ahead of what is recorded; groups do
not wait for each other, and the next group starts as soon as a running one finishes.
"""
import math
import os
import queue
import threading
from concurrent import futures

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import engine
from layerlab.engine import run_epoch
from layerlab.errors import ConfigError

from .base import EpochDone, Joined, slices

BAD_WORKERS = ("Local: workers: expected an int >= 1 or None (one per core); received {received!r}. "
               "Pass e.g. workers=2.")
LEAD = 2  # epochs a slice may train beyond its group's last recorded epoch
# Measured on 2 cores only; more threads than this share one XLA thread pool untested.
MAX_DEFAULT_WORKERS = 8
# A slice cut from one stream keeps at least this many variants: they share the first layer's
# product, whose width is what makes a sweep cheaper per model than one model.
MIN_STREAM_SLICE = 2
CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "QUOTA PERIOD" (microseconds) or "max PERIOD"


def default_workers() -> int:
    """One program per core on the CPU, at most MAX_DEFAULT_WORKERS; on an accelerator one
    program at a time (slices would only narrow its products, and the device runs one program
    at a time anyway)."""
    return min(cores(), MAX_DEFAULT_WORKERS) if jax.default_backend() == "cpu" else 1


def cores() -> int:
    """The cores this process may use: its CPU affinity, within a container's CPU quota
    (cgroup v2 cpu.max) where it has one."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        with open(CPU_MAX) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


class Local:
    """Trains fit()'s compile groups here: `model.fit(..., backend=Local(workers=2))`.

    workers: programs that train at the same time, each in a thread; None: one per core on the
    CPU (measured on 2 cores only: BENCHMARKS.md), 1 on a GPU. workers=1 trains one group after
    another, each as one program (in one worker thread).
    """

    def __init__(self, workers=None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(BAD_WORKERS.format(received=workers))
        self.workers = workers

    def __repr__(self):
        return f"Local(workers={self.workers!r})"

    def train(self, groups, make_job, data):
        """Trains every group (see layerlab.backends.base); make_job(group) builds a group's job
        as late as possible, so that only the running groups hold state. data: (x, y, x_val,
        y_val) as numpy arrays, put on the device once here."""
        device = engine.device_data(*data) if groups else None
        workers = self.workers or default_workers()
        waiting, running, done = list(groups), [], queue.Queue()
        stop, turn = threading.Event(), threading.Condition()
        pool = futures.ThreadPoolExecutor(workers, thread_name_prefix="layerlab")
        try:
            while waiting or running:
                while waiting and sum(len(g.slices) for g in running) < workers:
                    # A fair share of the workers for this group and those after it, at most the free ones.
                    busy = sum(len(g.slices) for g in running)
                    k = max(1, min(math.ceil(workers / len(waiting)), workers - busy))
                    job = make_job(waiting.pop(0))
                    if job.done == job.epochs or job.finished:  # a resumed group that had finished
                        job.finish(job.state)
                        continue
                    group = _Running(job, k)
                    running.append(group)
                    for s in group.slices:
                        pool.submit(s.train, device, done, stop, turn)
                if not running:
                    continue
                while True:  # timeouts let Ctrl-C through
                    try:
                        epoch = done.get(timeout=0.5)
                        break
                    except queue.Empty:
                        continue
                if isinstance(epoch.row, BaseException):
                    raise epoch.row
                epoch.slice.group.received(epoch)  # records: the slices go on meanwhile
                with turn:
                    turn.notify_all()
                running = [g for g in running if g.next < g.job.epochs and not g.job.finished]
        finally:
            # On an error or Ctrl-C nothing more is recorded and the slices stop after their
            # epoch under way, which cannot be interrupted (Python exits once it is over).
            stop.set()
            with turn:
                turn.notify_all()
            pool.shutdown(wait=False, cancel_futures=True)


class _Running(Joined):
    """A group in training here: its slices, along streams (axis 0) or one stream (axis 1)."""

    def __init__(self, job, k):
        S, R = len(job.group.streams), len(job.group.streams[0])
        if S > 1 or R < 2 * MIN_STREAM_SLICE:
            axis, cuts = 0, slices(S, min(k, S))
        else:
            axis, cuts = 1, slices(R, min(k, R // MIN_STREAM_SLICE))
        super().__init__(job, axis)

        def part(tree, a, b):
            return jax.tree.map(lambda v: v[a:b] if axis == 0 else v[:, a:b], tree)

        self.slices = [_Slice(self, i, part(job.state, a, b), part(job.hp, a, b),
                              part(job.keys, a, b) if axis == 0 else job.keys, lambda v, a=a, b=b: part(v, a, b))
                       for i, (a, b) in enumerate(cuts)]
        job.state = None  # the slices hold it now; its buffers are donated epoch by epoch

    def finish(self, leaves):
        """Ends the job with the slices' last states, joined."""
        parts = [s.state for s in self.slices]
        state = parts[0] if len(parts) == 1 else jax.tree.map(
            lambda *p: jnp.concatenate(p, axis=self.axis), *parts)
        self.job.finish(state)


class _Slice:
    """Part of a group: its state, per-variant numbers and stream keys, trained epoch by epoch."""

    def __init__(self, group, index, state, hp, keys, part):
        self.group, self.index, self.job = group, index, group.job
        self.state, self.hp, self.keys, self.part = state, hp, keys, part

    def train(self, device, done, stop, turn):
        """Trains the group's remaining epochs, putting an EpochDone on `done` after each (with
        the exception in place of the row if one is raised)."""
        job, copy = self.job, self.job.recording
        lead = 1 if job.steered else LEAD  # callbacks act on each epoch before the next one starts
        try:
            for e in range(job.done, job.epochs):
                with turn:
                    turn.wait_for(lambda: stop.is_set() or job.finished or e - self.group.next < lead)
                if stop.is_set() or job.finished:
                    return
                if job.steered:
                    self.state, self.hp = job.steer(self.state, self.hp, self.part)
                self.state, row, seconds = run_epoch(job.program, self.state, self.hp, self.keys, job.offset + e,
                                                     device, job.names)
                # The next epoch donates this state's buffers: a recorder gets a copy.
                leaves = [np.array(a) for a in jax.tree.leaves(self.state)] if copy else None
                done.put(EpochDone(self, e, row, leaves, seconds))
        except BaseException as error:  # handed to the main thread, which raises it
            done.put(EpochDone(self, None, error, None, None))
