"""The commands that read: a study's summary, the runs, one run's numbers, figures, report and
exports, the datasets; and delete."""
import json
import sys
from pathlib import Path

from .base import Command, number, positive, store_path, table, tolerance

SHOW_FLAG_ALONE = ("show: {flag}: expected together with --analysis; received it alone. "
                   "Add --analysis, e.g. `layerlab show {run} --analysis {flag} ...`.")
KERAS_NEEDS_OUT = ("export: --out: expected a .keras path with --format keras; received none. "
                   "Add e.g. `--out model.keras` (`layerlab export {run} --format keras --out model.keras`).")
KERAS_ONLY = ("export: {flag}: expected only with --format keras; received it with another format. "
              "Add --format keras or leave {flag} out.")
NO_EPOCH_YET = ("{command}: run {run} has no recorded epoch yet; expected at least one to analyse. Wait for its "
                "first epoch (`layerlab runs` shows its progress).")
DELETE_RUNNING = ("delete: run {run} is owned by {owner}; expected a run no live process trains. "
                  "Stop that process first (Ctrl-C), then delete it.")
DELETE_SILENT = ("delete: run {run} is owned by {owner}, silent for longer than {limit:g} s, on another host; "
                 "expected --force to delete it. Make sure it is stopped, then pass --force.")


class Summary(Command):
    """Print the model summary of each compile group of a study."""

    def add_arguments(self, parser):
        parser.add_argument("study", help="a TOML study file")

    def take_action(self, args):
        from layerlab import study as studies
        studies.load(args.study).summary()
        return 0


class Runs(Command):
    """List the runs in the store with their status and progress."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="a JSON list for scripts")

    def take_action(self, args):
        from layerlab.runs import display
        from layerlab.store import Store, heartbeat_age, run_status
        with Store.open(args.store) as store, store.snapshot():
            runs = [{"id": r["id"], "study": r["study"], "status": run_status(store, r),
                     "epochs_completed": r["epochs_completed"], "epochs": r["epochs"], "variants": r["variants"],
                     "dataset": r["dataset"], "started": r["started"], "ended": r["ended"], "error": r["error"],
                     "owner": {"pid": r["pid"], "host": r["host"], "since": r["claimed"]},
                     "heartbeat": r["heartbeat"], "heartbeat_age": heartbeat_age(r)}
                    for r in store.runs()]
        if args.json:
            print(json.dumps(runs, indent=1))
        else:
            print(table(["id", "study", "status", "epochs", "variants", "started", "heartbeat"],
                         [[r["id"], display(r["study"]), r["status"], f"{r['epochs_completed']}/{r['epochs']}",
                           r["variants"], r["started"], ago(r["heartbeat_age"])] for r in runs]) or "no runs yet")
        return 0


class Show(Command):
    """Show a run's final and best metrics per variant, or with --analysis what its curves say."""

    def add_arguments(self, parser):
        from layerlab.analysis import SLOPE_AFTER, TOLERANCE
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
        parser.add_argument("--analysis", action="store_true", help="the analysis: overfitting onset, the "
                            "setting and epochs to pick, in words and a table")
        parser.add_argument("--slope-after", type=positive, metavar="N",
                            help=f"with --analysis: the val_loss slope from epoch N on (default {SLOPE_AFTER})")
        parser.add_argument("--tolerance", type=tolerance, metavar="F",
                            help=f"with --analysis: epochs within F (relative) of the best val_loss count as nearly "
                                 f"as good (default {TOLERANCE})")

    def take_action(self, args):
        from layerlab import export
        from layerlab.analysis import SLOPE_AFTER, TOLERANCE, analyze
        from layerlab.errors import ConfigError
        from layerlab.runs import display, load_run
        if not args.analysis:
            given = [flag for flag, value in (("--slope-after", args.slope_after), ("--tolerance", args.tolerance))
                     if value is not None]
            if given:
                raise ConfigError(SHOW_FLAG_ALONE.format(flag=given[0], run=args.run))
        result = load_run(args.run, store=store_path(args))
        if args.analysis:
            has_epochs(result, "show --analysis")
            analysis = analyze(result, slope_after=args.slope_after or SLOPE_AFTER,
                               tolerance=TOLERANCE if args.tolerance is None else args.tolerance)
            print(json.dumps(analysis.to_dict(), indent=1) if args.json else analysis)
            return 0
        rows = export.summary_rows(result)
        if args.json:
            print(json.dumps({"run": result.run, "variants": rows}, indent=1))
            return 0
        from layerlab.store import heartbeat_age
        run = result.run
        owner = f" by process {run['pid']} on {run['host']}" if run["status"] == "running" else ""
        print(f"run {run['id']}: {display(run['study'])}, {run['status']}{owner}, "
              f"{run['epochs_completed']}/{run['epochs']} epochs, started {run['started']}, "
              f"last heartbeat {ago(heartbeat_age(run))}")
        names = list(result.metrics)
        best = [n for n in ("val_loss", "val_accuracy") if n in names] or names[:1]
        headers = ["#", "variant", "epochs"] + names + [f"best {n} (epoch)" for n in best] + ["diverged"]
        print(table(headers, [[r["variant"], r["label"], r["epochs"]] + [number(r[f"final_{n}"]) for n in names]
                               + [f"{number(r[f'best_{n}'])} ({r[f'best_{n}_epoch'] or '-'})" for n in best]
                               + [r["diverged_at"] or "-"] for r in rows]))
        for r in rows:  # histories of different lengths: where and why each variant stopped
            if r["stopped_after"] is not None:
                print(f"[{r['variant']}] {r['label']} stopped after epoch {r['stopped_after']}: "
                      f"{r['stop_reason'] or 'a callback set stop_training'}")
        return 0


class Export(Command):
    """Export a run as CSV, JSON or TensorBoard event files, or one variant's model as a Keras 3 .keras file."""

    def add_arguments(self, parser):
        from layerlab.export import FORMATS
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--format", choices=FORMATS + ("keras",), default="csv", help="default: csv")
        parser.add_argument("--out", help="file (csv, json; default: stdout; keras: required, e.g. m.keras) or "
                            "folder (tensorboard; default: tensorboard/run-RUN next to the store)")
        parser.add_argument("--variant", type=int, default=0, metavar="I", help="keras: the variant (default 0)")
        parser.add_argument("--best", action="store_true", help="keras: the weights at the lowest val_loss "
                            "(kept by `layerlab run --keep-best`) instead of the last ones")

    def take_action(self, args):
        from layerlab import export
        from layerlab.errors import ConfigError
        from layerlab.runs import load_model, load_run
        if args.format == "keras":
            if not args.out:
                raise ConfigError(KERAS_NEEDS_OUT.format(run=args.run))
            load_model(args.run, args.variant, store=store_path(args),
                       which="best" if args.best else "last").save(args.out)
            print(f"run {args.run} variant {args.variant} written to {args.out}", file=sys.stderr)
            return 0
        if args.variant or args.best:
            raise ConfigError(KERAS_ONLY.format(flag="--variant" if args.variant else "--best"))
        result = load_run(args.run, store=store_path(args))
        if args.format == "tensorboard":
            out = Path(args.out) if args.out else store_path(args).parent / "tensorboard" / f"run-{result.run_id}"
            folders = export.to_tensorboard(result, out)
            print(f"{len(folders)} variant(s) written to {out}; view with `tensorboard --logdir {out}`")
            return 0
        write = export.to_csv if args.format == "csv" else export.write_json
        write(result, args.out if args.out else sys.stdout)
        if args.out:
            print(f"run {result.run_id} written to {args.out}", file=sys.stderr)
        return 0


class Plot(Command):
    """Draw a run's learning curves and the 2x2 overview as PNG and SVG files."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")

    def take_action(self, args):
        from layerlab.figures import plot_settings, save_figures
        from layerlab.runs import load_run
        result = load_run(args.run, store=store_path(args))
        ylims, metrics = plot_settings(result)
        for path in save_figures(result, args.out, ylims=ylims, metrics=metrics):
            print(path)
        return 0


class Activations(Command):
    """Draw the activation functions (the article's ReLU, sigmoid, softmax) and their derivatives."""

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")

    def take_action(self, args):
        from layerlab.figures import draw_all
        for path in draw_all(args.out):
            print(path)
        return 0


class Report(Command):
    """Write one self-contained HTML page of a run: study, model, results, analysis, curves."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--out", required=True, metavar="FILE", help="the HTML file, e.g. report.html")

    def take_action(self, args):
        from layerlab.figures import figures as draw, plot_settings
        from layerlab.report import write_report
        from layerlab.runs import display, load_run, summary_text
        result = load_run(args.run, store=store_path(args))
        has_epochs(result, "report")
        run = result.run
        study = run["spec"].get("study")
        name = study["study"]["name"] if study else display(run["study"])
        ylims, metrics = plot_settings(result)
        figures = None if metrics is None else draw(result, ["overview"] + metrics, ylims)
        path = write_report(args.out, result, title=f"{name}: run {run['id']}", study_text=run["study_text"],
                            summary_text=summary_text(result), ylims=ylims, figures=figures)
        print(f"run {run['id']} reported in {path}")
        return 0


class Datasets(Command):
    """Which datasets are found where, and whether their checksums match."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
        parser.add_argument("--no-verify", action="store_true", help="skip reading and hashing the files")

    def take_action(self, args):
        from layerlab.datasets import describe
        report = describe(verify=not args.no_verify)
        if args.json:
            print(json.dumps(report, indent=1))
        else:
            print(table(["dataset", "status", "source", "where"],
                         [[d["name"], d["status"], d["source"] or "-",
                           str(Path(d["paths"][0]).parent) if d["paths"] else d["detail"]] for d in report]))
        return 0


class Delete(Command):
    """Delete runs from the store (their history and checkpoints too) and give the space back."""

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="+", metavar="RUN", help="run ids")
        parser.add_argument("--force", action="store_true", help="also a run whose owner on another host has "
                            "been silent too long (never one whose owner lives)")

    def take_action(self, args):
        from layerlab.errors import StoreError
        from layerlab.store import STALE_SECONDS, Store, owner_state, owner_text
        with Store.open(args.store) as store:
            before = store.size()
            for run_id in args.runs:
                run = store.run(run_id)
                state = owner_state(store, run)
                if state == "live":
                    raise StoreError(DELETE_RUNNING.format(run=run["id"], owner=owner_text(run)))
                if state == "silent" and not args.force:
                    raise StoreError(DELETE_SILENT.format(run=run["id"], owner=owner_text(run), limit=STALE_SECONDS))
                store.delete_run(run["id"])
                print(f"deleted run {run['id']}")
            store.vacuum()  # the freed pages go back to the disk, not only to later runs
            print(f"store {store.path}: {megabytes(before)} -> {megabytes(store.size())}")
        return 0


def has_epochs(result, command):
    """A run just started (polled while it trains) has nothing to analyse yet: one line says so."""
    from layerlab.errors import StoreError
    if not result.run["epochs_completed"]:
        raise StoreError(NO_EPOCH_YET.format(command=command, run=result.run["id"]))


def megabytes(n):
    return f"{n / 1e6:.2f} MB"


def ago(seconds):
    """'4 s ago', '3 min ago', '2 h ago', '5 d ago'; '-' for None."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"
