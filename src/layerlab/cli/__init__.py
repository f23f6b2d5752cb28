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
    layerlab datasets show mnist --out figures/mnist
    layerlab inspect 1 --variant 1 --vs 0 --out figures/mistakes
    layerlab predict 1 --variant 1 seven.png
"""
import argparse
import os
import sys
import warnings

from layerlab.errors import BackendWarning, LayerlabError, StoreWarning

from .base import INTERRUPTED, Command
from .commands import Activations, Datasets, Delete, Export, Plot, Report, Runs, Show, Summary
from .inspect import DatasetsShow, Inspect, Predict
from .run import Run

COMMANDS: dict[str, type[Command]] = {
    "run": Run, "summary": Summary, "runs": Runs, "show": Show, "plot": Plot, "report": Report,
    "export": Export, "activations": Activations, "datasets": Datasets, "delete": Delete,
}
COMMANDS.update({"datasets": DatasetsShow, "inspect": Inspect, "predict": Predict})  # datasets gains `show`


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
