"""Keras' simple MNIST convnet in layerlab and in tf.keras: are the learning curves the same?

    python benchmarks/cnn_fidelity.py --seeds 5 --epochs 3          # full MNIST
    python benchmarks/cnn_fidelity.py --seeds 3 --limit 12000       # quicker, on part of it

Both sides train the same model (Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) ->
MaxPooling2D(2) -> Flatten -> Dropout(0.5) -> Dense(10, softmax); Adam, batch 128) with --seeds
different seeds each: layerlab as one fit with `repeats=` (its seeds as variants of one program),
tf.keras with `reference_keras.py --model cnn --seed s` from the peers' environment
(`--peers-python`, default ../refvenv/bin/python). The two libraries draw different initial
weights, batches and masks from their seeds, so single curves differ; the claim tested is that
their distributions are the same. For every epoch and metric (loss, accuracy, val_loss,
val_accuracy) the script prints each side's mean and standard deviation over the seeds, the
difference of the means, and Welch's two-sample t-test (scipy): a p-value above 0.05 everywhere
(with 16 comparisons, one below 0.05 in about 1 run in 2 by chance alone; below 0.003, the
Bonferroni level, in 1 in 20) is "within noise". One JSON object with all of it comes last.
"""
import argparse
import json
import os
import subprocess

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def layerlab_curves(seeds, epochs, limit):
    """{metric: (seeds, epochs)} from one layerlab fit with the seeds as variants."""
    from cnn_sweep import convnet, mnist_images
    (x, y), (xv, yv) = mnist_images(limit)
    model = convnet(0.5)
    result = model.fit(x, y, batch_size=128, validation_data=(xv, yv), epochs=epochs, seed=1,
                       repeats=seeds if seeds > 1 else None, verbose=0)
    if hasattr(result, "metrics"):
        return {m: np.asarray(result.metrics[m], float) for m in METRICS}
    return {m: np.asarray([result.history[m]], float) for m in METRICS}


def keras_curves(seeds, epochs, limit, python):
    rows = []
    for seed in range(1, seeds + 1):
        command = [python, os.path.join(PEERS, "reference_keras.py"), "--model", "cnn", "--epochs", str(epochs),
                   "--rates", "0.5", "--seed", str(seed),
                   "--data", os.path.join(os.environ.get("LAYERLAB_DATA", os.path.join(PEERS, "..", "datasets")), "mnist")]
        if limit:
            command += ["--limit", str(limit)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    return {m: np.asarray([[r[m] for r in run] for run in rows], float) for m in METRICS}


def compare(ours, theirs):
    table = []
    for m in METRICS:
        for e in range(ours[m].shape[1]):
            a, b = ours[m][:, e], theirs[m][:, e]
            test = stats.ttest_ind(a, b, equal_var=False)
            table.append({"metric": m, "epoch": e + 1, "layerlab_mean": round(a.mean(), 4),
                          "layerlab_sd": round(a.std(ddof=1), 4) if len(a) > 1 else None,
                          "keras_mean": round(b.mean(), 4), "keras_sd": round(b.std(ddof=1), 4) if len(b) > 1 else None,
                          "difference": round(a.mean() - b.mean(), 4), "welch_p": round(float(test.pvalue), 3)})
    return table


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, help="train on the first N samples only")
    p.add_argument("--peers-python", default=os.path.normpath(os.path.join(HERE, "..", "..", "refvenv", "bin", "python")))
    a = p.parse_args()
    ours = layerlab_curves(a.seeds, a.epochs, a.limit)
    theirs = keras_curves(a.seeds, a.epochs, a.limit, a.peers_python)
    table = compare(ours, theirs)
    for row in table:
        print(f"{row['metric']:13s} epoch {row['epoch']}: layerlab {row['layerlab_mean']:.4f} ± {row['layerlab_sd']}  "
              f"keras {row['keras_mean']:.4f} ± {row['keras_sd']}  diff {row['difference']:+.4f}  p={row['welch_p']}")
    print(json.dumps({"seeds": a.seeds, "epochs": a.epochs, "n_train": a.limit or 60000, "comparisons": table,
                      "min_p": min(r["welch_p"] for r in table),
                      "layerlab": {m: ours[m].round(4).tolist() for m in METRICS},
                      "keras": {m: theirs[m].round(4).tolist() for m in METRICS}}))


if __name__ == "__main__":
    main()
