"""The `layerlab` command: run studies, list and show runs, export them, check datasets.

Each subcommand is a Command registered by name in COMMANDS: `add_arguments` declares its flags,
`take_action` is a few lines over the library and returns the exit code. Errors are one line on
stderr, `layerlab: error: ...`, with exit code 2; `--debug` shows the traceback instead.
Ctrl-C during `run` records what is complete, marks the run interrupted and exits with 130.

    layerlab run studies/dropout.toml --epochs 5
    layerlab runs --json
    layerlab show 1
    layerlab export 1 --format tensorboard --out tb/
"""
import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from layerlab.errors import LayerlabError, StoreWarning

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


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

    def take_action(self, args):
        from layerlab.store import StoreRecorder
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
                                       **study.fit_kwargs(epochs))
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
        print(f"run {result.run_id} finished: {len(getattr(result, 'variants', [0]))} variant(s) x "
              f"{study.fit_kwargs(epochs)['epochs']} epochs in {store.path}; see `layerlab show {result.run_id}"
              f"{_store_flag(args)}`, `layerlab export {result.run_id} --format csv`")
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
    """Show a run's final and best metrics per variant."""

    def add_arguments(self, parser):
        parser.add_argument("run", help="a run id (see `layerlab runs`)")
        parser.add_argument("--json", action="store_true", help="JSON for scripts")

    def take_action(self, args):
        from layerlab import export, load_run
        result = load_run(args.run, store=_store_path(args))
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
    "run": Run, "summary": Summary, "runs": Runs, "show": Show, "export": Export,
    "datasets": Datasets, "delete": Delete,
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
        if issubclass(category, StoreWarning):
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
