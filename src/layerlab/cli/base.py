"""What every command shares: the Command base, the store flags, and plain-text tables."""
import argparse
from pathlib import Path

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


class Command:
    """A subcommand: the first docstring line is its help; take_action returns the exit code."""

    def add_arguments(self, parser):
        pass

    def take_action(self, args) -> int:
        raise NotImplementedError


def store_path(args):
    from layerlab.store import default_path
    return Path(args.store) if args.store else default_path()


def store_flag(args):
    """' --store PATH' when the command was given one, for the commands it suggests next."""
    return f" --store {args.store}" if args.store else ""


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int; received {text!r}")
    return value


def tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a float >= 0 (0.05: within 5 % of the best val_loss); "
                                         f"received {text!r}")
    return value


def number(x):
    return "-" if x is None else f"{x:.4f}"


def table(headers, rows):
    """Left-aligned columns under a rule; '' without rows."""
    if not rows:
        return ""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
