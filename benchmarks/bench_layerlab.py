"""Steady-state seconds per model-epoch of layerlab on the article's model (full MNIST, Adam,
batch 32), for a sweep of dropout rates, one model alone, and rates x seeds; peak memory.

    python benchmarks/bench_layerlab.py --epochs 3 --variants 5 1 50

Prints one JSON line per configuration, each measured in its own process. The first epoch
(compilation) is left out; 50 variants are 5 rates x 10 seeds.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

import layerlab
from layerlab import layers


def run(n_variants, epochs, seed=1):
    (x_train, y_train), (x_test, y_test) = layerlab.datasets.mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    rates = [0.0, 0.2, 0.4, 0.6, 0.8]
    repeats = max(1, n_variants // len(rates))
    rate = layerlab.sweep(rates) if n_variants > 1 else 0.2
    layerlab.backend.clear_session()
    model = layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(rate),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    import layerlab.progress as progress

    original = progress.Progress.epoch_done

    def timed(self, label, epoch, total, seconds, logs, best):
        times.append((epoch, seconds))
        return original(self, label, epoch, total, seconds, logs, best)

    progress.Progress.epoch_done = timed
    try:
        start = time.perf_counter()
        result = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=epochs,
                           seed=seed, repeats=repeats if repeats > 1 else None, verbose=0)
        total = time.perf_counter() - start
    finally:
        progress.Progress.epoch_done = original
    v = n_variants if n_variants > 1 else 1
    # Large sweeps train as several programs one after another (variants.PROGRAM_STATE_BYTES):
    # count every program's epochs after its first (compilation) as steady state.
    steady_s = sum(s for e, s in times if e > 1)
    steady = steady_s / (epochs - 1) if epochs > 1 else float("nan")  # seconds per epoch of all variants
    last = result.metrics if hasattr(result, "metrics") else {k: np.array([h]) for k, h in result.history.items()}
    return {"peer": "layerlab", "variants": v, "epochs": epochs, "seconds_total": round(total, 3),
            "first_epoch_s": round(times[0][1], 3), "epoch_s": round(steady, 4),
            "s_per_model_epoch": round(steady / v, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "final_val_accuracy": [round(float(a), 4) for a in np.asarray(last["val_accuracy"])[:, -1]][:5]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--variants", type=int, nargs="+", default=[5, 1])
    p.add_argument("--in-process", action="store_true", help="run in this process (peak memory is then shared)")
    a = p.parse_args()
    for v in a.variants:
        if a.in_process:
            print(json.dumps(run(v, a.epochs)), flush=True)
        else:
            # One process per configuration, so that peak memory is each configuration's own.
            subprocess.run([sys.executable, __file__, "--in-process", "--epochs", str(a.epochs),
                            "--variants", str(v)], check=True)


if __name__ == "__main__":
    main()
