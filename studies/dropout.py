"""The article's experiment: is dropout effective against overfitting?

Flatten -> Dense(128, relu) -> Dropout(p) -> Dense(10, softmax) on MNIST, p in 0.0 ... 0.8,
Adam, batch 32, 100 epochs; all five rates train together, vectorised in compiled programs.
Writes the model summary, the per-epoch history (CSV) and the article's four learning-curve
figures.

    python studies/dropout.py                 # the full study, 100 epochs
    python studies/dropout.py --epochs 5      # a quick look
"""
import argparse
import json
import pathlib
import time

import layerlab
from layerlab import layers
from layerlab.figures import ARTICLE_YLIM, save_figures
from layerlab.report import write_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="out/dropout", help="folder for the history and figures")
    parser.add_argument("--store", default="layerlab-runs/layerlab.db",
                        help="run store to record every epoch into ('' for none)")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = layerlab.datasets.mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0

    model = layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(layerlab.sweep([0.0, 0.2, 0.4, 0.6, 0.8])),
        layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    result = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=args.epochs,
                       seed=args.seed, store=args.store or None)
    seconds = time.perf_counter() - start
    print(result)
    print(f"{len(result)} variants x {args.epochs} epochs in {seconds:.1f} s "
          f"({seconds / (len(result) * args.epochs):.3f} s per model-epoch, compilation included)")

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(out / "history.csv", index=False)
    (out / "run.json").write_text(json.dumps({
        "variants": result.variants, "epochs": args.epochs, "seconds": seconds,
        "diverged_at": result.diverged_at, "layerlab": layerlab.__version__}, indent=2))
    (out / "metrics.json").write_text(json.dumps({k: v.tolist() for k, v in result.metrics.items()}))
    save_figures(result, out, ylims=ARTICLE_YLIM, formats=("png", "svg"))
    analysis = result.analyze()
    (out / "analysis.txt").write_text(str(analysis) + "\n")
    print(analysis)
    summary = []
    model.summary(print_fn=summary.append)
    write_report(out / "report.html", result, analysis, title="Is dropout effective against overfitting?",
                 summary_text="\n".join(summary))
    print(f"history, figures, analysis and report written to {out}/")
    if result.run_id is not None:
        store = "" if args.store == "layerlab-runs/layerlab.db" else f" --store {args.store}"
        print(f"run {result.run_id} recorded in {args.store}: try `layerlab{store} show {result.run_id}`")


if __name__ == "__main__":
    main()
