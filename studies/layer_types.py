"""Layer types compared: dense vs convolutional vs convolutional with batch normalisation.

The Python form of studies/layer-types.toml (the same models, names and numbers): the article's
dense network, Keras' "simple MNIST convnet" and that convnet with BatchNormalization, each
with the dropout sweep 0.0 ... 0.8, on MNIST and Fashion-MNIST, trained side by side by
layerlab.fit_models into one result (and one run in the store). Writes the per-epoch history
(CSV), the figures that compare the models, the analysis and an HTML report; with --docs also
the page docs/layer-types/README.md, from the numbers of this run.

    python studies/layer_types.py                        # the full study: 20 epochs, every sample
    python studies/layer_types.py --epochs 3             # a quick look
    python studies/layer_types.py --resume RUN           # continue a stopped run (same other options)
    python studies/layer_types.py --epochs 10 --limit-train 10000 --limit-test 2000 --out docs/layer-types --docs
"""
import argparse
import json
import os
import pathlib
import platform
import time
from datetime import datetime

import layerlab
from layerlab import layers
from layerlab.report import write_report

RATES = [0.0, 0.2, 0.4, 0.6, 0.8]


def dense():
    """The article's network."""
    return layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(layerlab.sweep(RATES)),
        layers.Dense(10, activation="softmax"),
    ])


def conv(batch_norm=False):
    """Keras' simple MNIST convnet; with batch_norm, BatchNormalization (and no bias) after each
    convolution, then the ReLU."""
    def block(filters):
        if not batch_norm:
            return [layers.Conv2D(filters, 3, activation="relu"), layers.MaxPooling2D(2)]
        return [layers.Conv2D(filters, 3, use_bias=False), layers.BatchNormalization(), layers.Activation("relu"),
                layers.MaxPooling2D(2)]
    return layerlab.Sequential([layers.Reshape((28, 28, 1), input_shape=(28, 28)), *block(32), *block(64),
                                layers.Flatten(), layers.Dropout(layerlab.sweep(RATES)),
                                layers.Dense(10, activation="softmax")])


def models():
    """{name: compiled model}; each built in a fresh session, so its layers have the names the
    study file gives them (conv2d, dropout, dense ...)."""
    out = {}
    for name, build in (("dense", dense), ("conv", conv), ("conv_bn", lambda: conv(batch_norm=True))):
        layerlab.backend.clear_session()
        out[name] = build()
        out[name].compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return out


def datasets(limit_train, limit_test):
    out = {}
    for name in ("mnist", "fashion_mnist"):
        (x, y), (xt, yt) = getattr(layerlab.datasets, name).load_data()
        out[name] = ((x[:limit_train] / 255.0, y[:limit_train]), (xt[:limit_test] / 255.0, yt[:limit_test]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit-train", type=int, default=60000, help="train on the first N samples of each")
    parser.add_argument("--limit-test", type=int, default=10000, help="validate on the first N test samples")
    parser.add_argument("--out", default="out/layer-types", help="folder for the history, figures and report")
    parser.add_argument("--store", default="layerlab-runs/layerlab.db", help="run store ('' for none)")
    parser.add_argument("--docs", action="store_true", help="also write the page README.md into --out")
    parser.add_argument("--resume", type=int, metavar="RUN",
                        help="continue run RUN of --store (stopped before its end) from its last recorded epoch")
    parser.add_argument("--from-run", type=int, metavar="RUN",
                        help="write the outputs of run RUN of --store (trained by this script) instead of training")
    args = parser.parse_args(argv)

    if args.from_run is not None:
        result = layerlab.load_run(args.from_run, store=args.store)
        run = result.run
        if result.metrics["loss"].shape[1] != args.epochs:
            parser.error(f"--from-run {args.from_run}: that run has {result.metrics['loss'].shape[1]} epochs; "
                         f"pass --epochs, --limit-train and --limit-test as it was trained")
        seconds = (datetime.fromisoformat(run["ended"]) - datetime.fromisoformat(run["started"])).total_seconds()
    else:
        built = models()
        for name, model in built.items():
            print(f"{name}:")
            model.summary()
        start = time.perf_counter()
        result = layerlab.fit_models(built, datasets=datasets(args.limit_train, args.limit_test), epochs=args.epochs,
                                     batch_size={"dense": 32, "conv": 128, "conv_bn": 128}, seed=args.seed,
                                     store=args.store or None, resume=args.resume,
                                     name="layer-types" if args.store else None)
        seconds = time.perf_counter() - start
    print(result)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(out / "history.csv", index=False)
    (out / "run.json").write_text(json.dumps({
        "variants": result.variants, "epochs": args.epochs, "limit_train": args.limit_train,
        "limit_test": args.limit_test, "seconds": seconds, "layerlab": layerlab.__version__}, indent=1))
    names = layerlab.figures.save_figures(result, out, formats=("png",))
    analysis = result.analyze()
    (out / "analysis.txt").write_text(str(analysis) + "\n")
    print(analysis)
    write_report(out / "report.html", result, analysis, title="Layer types compared")
    if args.docs:
        (out / "README.md").write_text(page(result, analysis, args, seconds, [p.name for p in names]))
    print(f"history, figures, analysis and report written to {out}/")


def bn_note(steps):
    """What BatchNormalization's moving statistics (momentum 0.99) mean for conv_bn's validation."""
    head = ("conv_bn is validated with BatchNormalization's moving mean and variance (momentum 0.99, as in "
            f"Keras; they start at 0 and 1): after its {steps:,} training steps the starting values ")
    weight = 0.99 ** steps
    if weight >= 0.05:
        return head + (f"still weigh 0.99^{steps:,} = {weight:.0%} in them, which handicaps its validation curves "
                       "in a short run more than its training curves.")
    return head + (f"weigh 0.99^{steps:,} = {weight:.1e} in them, so they no longer hold its validation curves "
                   "back (in runs of a few hundred steps they do, with Keras' default momentum).")


def page(result, analysis, args, seconds, figures):
    """docs/layer-types/README.md: how it was made, then what this run's analysis says."""
    full = args.epochs == 20 and args.limit_train == 60000 and args.limit_test == 10000
    setting = ("the full study" if full else
               f"**a reduced run, not the study's full setting** (20 epochs on all 60,000 training and 10,000 "
               f"test samples): {args.epochs} epochs on the first {args.limit_train:,} training and "
               f"{args.limit_test:,} test samples of each dataset, so that it runs on a small CPU")
    command = (f"`python studies/layer_types.py --epochs {args.epochs} --limit-train {args.limit_train} "
               f"--limit-test {args.limit_test} --out docs/layer-types --docs` (seed {args.seed})")
    how = (f"{command}: {setting}. {len(result)} variants (3 models x 5 dropout rates x 2 datasets) in one run, "
           f"{seconds / 60:.0f} minutes on a {os.cpu_count()}-core {platform.machine()} machine "
           "(compilation included). The page is written by the script from this run's numbers; "
           "`studies/layer-types.toml` is the same study (`layerlab run studies/layer-types.toml`).")
    models_text = ("Models: `dense` is the article's network (batch 32); `conv` is Keras' simple MNIST convnet "
                   "(34,826 parameters, batch 128); `conv_bn` is that convnet with BatchNormalization after each "
                   "convolution (batch 128). Each has the dropout sweep 0.0, 0.2, 0.4, 0.6, 0.8 before its last "
                   "layer. Adam, validated on the test split.")
    steps = -(-args.limit_train // 128) * args.epochs
    batch_norm = bn_note(steps)
    rest = ("The whole analysis (every setting's curve, the table, the definitions) is `analysis.txt`; "
            "every variant's four metrics per epoch are in `history.csv`.")
    lines = ["# Layer types compared, as layerlab ran it", "", how, "", models_text, "", "## What the analysis says", ""]
    lines += [f"- {s}" for s in analysis.architectures.findings]
    lines += ["", batch_norm, "", rest, "", "## Figures", ""]
    lines += [f"![{name}]({name})" for name in figures if name.startswith(("models_", "sweeps_"))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
