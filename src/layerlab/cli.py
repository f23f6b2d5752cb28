"""The `layerlab` command: run studies, list, show, analyse, plot, report and export runs, check datasets.

Each subcommand is a Command registered by name in COMMANDS: `add_arguments` declares its flags,
`take_action` is a few lines over the library and returns the exit code. Errors are one line on
stderr, `layerlab: error: ...`, with exit code 2; `--debug` shows the traceback instead.
Ctrl-C during `run` records what is complete, marks the run interrupted and exits with 130.

    layerlab run studies/dropout.toml --epochs 5
    layerlab runs --json
    layerlab show 1
    layerlab show 1 --analysis
    layerlab plot 1 --out figures/
    layerlab report 1 --out report.html
    layerlab activations --out activations/
    layerlab export 1 --format tensorboard --out tb/
"""
import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from layerlab.errors import BackendWarning, LayerlabError, StoreWarning

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT
SLOPE_AFTER, TOLERANCE = 20, 0.05  # `show --analysis` defaults, as analyze()'s


class Command:
    """A subcommand: the first docstring line is its help."""

    def add_arguments(self, parser):
        pass

    def take_action(self, args) -> int:
        raise NotImplementedError


class Run(Command):
    """Train a study (every variant at once), recording each epoch into the store."""

    def add_arguments(self, parser):
        parser.add_argument("study", nargs="?", help="a TOML study file, e.g. studies/dropout.toml")
        parser.add_argument("--epochs", type=_positive, help="override the study's epochs")
        parser.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                            help="continue RUN, or this study's last unfinished run, from its last committed epoch")
        parser.add_argument("--keep-best", action="store_true",
                            help="also keep each variant's checkpoint at its lowest val_loss")
        parser.add_argument("--quiet", action="store_true", help="no progress output")
        parser.add_argument("--backend", choices=("local", "ray"), default="local",
                            help="train here (default) or on a Ray cluster (pip install \"layerlab[ray]\")")
        parser.add_argument("--workers", type=_positive, metavar="N",
                            help="with --backend local: programs that train at once (default: one per core)")
        parser.add_argument("--address", metavar="ADDR",
                            help="with --backend ray: the cluster, e.g. auto or HOST:6379 (default: $RAY_ADDRESS, "
                                 "else the one `ray start` began on this machine, else a new one here)")

    def take_action(self, args):
        from layerlab import backends
        from layerlab.errors import ConfigError
        from layerlab.store import StoreRecorder
        if args.address is not None and args.backend != "ray":
            raise ConfigError(f"run: --address: expected together with --backend ray; received --address "
                              f"{args.address} alone. Add --backend ray.")
        if args.workers is not None and args.backend != "local":
            raise ConfigError(f"run: --workers: expected with --backend local; received --workers {args.workers} "
                              f"with --backend {args.backend}. Ray places its tasks itself: leave --workers out.")
        backend = backends.Ray(address=args.address) if args.backend == "ray" else backends.Local(args.workers)
        store, study, resume, epochs = _study_and_run(args)
        if study is None:
            return 0
        (x, y), validation, dataset = study.load_data()

        def announce(recorder):
            verb = f"resumed after {recorder.epochs_before} epochs" if resume else "started"
            print(f"run {recorder.run_id} {verb}: {_display(study.file)}; recording into {store.path}", flush=True)

        recorder = StoreRecorder(store, resume=resume, data=(x, y), dataset=dataset, announce=announce,
                                 study={"path": str(Path(study.file).resolve()), "text": study.text,
                                        "resolved": study.resolved(epochs)},
                                 keep_best=study.keep_best or args.keep_best)
        verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
        try:
            result = study.model().fit(x, y, validation_data=validation, verbose=verbose, recorder=recorder,
                                       backend=backend, **study.fit_kwargs(epochs))
        except LayerlabError as e:
            if recorder.status != "failed":
                raise
            hint = f"`layerlab run --resume {recorder.run_id}{_store_flag(args)}`"
            raise type(e)(f"{str(e).rstrip('.')} with {hint}.") from None
        except KeyboardInterrupt:
            if recorder.run_id is None:
                raise
            run = store.run(recorder.run_id)
            print(f"layerlab: interrupted: run {run['id']} stopped with {run['epochs_completed']} of {run['epochs']} "
                  f"epochs recorded; resume with `layerlab run --resume {run['id']}{_store_flag(args)}`",
                  file=sys.stderr)
            return INTERRUPTED
        run_id, flag = result.run_id, _store_flag(args)
        print(f"run {run_id} finished: {len(getattr(result, 'variants', [0]))} variant(s) x "
              f"{study.fit_kwargs(epochs)['epochs']} epochs in {store.path}; see `layerlab show {run_id}{flag}`, "
              f"`layerlab show {run_id} --analysis{flag}`, `layerlab plot {run_id} --out figures{flag}`, "
              f"`layerlab export {run_id} --format csv{flag}`")
        print(f"everything on one page (study, model, results, analysis, curves): "
              f"`layerlab report {run_id} --out report.html{flag}`")
        return 0


class Summary(Command):
    """Print the model summary of each compile group of a study."""

    def add_arguments(self, parser):
        parser.add_argument("study", help="a TOML study file")

    def take_action(self, args):
        from layerlab import study as studies
        studies.load(args.study).model().summary()
        return 0


class Runs(Command):
    """List the runs in the store with their status and progress."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="a JSON list for scripts")

    def take_action(self, args):
        from layerlab.store import Store, process_alive
        with Store.open(args.store) as store:
            runs = [{"id": r["id"], "study": r["study"], "status": _status(store, r, process_alive),
                     "epochs_completed": r["epochs_completed"], "epochs": r["epochs"], "variants": r["variants"],
                     "dataset": r["dataset"], "started": r["started"], "ended": r["ended"], "error": r["error"]}
                    for r in store.runs()]
        if args.json:
            print(json.dumps(runs, indent=1))
        else:
            print(_table(["id", "study", "status", "epochs", "variants", "started"],
                         [[r["id"], _display(r["study"]), r["status"], f"{r['epochs_completed']}/{r['epochs']}",
                           r["variants"], r["started"]] for r in runs]) or "no runs yet")
        return 0


class Show(Command):
    """Show a run's final and best metrics per variant, or with --analysis what its curves say."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
        parser.add_argument("--analysis", action="store_true", help="the analysis: overfitting onset, the "
                            "setting and epochs to pick, in words and a table")
        parser.add_argument("--slope-after", type=_positive, metavar="N",
                            help=f"with --analysis: the val_loss slope from epoch N on (default {SLOPE_AFTER})")
        parser.add_argument("--tolerance", type=_tolerance, metavar="F",
                            help=f"with --analysis: epochs within F (relative) of the best val_loss count as nearly "
                                 f"as good (default {TOLERANCE})")

    def take_action(self, args):
        from layerlab import export, load_run
        from layerlab.errors import ConfigError
        if not args.analysis:
            given = [flag for flag, value in (("--slope-after", args.slope_after), ("--tolerance", args.tolerance))
                     if value is not None]
            if given:
                raise ConfigError(f"show: {given[0]}: expected together with --analysis; received it alone. "
                                  f"Add --analysis, e.g. `layerlab show {args.run} --analysis {given[0]} ...`.")
        result = load_run(args.run, store=_store_path(args))
        if args.analysis:
            analysis = _analyze(result, args)
            print(json.dumps(analysis.to_dict(), indent=1) if args.json else analysis)
            return 0
        rows = export.summary_rows(result)
        if args.json:
            print(json.dumps({"run": result.run, "variants": rows}, indent=1))
            return 0
        run = result.run
        print(f"run {run['id']}: {_display(run['study'])}, {run['status']}, "
              f"{run['epochs_completed']}/{run['epochs']} epochs, started {run['started']}")
        names = list(result.metrics)
        best = [n for n in ("val_loss", "val_accuracy") if n in names] or names[:1]
        headers = ["#", "variant", "epochs"] + names + [f"best {n} (epoch)" for n in best] + ["diverged"]
        print(_table(headers, [[r["variant"], r["label"], r["epochs"]] + [_fmt(r[f"final_{n}"]) for n in names]
                               + [f"{_fmt(r[f'best_{n}'])} ({r[f'best_{n}_epoch'] or '-'})" for n in best]
                               + [r["diverged_at"] or "-"] for r in rows]))
        return 0


class Export(Command):
    """Export a run as CSV, JSON or TensorBoard event files."""

    def add_arguments(self, parser):
        from layerlab.export import FORMATS
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
        parser.add_argument("--out", help="file (csv, json; default: stdout) or folder (tensorboard; "
                            "default: tensorboard/run-RUN next to the store)")

    def take_action(self, args):
        from layerlab import export, load_run
        result = load_run(args.run, store=_store_path(args))
        if args.format == "tensorboard":
            out = Path(args.out) if args.out else _store_path(args).parent / "tensorboard" / f"run-{result.run_id}"
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
        from layerlab import load_run
        from layerlab.plots import save_figures
        result = load_run(args.run, store=_store_path(args))
        for path in save_figures(result, args.out, ylims=_ylims(result), metrics=_plot_metrics(result)):
            print(path)
        return 0


class Activations(Command):
    """Draw the activation functions (the article's ReLU, sigmoid, softmax) and their derivatives."""

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figures (created if missing)")

    def take_action(self, args):
        from layerlab.activation_figures import draw_all
        for path in draw_all(args.out):
            print(path)
        return 0


class Report(Command):
    """Write one self-contained HTML page of a run: study, model, results, analysis, curves."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--out", required=True, metavar="FILE", help="the HTML file, e.g. report.html")

    def take_action(self, args):
        from layerlab import load_run, plots
        from layerlab.report import write_report
        result = load_run(args.run, store=_store_path(args))
        run = result.run
        study = run["spec"].get("study")
        name = study["study"]["name"] if study else _display(run["study"])
        metrics = _plot_metrics(result)
        figures = None if metrics is None else plots.figures(result, ["overview"] + metrics, _ylims(result))
        path = write_report(args.out, result, title=f"{name}: run {run['id']}", study_text=run["study_text"],
                            summary_text=_summary_text(result), ylims=_ylims(result), figures=figures)
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
            print(_table(["dataset", "status", "source", "where"],
                         [[d["name"], d["status"], d["source"] or "-",
                           str(Path(d["paths"][0]).parent) if d["paths"] else d["detail"]] for d in report]))
        return 0


class Delete(Command):
    """Delete runs from the store (their history and checkpoints too)."""

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="+", metavar="RUN", help="run ids")

    def take_action(self, args):
        from layerlab.errors import StoreError
        from layerlab.store import Store, process_alive
        with Store.open(args.store) as store:
            for run_id in args.runs:
                run = store.run(run_id)
                if process_alive(store, run):
                    raise StoreError(f"delete: run {run['id']} is still being written by process {run['pid']}; "
                                     "expected a stopped run. Stop it first (Ctrl-C), then delete it.")
                store.delete_run(run["id"])
                print(f"deleted run {run['id']}")
        return 0


COMMANDS: dict[str, type[Command]] = {
    "run": Run, "summary": Summary, "runs": Runs, "show": Show, "plot": Plot, "report": Report,
    "export": Export, "activations": Activations, "datasets": Datasets, "delete": Delete,
}


# -- the entry point ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n{self.format_usage()}")


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS,
                        help="run store file (default: $LAYERLAB_STORE or ./layerlab-runs/layerlab.db)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = _Parser(prog="layerlab", description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(title="commands", dest="name", metavar="COMMAND", parser_class=_Parser)
    for name, command_class in COMMANDS.items():
        command = command_class()
        help_line = (command_class.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=help_line, description=help_line, parents=[common])
        command.add_arguments(p)
        p.set_defaults(command=command)
    return parser


def main(argv=None) -> int:
    """`layerlab COMMAND ...`; returns the exit code (0 ok, 2 error, 130 interrupted)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    args.debug = getattr(args, "debug", False)
    args.store = getattr(args, "store", None)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _one_line_warning(warnings.showwarning)
            return args.command.take_action(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("layerlab: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `layerlab export 1 | head`: the reader is gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, LayerlabError):
            message = str(e)
        else:
            message = f"{type(e).__name__}: {e} (an unexpected error; rerun with --debug for the traceback)"
        print(f"layerlab: error: {' '.join(message.split())}", file=sys.stderr)
        return 2


def _one_line_warning(show):
    """layerlab's own warnings as one line, `layerlab: warning: ...`; others as `show` does."""
    def one_line(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (StoreWarning, BackendWarning)):
            print(f"layerlab: warning: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)
    return one_line


# -- helpers ------------------------------------------------------------------------------------------
def _study_and_run(args):
    """(store, study, run id to resume or None, epochs) for `run`; study None if nothing to do.
    A bad study or run id is reported before the store is created."""
    from layerlab import study as studies
    from layerlab.errors import ConfigError, StoreError
    from layerlab.store import Store
    resume = args.resume
    if isinstance(resume, str) and not resume.isdigit() and args.study is None:
        args.study, resume = resume, True  # `layerlab run --resume studies/x.toml`
    if isinstance(resume, str):
        store = Store.open(args.store)
        run = store.run(resume)
        if args.study is not None and str(Path(args.study).resolve()) != run["study"]:
            raise ConfigError(f"run: --resume {resume}: run {run['id']} is of {_display(run['study'])}; received "
                              f"study {args.study}. Leave the study out to resume run {run['id']}.")
        if run["study_text"] is None:
            raise StoreError(f"run: --resume {resume}: run {run['id']} was recorded by model.fit() from Python, not "
                             f"from a study file; expected a study run. Resume it with model.fit(..., store=..., "
                             f"resume={run['id']}).")
        study = studies.loads(run["study_text"], _display(run["study"]))
    elif args.study is None:
        raise ConfigError("run: study: expected a study file or --resume RUN; received neither. "
                          "Pass e.g. `layerlab run studies/dropout.toml`.")
    else:
        study = studies.load(args.study)
        store = Store.open(args.store, create=True)
        run = store.latest_run(str(Path(args.study).resolve())) if resume else None
        if resume and run is None:
            print(f"no earlier run of {args.study} in {store.path}; starting a new one")
    if run is None:
        return store, study, None, args.epochs
    if run["status"] == "finished":
        print(f"run {run['id']} of {_display(run['study'])} already finished ({run['epochs_completed']} of "
              f"{run['epochs']} epochs); nothing to resume. See `layerlab show {run['id']}`.")
        return store, None, None, None
    return store, study, run["id"], args.epochs or run["spec"]["fit"]["epochs"]


def _analyze(result, args):
    from layerlab.analysis import analyze
    return analyze(result, slope_after=args.slope_after or SLOPE_AFTER,
                   tolerance=TOLERANCE if args.tolerance is None else args.tolerance)


def _ylims(result):
    """The y-limits to draw a run with: its study's (the [plot] section), the article's for the
    article's dropout study without any (e.g. recorded by studies/dropout.py), else automatic (None)."""
    from layerlab.plots import ARTICLE_YLIM
    study = result.run["spec"].get("study") or {}
    ylims = {k: tuple(v) for k, v in ((study.get("plot") or {}).get("ylim") or {}).items()}
    if ylims:
        return ylims
    return dict(ARTICLE_YLIM) if _is_article_study(result) else None


def _plot_metrics(result):
    """The curves to draw: the study's [plot] metrics that the run recorded, else None (all)."""
    study = result.run["spec"].get("study") or {}
    metrics = (study.get("plot") or {}).get("metrics")
    return None if not metrics else [m for m in metrics if m in result.metrics]


def _is_article_study(result):
    """Flatten(28x28) -> Dense(128, relu) -> Dropout(swept rate) -> Dense(10, softmax), as the article."""
    from layerlab.findings import article_rate_key
    spec = result.run["spec"]
    layers = (spec.get("model") or {}).get("layers") or []
    if [layer.get("class_name") for layer in layers] != ["Flatten", "Dense", "Dropout", "Dense"]:
        return False
    dense = [(layers[i]["config"].get("units"), layers[i]["config"].get("activation")) for i in (1, 3)]
    return (dense == [(128, "relu"), (10, "softmax")] and list(spec.get("input_shape") or []) == [28, 28]
            and article_rate_key(result) is not None)


def _summary_text(result):
    """model.summary() of the run's first compile group, rebuilt from the stored config; None if
    that is not possible (a config this layerlab cannot rebuild)."""
    from layerlab.store import model_for
    spec, lines = result.run["spec"], []
    try:
        groups = spec.get("groups") or [[0]]
        model_for(spec, result.variants[groups[0][0]]).summary(print_fn=lines.append)
    except Exception:  # the report goes on without the model section
        return None
    if len(groups) > 1:
        lines.insert(0, f"Compile group 1 of {len(groups)}")
    return "\n".join(lines)


def _status(store, run, process_alive):
    """The recorded status, or 'stopped' for a run whose process is gone (killed or crashed)."""
    if run["status"] == "running" and not process_alive(store, run):
        return "stopped"
    return run["status"]


def _store_path(args):
    from layerlab.store import default_path
    return Path(args.store) if args.store else default_path()


def _store_flag(args):
    return f" --store {args.store}" if args.store else ""


def _display(path):
    """A path relative to the working folder when it is inside it."""
    try:
        return os.path.relpath(path) if os.path.isabs(path) and not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int; received {text!r}")
    return value


def _tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a float >= 0 (0.05: within 5 % of the best val_loss); "
                                         f"received {text!r}")
    return value


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


def _table(headers, rows):
    if not rows:
        return ""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
