"""Steady-state seconds per model-epoch of layerlab on the article's model (full MNIST, Adam,
batch 32), for a sweep of dropout rates, one model alone, and rates x seeds; peak memory.

    python benchmarks/bench_layerlab.py --epochs 3 --variants 5 1 50

Prints one JSON line per configuration, each measured in its own process: a first fit of one
epoch compiles; then fits of 1 and 1 + --epochs epochs are timed, and their difference is the
steady-state cost of --epochs epochs (wall clock, so programs that train side by side count
once). 50 variants are 5 rates x 10 seeds.
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


def run(n_variants, epochs, seed=1, workers=None, repeat=3):
    (x_train, y_train), (x_test, y_test) = layerlab.datasets.mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    rates = [0.0, 0.2, 0.4, 0.6, 0.8]
    repeats = max(1, n_variants // len(rates))

    def fit(n_epochs):  # no clear_session() between the fits: it would forget the compiled programs
        model = layerlab.Sequential([
            layers.Flatten(input_shape=(28, 28)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(layerlab.sweep(rates) if n_variants > 1 else 0.2),
            layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        result = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=n_epochs, seed=seed,
                           repeats=repeats if repeats > 1 else None, verbose=0,
                           backend=layerlab.backends.Local(workers=workers))
        return result, time.perf_counter() - start

    # The first fit compiles (programs are cached per structure). Then two warm fits of 1 and
    # 1 + epochs epochs: their difference in wall time is `epochs` steady-state epochs, without
    # what a fit costs once (checking and copying the data, initial weights), and programs that
    # train side by side are counted once.
    # This machine is shared and noisy: the median of `repeat` such pairs.
    _, first = fit(1)
    pairs = []
    for _ in range(repeat):
        _, one = fit(1)
        result, more = fit(1 + epochs)
        pairs.append((more - one, one))
    total, one = sorted(pairs)[len(pairs) // 2]
    v = n_variants if n_variants > 1 else 1
    last = result.metrics if hasattr(result, "metrics") else {k: np.array([h]) for k, h in result.history.items()}
    return {"peer": "layerlab", "variants": v, "epochs": epochs, "workers": workers or layerlab.backends.local.default_workers(),
            "first_fit_s": round(first, 3), "one_epoch_fit_s": round(one, 3), "seconds_total": round(total, 3), "epoch_s": round(total / epochs, 4),
            "s_per_model_epoch": round(total / epochs / v, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "final_val_accuracy": [round(float(a), 4) for a in np.asarray(last["val_accuracy"])[:, -1]][:5]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--variants", type=int, nargs="+", default=[5, 1])
    p.add_argument("--workers", type=int, help="programs trained at once (default: one per core)")
    p.add_argument("--repeat", type=int, default=3, help="timed pairs of fits; the median is reported")
    p.add_argument("--in-process", action="store_true", help="run in this process (peak memory is then shared)")
    a = p.parse_args()
    for v in a.variants:
        if a.in_process:
            print(json.dumps(run(v, a.epochs, workers=a.workers, repeat=a.repeat)), flush=True)
        else:
            # One process per configuration, so that peak memory is each configuration's own.
            subprocess.run([sys.executable, __file__, "--in-process", "--epochs", str(a.epochs),
                            "--variants", str(v), "--repeat", str(a.repeat)]
                           + (["--workers", str(a.workers)] if a.workers else []), check=True)


if __name__ == "__main__":
    main()
