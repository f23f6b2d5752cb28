"""Keras' simple MNIST convnet: steady-state seconds per model-epoch of layerlab's 5-rate dropout
sweep, of one layerlab model alone, of tf.keras and of PyTorch (one model after another), in ONE
run, interleaved; the machine's JAX matmul rate; FLOPs per model-epoch and the fraction of the
matmul peak each trainer reaches. Prints one JSON line per measurement, then a JSON summary
(medians over the rounds).

    python benchmarks/cnn_sweep.py            # full MNIST, 1 round (estimated 7 minutes when quiet)
    python benchmarks/cnn_sweep.py --rounds 3 # repeated, interleaved
    python benchmarks/cnn_sweep.py --quick    # 6,016 samples, 1 round: checks that it all runs

The peers run from a separate virtual environment with tensorflow-cpu and torch (`--peers-python`,
default ../refvenv/bin/python; see ../shared/bench/README.md); `--no-peers` leaves them out.

The model: Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) -> MaxPooling2D(2) ->
Flatten -> Dropout(rate) -> Dense(10, softmax); Adam, batch 128, validation on the 10,000 test
images every epoch, as `reference_keras.py --model cnn`. Every trainer runs 1 + --epochs epochs;
the first (compilation, tracing) is left out. layerlab's time is the wall time from the end of
its first epoch to the end of its last (all its programs done, as its recorder hooks see them),
divided by the epochs and the models, so programs that train side by side count once; a peer's
is the median of its epochs after the first. Each configuration runs in its own process.
"""
import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
RATES = [0.0, 0.2, 0.4, 0.6, 0.8]
N_VAL, BATCH = 10_000, 128


def model_epoch_flop(n_train, n_val=N_VAL):
    """Multiply-adds x 2 of one model-epoch: training (forward, weight gradients, and the input
    gradients of every layer but the first) and the validation pass (forward)."""
    conv1 = 26 * 26 * 9 * 1 * 32        # per sample, multiply-adds
    conv2 = 11 * 11 * 9 * 32 * 64
    dense = 5 * 5 * 64 * 10
    forward = conv1 + conv2 + dense
    train = 3 * forward - conv1         # forward, dW, dx (no dx for the input)
    return 2 * (n_train * train + n_val * forward)


def load():
    return [float(x) for x in os.getloadavg()]


class EpochClock:
    """A recorder (layerlab/recording.py) that notes when each epoch of every group ended."""

    def __init__(self):
        self.ends = {}   # epoch -> time the last group finished it

    def start(self, **_):
        pass

    def group_start(self, group, order):
        from layerlab.recording import FRESH
        return FRESH

    def epoch_end(self, group, epoch, row, state):
        self.ends[epoch] = time.perf_counter()

    def finish(self, status, metrics):
        pass


def mnist_images(limit=None):
    """MNIST as (28, 28, 1) images in [0, 1], the training split cut to `limit` samples."""
    import numpy as np

    import layerlab
    (x, y), (xv, yv) = layerlab.datasets.mnist.load_data()
    x, xv = (x[..., None] / 255.0).astype(np.float32), (xv[..., None] / 255.0).astype(np.float32)
    return ((x[:limit], y[:limit]) if limit else (x, y)), (xv, yv)


def convnet(rate):
    """Keras' simple MNIST convnet, compiled as its example does, Dropout(rate) (a number or a sweep)."""
    import layerlab
    from layerlab import layers
    model = layerlab.Sequential([
        layers.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dropout(rate), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def layerlab_config(variants, epochs, limit, seed=1):
    """In its own process: steady-state seconds per model-epoch of a sweep (or one model): one fit
    of 1 + epochs epochs; the first epoch (which compiles) is left out, the rest timed between the
    ends of epochs as the recorder hooks see them (all groups done)."""
    import numpy as np

    import layerlab
    (x, y), (xv, yv) = mnist_images(limit)
    model = convnet(layerlab.sweep(RATES) if variants > 1 else 0.5)
    clock, start = EpochClock(), time.perf_counter()
    result = model.fit(x, y, batch_size=BATCH, validation_data=(xv, yv), epochs=1 + epochs, seed=seed, verbose=0,
                       store=clock)
    wall = time.perf_counter() - start
    ends = [clock.ends[e] for e in sorted(clock.ends)]
    accuracy = np.asarray(result.metrics["val_accuracy"] if hasattr(result, "metrics") else [result.history["val_accuracy"]])
    return {"fit_wall_s": round(wall, 2), "first_epoch_s": round(ends[0] - start, 2),
            "epochs_s": [round(b - a, 2) for a, b in itertools.pairwise(ends)],
            "s_per_model_epoch": round((ends[-1] - ends[0]) / epochs / variants, 3),
            "final_val_accuracy": [round(float(a), 4) for a in accuracy.reshape(-1, accuracy.shape[-1])[:, -1]]}


def peer_config(peer, python, epochs, limit):
    script = os.path.join(PEERS, f"reference_{peer}.py")
    command = [python, script, "--model", "cnn", "--epochs", str(1 + epochs), "--rates", "0.5",
               "--data", os.path.join(os.environ.get("LAYERLAB_DATA", os.path.join(PEERS, "..", "datasets")), "mnist")]
    if limit:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steady = [r["seconds"] for r in rows if r["epoch"] > 1]
    return {"s_per_model_epoch": round(statistics.median(steady), 3), "epochs_s": [round(r["seconds"], 2) for r in rows],
            "final_val_accuracy": [round(rows[-1]["val_accuracy"], 4)]}


def matmul_peak():
    sys.path.insert(0, HERE)
    from matmul_rate import rate
    return round(rate(1024, 1024, 1024, repeats=10), 1)


def in_own_process(name, a):
    command = [sys.executable, __file__, "--one", name, "--epochs", str(a.epochs), "--peers-python", a.peers_python]
    if a.limit:
        command += ["--limit", str(a.limit)]
    before, start = load(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"config": name, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"config": name, **row, "wall_s": round(time.perf_counter() - start, 1), "load_before": before}


def one(name, a):
    if name == "layerlab_sweep":
        return layerlab_config(len(RATES), a.epochs, a.limit)
    if name == "layerlab_one":
        return layerlab_config(1, a.epochs, a.limit)
    if name == "matmul":
        return {"gflops": matmul_peak()}
    return peer_config(name, a.peers_python, a.epochs, a.limit)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="6,016 training samples, 1 round, 1 timed epoch")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per measurement (after a first one)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the summary gives medians")
    p.add_argument("--limit", type=int, help="train on the first N samples only")
    p.add_argument("--peers-python", default=os.path.normpath(os.path.join(HERE, "..", "..", "refvenv", "bin", "python")))
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.quick:
        a.limit, a.rounds, a.epochs = a.limit or 6016, 1, 1
    if a.epochs < 1:
        p.error("--epochs: expected at least 1 timed epoch")
    if a.one:
        print(json.dumps(one(a.one, a)))
        return
    configs = ["matmul"] + ([] if a.no_peers else ["keras", "torch"]) + ["layerlab_sweep", "layerlab_one"]
    rows = []
    for r in range(a.rounds):
        for name in configs:
            rows.append({"round": r + 1, **in_own_process(name, a)})
            print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows, a)
    print(json.dumps(summary, indent=1))


def summarise(rows, a):
    n_train = a.limit or 60_000
    flop = model_epoch_flop(n_train)
    peak = statistics.median(r["gflops"] for r in rows if r["config"] == "matmul" and "gflops" in r)
    out = {"n_train": n_train, "model_epoch_tflop": round(flop / 1e12, 3), "matmul_gflops_median": peak,
           "limit_s_per_model_epoch": round(flop / peak / 1e9, 2), "load_1min": [r["load_before"][0] for r in rows]}
    times = {}
    for name in ("layerlab_sweep", "layerlab_one", "keras", "torch"):
        measured = [r["s_per_model_epoch"] for r in rows if r["config"] == name and "s_per_model_epoch" in r]
        if measured:
            times[name] = statistics.median(measured)
            out[name] = {"s_per_model_epoch_median": times[name], "rounds": measured,
                         "fraction_of_matmul_peak": round(flop / times[name] / 1e9 / peak, 3)}
    for peer in ("keras", "torch"):
        if peer in times and "layerlab_sweep" in times:
            out[f"sweep_speedup_vs_{peer}"] = round(times[peer] / times["layerlab_sweep"], 2)
    return out


if __name__ == "__main__":
    main()
