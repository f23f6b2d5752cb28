"""The Ray backend against the local one on this machine: its overhead on the article's study,
and how throughput grows with nodes (several Ray nodes on this machine, each pinned to its own
core with taskset, stand in for machines).

    LAYERLAB_DATA=../shared/datasets python benchmarks/bench_ray.py overhead --epochs 3
    LAYERLAB_DATA=../shared/datasets python benchmarks/bench_ray.py nodes --epochs 10 --nodes 1 2

`overhead`: the article's study (one compile group of 5 rates) locally, then on a one-node Ray
cluster with both cores. `nodes`: 4 compile groups x 5 rates locally on one core, then on Ray
clusters of 1, 2, ... nodes of one core each. Each configuration runs in its own process and
records into a fresh run store, as `layerlab run` does. Prints one JSON line per configuration:
wall seconds of the whole fit (Ray: connecting, shipping the data, starting workers and
compiling included), the steady seconds per epoch (median time between two recorded epochs of
a group, the first left out) and variant-epochs per second over the whole fit. The script
starts its Ray clusters with `ray start` and stops them with `ray stop --force` (which stops
every Ray process on this machine).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RAY = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
# The clusters and the drivers agree on authentication (off: everything is on 127.0.0.1).
ENV = dict(os.environ, RAY_DISABLE_USAGE_STATS="1", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")


def fit(kind, epochs, groups, address, limit):
    """One fit of the article's model (5 dropout rates) with `groups` hidden widths, in this process."""
    import layerlab
    from layerlab import layers
    from layerlab.store import StoreRecorder
    (x, y), (xv, yv) = layerlab.datasets.mnist.load_data()
    x, xv = x[:limit] / 255.0, xv / 255.0
    y = y[:limit]
    units = [128, 96, 64, 32, 160, 192, 224, 256][:groups]
    model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)),
                                 layers.Dense(layerlab.sweep(units) if groups > 1 else 128, activation="relu"),
                                 layers.Dropout(layerlab.sweep([0.0, 0.2, 0.4, 0.6, 0.8])),
                                 layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = {}

    class Timed(StoreRecorder):
        def epoch_end(self, group, epoch, row, state):
            super().epoch_end(group, epoch, row, state)
            times.setdefault(group, []).append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        recorder = Timed(Path(tmp) / "runs.db", data=(x, y, xv, yv))
        backend = layerlab.backends.Ray(address=address) if kind == "ray" else None
        start = time.perf_counter()
        result = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, seed=1, verbose=0, store=recorder,
                           backend=backend)
        wall = time.perf_counter() - start
    gaps = [b - a for t in times.values() for a, b in zip(t, t[1:])]
    n = len(result.variants)
    return {"backend": kind, "variants": n, "groups": groups, "epochs": epochs, "n_train": int(len(x)),
            "wall_s": round(wall, 2), "epoch_s": round(float(np.median(gaps)), 2) if gaps else None,
            "variant_epochs_per_s": round(n * epochs / wall, 3),
            "final_val_accuracy": [round(float(a), 4) for a in result.metrics["val_accuracy"][:5, -1]]}


class Cluster:
    """`nodes` Ray nodes on 127.0.0.1 with `cpus` CPUs each; pinned: node i (its raylet and
    workers) runs on core i only (taskset), as on a machine of its own."""

    def __init__(self, nodes, cpus=1, pinned=True):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address, self.nodes, self.cpus, self.pinned = f"127.0.0.1:{self.port}", nodes, cpus, pinned

    def __enter__(self):
        for i in range(self.nodes):
            where = ([f"--address={self.address}"] if i else
                     ["--head", f"--port={self.port}", "--include-dashboard=false"])
            pin = ["taskset", "-c", str(i % os.cpu_count())] if self.pinned else []
            subprocess.run([*pin, RAY, "start", *where, f"--num-cpus={self.cpus}", "--node-ip-address=127.0.0.1",
                            "--disable-usage-stats"], check=True, capture_output=True, env=ENV, timeout=180)
        return self

    def __exit__(self, *exc):
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=ENV, timeout=180)


def child(*args, core=None):
    """A configuration in its own process (pinned to `core` if given): its JSON line."""
    pin = [] if core is None else ["taskset", "-c", str(core)]
    out = subprocess.run([*pin, sys.executable, __file__, "_one", *map(str, args)], check=True, capture_output=True,
                         text=True, env=ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead", help="the article's study (5 rates, full MNIST): local, then Ray on one local node")
    o.add_argument("--epochs", type=int, default=3)
    n = sub.add_parser("nodes", help="4 compile groups (widths) x 5 rates: local on one core, then Ray on 1, 2, ... "
                                     "nodes of a core each")
    n.add_argument("--epochs", type=int, default=2)
    n.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    n.add_argument("--groups", type=int, default=4)
    n.add_argument("--limit", type=int, default=60000, help="training samples")
    one = sub.add_parser("_one")
    for name in ("kind", "epochs", "groups", "address", "limit", "nodes"):
        one.add_argument(name)
    a = p.parse_args()
    if a.what == "_one":
        row = fit(a.kind, int(a.epochs), int(a.groups), None if a.address == "-" else a.address, int(a.limit))
        print(json.dumps({**row, "nodes": int(a.nodes)}), flush=True)
    elif a.what == "overhead":
        print(json.dumps(child("local", a.epochs, 1, "-", 60000, 0)), flush=True)
        with Cluster(1, cpus=2, pinned=False) as cluster:  # both cores, as the local run has
            print(json.dumps(child("ray", a.epochs, 1, cluster.address, 60000, 1)), flush=True)
    else:
        print(json.dumps(child("local", a.epochs, a.groups, "-", a.limit, 0, core=0)), flush=True)  # one core
        for nodes in a.nodes:
            with Cluster(nodes) as cluster:
                print(json.dumps(child("ray", a.epochs, a.groups, cluster.address, a.limit, nodes)), flush=True)


if __name__ == "__main__":
    main()
