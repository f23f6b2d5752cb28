"""The Ray backend: compile groups as Ray tasks across a cluster, recorded epoch by epoch.

Each compile group is cut into *slices* of whole streams (layerlab.engine): a stream's variants
share its batches and dropout masks, and every draw derives from the stream's own seed and the
epoch number, so a variant's numbers do not depend on its slice. A slice is one Ray generator
task (layerlab.backends.ray_worker.train_slice) that rebuilds the model and its program from their JSON configs and trains
epoch by epoch, yielding each epoch's metrics and state; it runs at most one epoch ahead of the
driver (Ray's generator backpressure). The driver joins a group's slices epoch by epoch and
hands them to fit()'s recorder, which commits them as the local backend does: the store cannot
tell which backend wrote a run, and either backend can resume it.

A slice whose worker or node dies is resubmitted from the last epoch the driver received for it
(the state it resumes from is the driver's copy, so nothing recorded is lost or trained twice).
The slices of one group are placed together (a Ray placement group), so none of them waits for
a sibling that cannot start, and none runs more than `lead` epochs ahead of its slowest sibling:
the driver keeps a slice's states until the whole group has reached that epoch.

A cluster given by address (address= or $RAY_ADDRESS) is asked for its id first, with a deadline
of CONNECT_SECONDS: a wrong address fails in seconds with one line, where ray.init would retry
for minutes.

A little longer than 300 lines: the backend's options, the driver's loop (placement, backpressure,
retries) and the messages that name what Ray did are one story, read best in one file.
"""
import logging
import math
import os
import warnings

import numpy as np

from layerlab import engine, losses, optimizers
from layerlab._version import __version__
from layerlab.errors import BackendWarning, ConfigError, LayerlabError

from .base import EpochDone, Joined, slices
from .ray_worker import train_slice

NOT_INSTALLED = ("backend: 'ray' needs Ray, which is not installed here; received backend='ray'. "
                 "Install it with `pip install \"layerlab[ray]\"` (on every node of the cluster), "
                 "or leave the backend out to train here.")
BAD_ARG = "Ray: {arg}: expected {expected}; received {received!r}. Pass e.g. {arg}={example}."
TOO_SMALL = ("Ray: the cluster has {have}; expected room for one task ({want}). Pass smaller "
             "cpus_per_task=/gpus_per_task=, or add nodes (`ray start --address=...` on each).")
NO_CLUSTER = ("Ray: could not connect to {cluster} ({error}); expected one started with "
              "`ray start --head`. Check the address; if the cluster uses token authentication, set "
              "RAY_AUTH_MODE=token (and RAY_AUTH_TOKEN) here too.")
RETRYING = ("group {group} slice {slice} ({variants} variants): {error}; resubmitting it from epoch {epoch} "
            "(retry {retry} of {retries}).")
GAVE_UP = ("Ray: group {group} slice {slice} lost its worker {times} times; expected at most max_retries={retries} "
           "({error}). Every epoch recorded so far is kept: resume the run, or pass a larger max_retries.")


CONNECT_SECONDS = 10.0  # how long a cluster given by address has to answer


class RayNotInstalled(ConfigError, ImportError):
    """backend='ray' without Ray installed; the message says how to install it."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayNotInstalled(NOT_INSTALLED) from None
    return ray


class Ray:
    """Trains fit()'s compile groups as Ray tasks: `model.fit(..., backend=Ray(address="auto"))`.

    address: the cluster ('auto', 'HOST:6379'); None: $RAY_ADDRESS, else the cluster `ray start`
      began on this machine, else a new one here. An existing connection (ray.init) is used as is.
    variants_per_task: cut each compile group into slices of about this many variants (whole
      streams, so at least one stream a slice); None: enough slices to keep the cluster busy.
    cpus_per_task, gpus_per_task: what each task asks Ray for; gpus None: 1 if the cluster has GPUs.
    max_retries: how often a slice is resubmitted, from its last epoch, after its worker dies.
    lead: how many epochs a slice may run ahead of its group's slowest slice.

    After a fit, `workers` maps (group, slice) to the process id that last reported an epoch
    and `restarts` lists (group, slice, epoch) for every resubmission.

    >>> model.fit(x, y, epochs=5, backend=layerlab.backends.Ray(address="auto"))  # doctest: +SKIP
    """

    def __init__(self, address=None, *, variants_per_task=None, cpus_per_task=1, gpus_per_task=None,
                 max_retries=3, lead=2):
        if address is not None and (not isinstance(address, str) or not address):
            raise ConfigError(BAD_ARG.format(arg="address", expected="'auto' or 'HOST:PORT'", received=address,
                                             example="'auto'"))
        _check("variants_per_task", variants_per_task, int, 1, 8, none=True)
        _check("cpus_per_task", cpus_per_task, float, 0, 1, open_low=True)
        _check("gpus_per_task", gpus_per_task, float, 0, 1, none=True)
        _check("max_retries", max_retries, int, 0, 3)
        _check("lead", lead, int, 1, 2)
        self.address, self.variants_per_task = address, variants_per_task
        self.cpus_per_task, self.gpus_per_task = cpus_per_task, gpus_per_task
        self.max_retries, self.lead = max_retries, lead
        _import_ray()
        self.workers, self.restarts = {}, []

    def __repr__(self):
        return (f"Ray(address={self.address!r}, variants_per_task={self.variants_per_task!r}, "
                f"cpus_per_task={self.cpus_per_task!r}, gpus_per_task={self.gpus_per_task!r}, "
                f"max_retries={self.max_retries!r}, lead={self.lead!r})")

    # -- fit's side -------------------------------------------------------------------------------
    def connect(self):
        """Connects to the cluster (once; train() does it too): `layerlab run` calls it before it
        records a run, so that a wrong address costs no run in the store."""
        ray = _import_ray()
        if not ray.is_initialized():
            error = _no_answer(self.address)
            if error:
                raise LayerlabError(NO_CLUSTER.format(cluster=_cluster(self.address), error=error))
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            with warnings.catch_warnings():  # JAX warns of any fork; Ray's is a fork+exec of its own daemons
                warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                try:
                    ray.init(address=self.address, logging_level=logging.WARNING)
                except ConnectionError as e:
                    raise LayerlabError(NO_CLUSTER.format(cluster=_cluster(self.address),
                                                          error=_one_line(e.__cause__ or e))) from e
        return ray

    def train(self, groups, make_job, data):
        """Trains every group (see layerlab.backends.base) on the cluster; `data` is
        (x, y, x_val, y_val). Returns when every group has recorded its last epoch."""
        ray = self.connect()
        self.workers, self.restarts = {}, []
        jobs = [make_job(group, init=False) for group in groups]  # the workers draw the initial weights
        capacity, gpus = self._capacity(ray)
        todo = [job for job in jobs if job.done < job.epochs and not job.finished]
        for job in jobs:
            if job.done == job.epochs or job.finished:  # a resumed group that had finished
                job.finish(job.state)
        # Retries are the driver's (from the last epoch received, not from the start); the
        # backpressure keeps a task at most one epoch ahead of what the driver has taken.
        task = ray.remote(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=0,
                          _generator_backpressure_num_objects=1)(train_slice)  # a private option Ray Data uses too
        refs = [None if a is None else ray.put(np.ascontiguousarray(a)) for a in data]
        groups = [_Group(job, self._bounds(job, len(todo), capacity)) for job in todo]
        driver = _Driver(ray, task, refs, self)
        try:
            for group in groups:
                if len(group.slices) > 1:
                    group.place(self.cpus_per_task, gpus)
                for s in group.slices:
                    driver.submit(s)
            driver.run()
        finally:
            driver.cancel()
            for group in groups:
                group.release()

    def _capacity(self, ray):
        """(tasks the cluster runs at once, GPUs a task asks for)."""
        total = ray.cluster_resources()
        cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        per_task = self.gpus_per_task if self.gpus_per_task is not None else (1 if gpus >= 1 else 0)
        capacity = int(cpus // self.cpus_per_task)
        if per_task:
            capacity = min(capacity, int(gpus // per_task))
        if capacity < 1:
            raise ConfigError(TOO_SMALL.format(have=f"{cpus:g} CPUs, {gpus:g} GPUs",
                                               want=f"{self.cpus_per_task:g} CPUs, {per_task:g} GPUs"))
        return capacity, per_task

    def _bounds(self, job, n_jobs, capacity):
        n = len(job.group.streams)
        if self.variants_per_task is None:
            k = math.ceil(capacity / max(1, n_jobs))
        else:
            k = math.ceil(len(job.order) / self.variants_per_task)
        return slices(n, max(1, min(k, n, capacity)))


def _check(arg, value, kind, low, example, none=False, open_low=False):
    if value is None and none:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and (kind is float or isinstance(value, int)) and (value > low if open_low else value >= low)
    if not ok:
        expected = f"{'an int' if kind is int else 'a number'} {'>' if open_low else '>='} {low}"
        raise ConfigError(BAD_ARG.format(arg=arg, expected=expected + (" or None" if none else ""),
                                         received=value, example=example))


# -- the driver ---------------------------------------------------------------------------------------
class _Group(Joined):
    """A compile group on the cluster: its slices (of streams) and the epochs received but not
    yet recorded."""

    def __init__(self, job, bounds):
        import jax
        super().__init__(job, axis=0)
        self.spec, self.pg = _spec(job), None
        per_stream = len(job.group.streams[0])
        if job.steered and job.state is None:  # the driver steers the state epoch by epoch: it draws it too
            job.state = job.program.init(job.keys, job.hp)
        start = None if job.state is None else [np.asarray(a) for a in jax.tree.leaves(job.state)]
        self.slices = [_Slice(self, i, a, b, per_stream, start) for i, (a, b) in enumerate(bounds)]

    def place(self, cpus, gpus):
        from ray.util.placement_group import placement_group
        bundle = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
        self.pg = placement_group([bundle] * len(self.slices), strategy="SPREAD")

    def release(self):
        if self.pg is not None:
            from ray.util.placement_group import remove_placement_group
            remove_placement_group(self.pg)
            self.pg = None

    def finish(self, leaves):
        import jax
        import jax.numpy as jnp
        self.job.finish(jax.tree.unflatten(self.job.treedef(), [jnp.asarray(a) for a in leaves]))


class _Slice:
    """Streams [a, b) of a group: the inputs of its task and the last epoch received from it."""

    def __init__(self, group, index, a, b, per_stream, start):
        import jax
        job = group.job
        self.group, self.index, self.variants = group, index, (b - a) * per_stream
        self.hp = jax.tree.map(lambda v: np.asarray(v)[a:b], job.hp)
        self.keys = jax.tree.map(lambda v: np.asarray(v)[a:b], job.keys)
        self.next = job.done    # the first epoch not received yet
        self.leaves = None if start is None else [np.ascontiguousarray(v[a:b]) for v in start]
        self.gen, self.lost = None, 0
        self.part = lambda v: v[a:b]

    def steered(self):
        """With callbacks: the slice's leaves and numbers as the callbacks left them for its next epoch."""
        import jax
        job = self.group.job
        state = jax.tree.unflatten(job.treedef(), self.leaves)
        state, hp = job.steer(state, self.hp, self.part)
        self.leaves = [np.ascontiguousarray(np.asarray(a)) for a in jax.tree.leaves(state)]
        self.hp = jax.tree.map(np.asarray, hp)


class _Driver:
    """Submits slices, takes their epochs as they come, and resubmits a slice whose worker died."""

    def __init__(self, ray, task, refs, backend):
        self.ray, self.task, self.refs, self.backend = ray, task, refs, backend
        self.active = {}  # id(generator) -> slice
        self.lost_errors = _lost_errors(ray)

    def submit(self, s):
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        group, job = s.group, s.group.job
        options = {} if group.pg is None else {"scheduling_strategy": PlacementGroupSchedulingStrategy(
            group.pg, placement_group_bundle_index=s.index)}
        if job.steered:  # callbacks act after each epoch: a task trains one, from the state they left
            s.steered()
        last = s.next + 1 if job.steered else job.epochs
        s.gen = self.task.options(**options).remote(group.spec, s.hp, s.keys, self.refs, (s.next, last),
                                                    job.offset, s.leaves)
        self.active[id(s.gen)] = s

    def run(self):
        ray, lead = self.ray, self.backend.lead
        while self.active:
            # A slice `lead` epochs ahead of its group waits (backpressure) for the slowest one.
            waiting = [s.gen for s in self.active.values() if s.next - s.group.next < lead]
            if not waiting:  # cannot be: a group's slowest slice is never ahead of it
                raise RuntimeError(f"Ray backend: every slice waits for another: {list(self.active.values())}")
            ready, _ = ray.wait(waiting, num_returns=1, timeout=1.0)  # a timeout lets Ctrl-C through
            for gen in ready:
                s = self.active.pop(id(gen))
                try:
                    epoch, row, leaves, pid, seconds = ray.get(next(gen))
                except (StopIteration, *self.lost_errors) as e:
                    if s.next < s.group.job.epochs:  # else it had sent every epoch: it is done
                        self.lost(s, "its task ended early" if isinstance(e, StopIteration) else _one_line(e))
                    elif not any(id(t.gen) in self.active for t in s.group.slices):
                        s.group.release()  # the next group's slices may take its place
                    continue
                job = s.group.job
                if not job.steered:
                    self.active[id(gen)] = s
                self.backend.workers[(job.group.index, s.index)] = pid
                s.next, s.leaves = epoch + 1, leaves
                s.group.received(EpochDone(s, epoch, row, leaves, seconds))
                if job.steered and s.group.next == s.next:  # the group's epoch went through its callbacks
                    if s.group.next < job.epochs and not job.finished:
                        for t in s.group.slices:
                            self.submit(t)
                    else:
                        s.group.release()

    def lost(self, s, error):
        backend, g = self.backend, s.group.job.group.index
        s.lost += 1
        if s.lost > backend.max_retries:
            raise LayerlabError(GAVE_UP.format(group=g, slice=s.index, times=s.lost, retries=backend.max_retries,
                                               error=error))
        warnings.warn(RETRYING.format(group=g, slice=s.index, variants=s.variants, error=error, epoch=s.next + 1,
                                      retry=s.lost, retries=backend.max_retries), BackendWarning, stacklevel=2)
        backend.restarts.append((g, s.index, s.next))
        self.submit(s)

    def cancel(self):
        for s in self.active.values():
            try:
                self.ray.cancel(s.gen, force=True)
            except Exception:  # already finished or gone: nothing to stop
                pass
        self.active.clear()


def _cluster(address):
    """The cluster ray.init(address) tried, in Ray's order: an address given, else $RAY_ADDRESS
    (which overrides 'auto' too), else the one `ray start` began on this machine."""
    env = os.environ.get("RAY_ADDRESS")
    if address in (None, "auto") and env:
        return f"the cluster at $RAY_ADDRESS={env!r}"
    return "the cluster `ray start` began on this machine" if address is None else f"the cluster at {address!r}"


def _no_answer(address, seconds=None):
    """Why the cluster at `address` (or $RAY_ADDRESS) does not answer a request for its id within
    CONNECT_SECONDS, or None: it answered, or there is no address to ask (Ray looks on this machine)."""
    env = os.environ.get("RAY_ADDRESS")
    target = env if address in (None, "auto") and env else address
    if target in (None, "auto", "local") or target.startswith("ray://"):
        return None  # ray:// is Ray Client's protocol, not the cluster's: ray.init asks it
    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:
        return None
    seconds = CONNECT_SECONDS if seconds is None else seconds
    channel = grpc.insecure_channel(target)
    try:
        gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(gcs_service_pb2.GetClusterIdRequest(),
                                                                          timeout=seconds)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no answer within {seconds:g} s"
        return f"{e.code().name}: {(e.details() or '').splitlines()[0][:120]}"
    finally:
        channel.close()
    return None


def _one_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _lost_errors(ray):
    """Failures of the machinery, not of the code: the slice is worth another try."""
    e = ray.exceptions
    return (e.WorkerCrashedError, e.NodeDiedError, e.LocalRayletDiedError, e.OutOfMemoryError,
            e.ObjectLostError, e.RaySystemError)


def _spec(job):
    """What a worker needs to rebuild the group's program: JSON configs and the fit settings."""
    group, program = job.group, job.program
    return {"model": group.model.get_config(), "trainable": [layer.trainable for layer in group.model.layers],
            "optimizer": optimizers.serialize(group.optimizer), "loss": losses.serialize(program.loss),
            "in_shape": list(program.in_shape), "batch_size": program.batch_size, "shuffle": program.shuffle,
            "validate": program.validate, "names": list(job.names), "version": __version__,
            "structure": engine.structure(group.model, group.optimizer, program.loss, program.in_shape,
                                          program.batch_size, program.shuffle, program.validate)}
