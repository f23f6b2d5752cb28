"""The commands that look at data and mistakes: `datasets show`, `inspect` and `predict`.

    layerlab datasets show mnist --split test --out figures/mnist
    layerlab inspect 1 --variant 1 --vs 0 --out figures/mistakes
    layerlab inspect 1 --json
    layerlab predict 1 --variant 1 seven.png three.jpg --out figures/mine
"""
import json
import sys
from pathlib import Path

from .base import Command, store_path, table
from .commands import Datasets

NO_DATASET_NAME = ("datasets show: name: expected a dataset, e.g. `layerlab datasets show mnist`; received none. "
                   "`layerlab datasets` lists them.")
KERAS_VARIANT = ("predict: --variant: expected no variant with a saved model ({path} holds one); received {received}. "
                 "Leave --variant out, or give a run id to choose among its variants.")
SOME_FAILED = 1  # predict: some pictures could not be read (each said so); the others were answered


def _which(parser):
    parser.add_argument("--which", choices=("last", "best"), default="last",
                        help="the weights: the last epoch's (default) or those at the variant's lowest val_loss "
                             "(kept by `layerlab run --keep-best`)")


def _variant(text):
    try:
        return int(text)
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError(f"expected a variant index (an int); received {text!r}") from None


def _default(result, variant):
    """The variant asked for, else the best one (lowest final val_loss), else the first."""
    if variant is not None:
        return variant
    return result.best("val_loss") if "val_loss" in result.metrics else 0


class DatasetsShow(Datasets):
    """Which datasets are found where (checksums checked); `datasets show NAME` draws one."""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("action", nargs="?", choices=("show",), help="show: a dataset's samples, class counts, "
                            "pixel values, class means and one image's values")
        parser.add_argument("dataset", nargs="?", help="with show: mnist or fashion_mnist")
        parser.add_argument("--split", choices=("train", "test"), default="train", help="with show (default train)")
        parser.add_argument("--out", metavar="DIR", help="with show: write the figures (PNG and SVG) here")

    def take_action(self, args):
        if args.action is None:
            return super().take_action(args)
        from layerlab.errors import ConfigError
        from layerlab.figures import dataset_figures, dataset_summary
        if not args.dataset:
            raise ConfigError(NO_DATASET_NAME)
        summary = dataset_summary(args.dataset, args.split)
        if args.json:
            print(json.dumps(summary, indent=1))
        else:
            p = summary["pixels"]
            print(f"{summary['dataset']} {args.split}: {summary['images']:,} images of "
                  f"{'x'.join(map(str, summary['shape']))} pixels, values {p['min']}-{p['max']} "
                  f"(mean {p['mean']:.1f}, {p['zero_fraction']:.0%} zero)")
            print(table(["class", "label", "images"], [[c["class"], c["label"], c["count"]]
                                                       for c in summary["classes"]]))
        if args.out:
            for path in dataset_figures(args.dataset, args.split).save(args.out):
                print(path, file=sys.stderr if args.json else sys.stdout)
        return 0


class Inspect(Command):
    """What a run's variants get wrong: confusion matrices, misclassified images, variants compared."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--variant", type=_variant, metavar="I", help="the variant (default: the best, "
                            "lowest final val_loss)")
        parser.add_argument("--vs", type=_variant, metavar="J", help="compare with variant J")
        parser.add_argument("--out", metavar="DIR", help="write the figures (PNG and SVG) here")
        parser.add_argument("--json", action="store_true", help="JSON for scripts: confusion, misclassified, ...")
        _which(parser)

    def take_action(self, args):
        from layerlab.figures import inspection_figures
        from layerlab.inspection import inspect_run
        from layerlab.runs import load_run
        result = load_run(args.run, store=store_path(args))
        m, x = inspect_run(result, args.which, store=store_path(args))
        variant = _default(result, args.variant)
        report = m.to_dict(variant, args.vs)  # checks both indices
        if args.json:
            print(json.dumps(report, indent=1))
        else:
            print(f"run {result.run_id} on {m.description}; weights: {args.which}")
            print(table(["#", "variant", "accuracy", "wrong"],
                        [[i, m.labels[i], f"{m.accuracy(i):.4f}", int((~m.correct[i]).sum())] for i in range(len(m))]))
            core = report["hard_core"]
            print(f"wrong in every variant (the hard core): {core['count']} of {core['of']}")
            if args.vs is not None:
                c = report["comparison"]
                print(f"{m.labels[variant]} right, {c['vs_label']} wrong: {len(c['right_only_in_variant'])}; "
                      f"{c['vs_label']} right, {m.labels[variant]} wrong: {len(c['right_only_in_vs'])}")
        if args.out:
            for path in inspection_figures(m, x, variant, args.vs).save(args.out):
                print(path, file=sys.stderr if args.json else sys.stdout)
        return 0


class Predict(Command):
    """Classify your own images (PNG, JPEG, ...) with a variant of a run: the top 3 classes each."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`), or a saved model (m.keras)")
        parser.add_argument("images", nargs="+", metavar="IMAGE", help="picture files, one digit each")
        parser.add_argument("--variant", type=_variant, metavar="I", help="the variant (default: the best, "
                            "lowest final val_loss)")
        parser.add_argument("--out", metavar="DIR", help="a figure per image: it, the 28x28 input, the probabilities")
        parser.add_argument("--json", action="store_true", help="JSON for scripts: one object per image")
        _which(parser)

    def take_action(self, args):
        from layerlab.errors import ConfigError
        from layerlab.figures import prediction_figure
        from layerlab.figures.curves import Figures
        from layerlab.inspection import class_names, predict_images, public, study_dataset, variant_model
        from layerlab.models import load_model
        from layerlab.runs import load_run
        if str(args.run).endswith(".keras"):  # a saved model: digits, its input pixels / 255 as the article's
            if args.variant is not None:
                raise ConfigError(KERAS_VARIANT.format(path=args.run, received=args.variant))
            model, names, divide_by, run, variant = load_model(args.run), class_names("mnist"), 255.0, args.run, None
            title = str(args.run)
        else:
            result = load_run(args.run, store=store_path(args))
            variant = _default(result, args.variant)
            model = variant_model(result, variant, args.which, store=store_path(args))
            try:
                dataset = study_dataset(result)
                names, divide_by = class_names(dataset["name"]), dataset["divide_by"]
            except ConfigError:  # a run from Python on arrays: digits, pixels / 255 as the article
                names, divide_by = class_names("mnist"), 255.0
            run, title = result.run_id, f"variant {variant} ({result.label(variant)})"
        answers = predict_images(model, args.images, names, divide_by, run=run)
        if args.json:
            print(json.dumps([public(a) for a in answers], indent=1))
        for a in answers:
            if "error" in a:
                print(f"layerlab: error: {a['error']}", file=sys.stderr)
            elif not args.json:
                print(f"{a['path']}: " + ", ".join(f"{p['label']} ({p['probability']:.3f})" for p in a["predictions"]))
        if args.out:
            figures, used = Figures(), set()
            for a in answers:
                if "error" not in a:
                    stem = Path(a["path"]).stem
                    name = stem if stem not in used else f"{stem}-{len(used) + 1}"
                    used.add(name)
                    figures[name] = prediction_figure(a["_gray"], a["_input"], a["_probabilities"], names,
                                                      f"{a['path']}: {title}")
            for path in figures.save(args.out):
                print(path, file=sys.stderr if args.json else sys.stdout)
        return SOME_FAILED if any("error" in a for a in answers) else 0
