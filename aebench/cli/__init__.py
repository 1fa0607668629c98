"""The ``aebench`` command: one module per subcommand (list, run, tune, show, compare, export, plot,
publish, reproduce, compact), each with ``add_parser(sub)`` and ``run(args) -> exit status``;
what they share is in :mod:`aebench.cli.common`.

Errors a user can fix are one line on stderr with a non-zero exit; ``--debug`` shows tracebacks.
:func:`main` can be called in-process: it returns the exit status, writes to ``sys.stdout`` and
``sys.stderr`` as they are at the call, and leaves the warning filters as it found them.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from rich.console import Console
from rich.markup import escape

from aebench import __version__

# Importing a submodule binds its name in this package, so ``list`` below is the command
# module, not the builtin: this module uses neither builtin by those names.
from aebench.cli import (
    compact,
    compare,
    export,
    list,
    plot,
    publish,
    reproduce,
    run,
    show,
    tune,
)
from aebench.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from aebench.errors import AebenchError, AebenchWarning

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "build_parser", "main"]

#: the subcommands in the order ``aebench --help`` lists them
COMMANDS = (list, run, tune, show, compare, export, plot, publish, reproduce, compact)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise AebenchError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aebench", description="Benchmark autoencoders under fixed protocols.")
    parser.add_argument("--version", action="version", version=f"aebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``aebench ARGV`` (default ``sys.argv[1:]``) and return its exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    err = Console(stderr=True)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version: printed, then argparse exits
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        with warnings.catch_warnings():  # restores filters and showwarning on the way out
            _one_line_warnings(err)
            return args.func(args)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except AebenchError as exc:
        if debug:
            raise
        # escaped: a message may hold brackets, e.g. pip install 'aebench[dask]'
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(rerun with --debug)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_ERROR


def _one_line_warnings(err: Console) -> None:
    """Show aebench's own warnings (a file skipped, a state repaired) as one line each."""
    shown = warnings.showwarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, AebenchWarning):
            err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", AebenchWarning)
    warnings.showwarning = show_warning
