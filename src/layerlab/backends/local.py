"""The local backend: fit()'s compile groups on this machine's cores, a few at a time.

XLA:CPU spreads each operation of one program over the cores, but the operations of a batch-32
step are small, and one program keeps about 1.4 of 2 cores busy (BENCHMARKS.md). Two programs
run side by side in two threads fill both: the article's 5-variant sweep as two slices (3 + 2
variants) trains an epoch in 1.16 s instead of 1.42 s. So each group is cut into *slices*: of
whole streams where it has enough of them, else of one stream's variants (they keep the
stream's key, so the same batches, masks and initial weights). A variant's numbers do not
depend on its slice beyond the last bits of float rounding (the products change width).

Every epoch, each running slice trains one epoch in a worker thread; then this thread joins a
group's slices and hands the epoch to fit() (metrics, recorder, progress) before the next
epoch starts, so the store sees whole groups, as with every backend, and a run trained with any
number of workers resumes with any other.
"""
import math
import os
from concurrent import futures

import jax
import jax.numpy as jnp
import numpy as np

from layerlab.errors import ConfigError

BAD_WORKERS = ("Local: workers: expected an int >= 1 or None (one per core); received {received!r}. "
               "Pass e.g. workers=2.")
# Measured on 2 cores only; more threads than this share one XLA thread pool untested.
MAX_DEFAULT_WORKERS = 8
# A slice cut from one stream keeps at least this many variants: they share the first layer's
# product, whose width is what makes a sweep cheaper per model than one model.
MIN_STREAM_SLICE = 2


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
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


class Local:
    """Trains fit()'s compile groups here: `model.fit(..., backend=Local(workers=2))`.

    workers: programs that train at the same time, each in a thread; None: one per core on the
    CPU (measured on 2 cores only: BENCHMARKS.md), 1 on a GPU. workers=1 trains one group after
    another, each as one program.
    """

    def __init__(self, workers=None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(BAD_WORKERS.format(received=workers))
        self.workers = workers

    def __repr__(self):
        return f"Local(workers={self.workers!r})"

    def train(self, groups, make_job, device):
        """Trains every group; make_job(group) builds its job (layerlab.training._GroupJob), as
        late as possible so that only the running groups hold state. device: the data."""
        workers = self.workers or default_workers()
        waiting, running = list(groups), []
        pool = futures.ThreadPoolExecutor(workers, thread_name_prefix="layerlab") if workers > 1 else None
        try:
            while waiting or running:
                while waiting and sum(len(g.slices) for g in running) < workers:
                    # A fair share of the workers for this group and those after it, at most the free ones.
                    busy = sum(len(g.slices) for g in running)
                    k = max(1, min(math.ceil(workers / len(waiting)), workers - busy))
                    job = make_job(waiting.pop(0))
                    if job.done < job.epochs:
                        running.append(_Running(job, k))
                    else:  # a resumed group that had finished
                        job.finish(job.state)
                slices = [s for g in running for s in g.slices]
                if pool is None or len(slices) == 1:
                    results = [s.epoch(device) for s in slices]
                else:
                    results = [f.result() for f in [pool.submit(s.epoch, device) for s in slices]]
                done = iter(results)
                for g in running:
                    g.epoch_end([next(done) for _ in g.slices])
                running = [g for g in running if g.next < g.job.epochs]
        finally:
            # On an error or Ctrl-C nothing more is recorded; a slice already inside an epoch
            # cannot be stopped there, so Python exits once that epoch is over (a second or so).
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


def slices(n, k):
    """k contiguous [a, b) ranges of n streams (or variants), as equal as can be:
    slices(5, 2) == [(0, 2), (2, 5)]. The Ray backend cuts its groups with it too."""
    edges = [i * n // k for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]


class _Running:
    """A group in training: its slices, along streams (axis 0) or along one stream (axis 1)."""

    def __init__(self, job, k):
        self.job, self.next = job, job.done
        S, R = len(job.group.streams), len(job.group.streams[0])
        if S > 1 or R < 2 * MIN_STREAM_SLICE:
            self.axis, cuts = 0, slices(S, min(k, S))
        else:
            self.axis, cuts = 1, slices(R, min(k, R // MIN_STREAM_SLICE))
        if len(cuts) == 1:
            self.slices = [_Slice(job, job.state, job.hp, job.keys)]
        else:
            take = (lambda a, b: lambda v: v[a:b]) if self.axis == 0 else (lambda a, b: lambda v: v[:, a:b])
            keys = (lambda a, b: jax.tree.map(take(a, b), job.keys)) if self.axis == 0 else (lambda a, b: job.keys)
            self.slices = [_Slice(job, jax.tree.map(take(a, b), job.state), jax.tree.map(take(a, b), job.hp),
                                  keys(a, b)) for a, b in cuts]
        job.state = None  # the slices hold it now; its buffers are donated epoch by epoch

    def epoch_end(self, results):
        """Joins the slices' epoch `self.next` and hands it to the job."""
        e, seconds = self.next, max(r[1] for r in results)
        rows = [r[0] for r in results]
        row = {k: np.concatenate([p[k] for p in rows], axis=self.axis).reshape(-1) for k in rows[0]}
        self.job.epoch_end(e, row, self._leaves, seconds)
        self.next = e + 1
        if self.next == self.job.epochs:
            self.job.finish(self._state())

    def _state(self):
        if len(self.slices) == 1:
            return self.slices[0].state
        return jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=self.axis), *(s.state for s in self.slices))

    def _leaves(self):
        return [np.asarray(a) for a in jax.tree.leaves(self._state())]


class _Slice:
    """Part of a group: its state, per-variant numbers and stream keys, trained epoch by epoch."""

    def __init__(self, job, state, hp, keys):
        self.job, self.state, self.hp, self.keys = job, state, hp, keys
        self.next = job.done

    def epoch(self, device):
        """Trains the next epoch: (row of (S, R) arrays per metric name, seconds)."""
        from layerlab.training import run_epoch
        self.state, row, seconds = run_epoch(self.job.program, self.state, self.hp, self.keys,
                                             self.job.offset + self.next, device, self.job.run.names)
        self.next += 1
        return row, seconds
