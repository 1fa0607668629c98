"""The ``aebench`` command: list, run, tune, show, export, plot, publish.

Errors a user can fix are one line on stderr with a non-zero exit; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from aebench import __version__
from aebench.cli.options import execution_options
from aebench.cli.tune import add_parser as add_tune_parser
from aebench.cli.tune import run as cmd_tune
from aebench.errors import AebenchError
from aebench.protocol import PRECISIONS

EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 2, 1, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise AebenchError(f"{message} (see `{self.prog} --help`)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="skip the plugin with this entry-point name (repeatable; also "
        "$AEBENCH_DISABLE_PLUGINS=a,b)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _results_dir(p: argparse.ArgumentParser, several: bool = False) -> None:
    more = (
        "; repeat it to merge directories: boards of equal protocols become one" if several else ""
    )
    p.add_argument(
        "--results-dir",
        metavar="DIR",
        action="append" if several else "store",
        help=f"where run records live (default $AEBENCH_RESULTS or ./aebench-runs){more}",
    )


def _results_dirs(args: argparse.Namespace) -> list[Path]:
    """The --results-dir directories of show/export/plot/publish, the default when none."""
    from aebench.records import storage

    return [storage.default_results_dir(d) for d in args.results_dir or [None]]


_PROTOCOL_HELP = "protocol: name (its current version), name-vN or name-vN~FINGERPRINT"
# derived files sit beside the records they come from, so no default can overwrite the
# tables another results directory made (e.g. the published ones in results/)
_OUT_HELP = "(default RESULTS_DIR/published)"
_FIGURES_HELP = "(default RESULTS_DIR/published/figures)"


def _out_dir(args: argparse.Namespace, results_dir: Path, sub: str = "") -> Path:
    return Path(args.out_dir) if args.out_dir else results_dir / "published" / sub


def _group(args: argparse.Namespace, records: list[dict[str, Any]]) -> str | None:
    """The record group ``-p`` names, resolved as ``run`` resolves it; None without ``-p``."""
    return _registry(args).resolve_group(args.protocol, records) if args.protocol else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aebench", description="Benchmark autoencoders under fixed protocols.")
    parser.add_argument("--version", action="version", version=f"aebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="models, data sets and protocols from installed plugins")
    _common(p)

    p = sub.add_parser("run", help="run models × data sets × seeds and show the leaderboard")
    _common(p)
    p.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="NAME",
        help="model(s) to run (repeatable or comma-separated; default: all)",
    )
    p.add_argument(
        "-d",
        "--dataset",
        action="append",
        metavar="NAME",
        help="data set(s) (default: the offline default data set), or a path to your own files",
    )
    p.add_argument("--data-option", action="append", metavar="K=V", help="for -d PATH (README)")
    p.add_argument("-p", "--protocol", metavar="NAME", help=_PROTOCOL_HELP)
    p.add_argument("--seeds", metavar="LIST", help="comma-separated seeds (default: protocol's)")
    _results_dir(p)
    execution_options(p)
    p.add_argument("--force", action="store_true", help="rerun runs that already have a record")
    p.add_argument(
        "--budget",
        type=int,
        metavar="SAMPLES",
        help="override the training budget: the runs form a protocol VARIANT",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="training precision (bf16 autocast, meant for CUDA): the runs form a VARIANT",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help="override a model config field (repeatable); recorded in the run",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_tune_parser(sub)

    p = sub.add_parser("show", help="leaderboards from stored records (nothing is run)")
    _common(p)
    _results_dir(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + _PROTOCOL_HELP)

    p = sub.add_parser("export", help="write leaderboards as markdown/github/latex/csv")
    _common(p)
    _results_dir(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + _PROTOCOL_HELP)
    p.add_argument("--format", default="markdown", choices=["markdown", "github", "latex", "csv"])
    p.add_argument("--out-dir", metavar="DIR", help="where tables are written " + _OUT_HELP)

    p = sub.add_parser("plot", help="pictures (PNG) from stored records and their arrays")
    _common(p)
    _results_dir(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + _PROTOCOL_HELP)
    p.add_argument("--out-dir", metavar="DIR", help="where pictures go " + _FIGURES_HELP)

    p = sub.add_parser("publish", help="tables with significance marks, ranks and pictures")
    _common(p)
    _results_dir(p, several=True)
    p.add_argument("--out-dir", metavar="DIR", help="where the files go " + _OUT_HELP)
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument(
        "--site",
        metavar="DIR",
        help="also a static web site there (opens from file://; inside --out-dir it links the "
        "figures, elsewhere it copies them)",
    )
    p.add_argument(
        "--literature",
        metavar="DIR",
        help="published figures (JSON, aebench.report.literature) for a reproduced-vs-published table "
        "per data set (default OUT_DIR/literature where it exists)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    err = Console(stderr=True)
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        with warnings.catch_warnings():
            _one_line_warnings(err)
            return COMMANDS[args.command](args)
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
    from aebench.errors import AebenchWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, AebenchWarning):
            err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", AebenchWarning)
    warnings.showwarning = show


def _registry(args: argparse.Namespace):
    from aebench.registry.loading import load_registry

    registry = load_registry(disabled=args.disable_plugin)
    err = Console(stderr=True)
    for name, problem in registry.broken:
        err.print(
            f"[yellow]warning:[/] plugin {name!r} skipped: {problem}",
            highlight=False,
            soft_wrap=True,
        )
    return registry


def cmd_list(args: argparse.Namespace) -> int:
    from aebench.cli.catalogue import tables

    out = _wide_console()
    for table in tables(_registry(args)):
        out.print(table)
    return 0


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    import ast

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, fld = key.partition(".")
        if not sep or not dot or not model or not fld:
            raise AebenchError(f"--set {item!r}: expected MODEL.FIELD=VALUE, e.g. rbm.k=5")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(model, {})[fld] = value
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from aebench.cli.progress import RichReporter
    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.records import storage
    from aebench.run import runner
    from aebench.run.provenance import resolve_device

    registry = _registry(args)
    _set_threads(args)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise AebenchError(f"--seeds {args.seeds!r}: expected integers like 0,1,2") from None
    overrides = {"budget_samples": args.budget} if args.budget else {}
    if args.precision:
        overrides["precision"] = args.precision
    if args.budget is not None and args.budget <= 0:
        raise AebenchError("--budget must be a positive number of training samples")
    datasets, protocol = registry.resolve(_split(args.dataset), args.protocol, args.data_option)
    requests = runner.plan(
        registry,
        _split(args.model),
        datasets,
        protocol,
        seeds,
        overrides,
        _parse_sets(args.set),
    )
    device = resolve_device(args.device)
    results_dir = storage.default_results_dir(args.results_dir)
    data = runner.DataCache(registry, default_data_dir(args.data_dir), not args.no_download, device)
    executor = _executor(args, registry, device, data)
    reporter = RichReporter(quiet=args.quiet)
    try:
        with executor:
            summary = suite.run_suite(
                registry,
                requests,
                results_dir,
                device,
                data,
                force=args.force,
                reporter=reporter,
                executor=executor,
            )
    except KeyboardInterrupt:
        reporter.interrupted(results_dir)
        return EXIT_INTERRUPTED
    reporter.summary(summary, results_dir)
    groups = sorted({r.group for r in requests} | {r.protocol.family for r in requests} - {""})
    _show(results_dir, groups, datasets={r.dataset for r in requests}, registry=registry)
    return 0


def _set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise AebenchError("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)


def _executor(args: argparse.Namespace, registry, device, data):
    """Where the runs execute: in this process, in --jobs N processes, or on --cluster."""
    import os

    from aebench.execute.executors import WorkerSetup, make_executor
    from aebench.registry.loading import disabled_from_env

    threads = args.threads
    if threads is None and args.jobs:  # N processes share the cores rather than each take all
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
    # a cluster's workers use their own data cache unless told a path (e.g. a shared disk)
    data_dir = args.data_dir and str(Path(args.data_dir).expanduser().resolve())
    setup = WorkerSetup(
        device=str(device),
        threads=threads,
        disabled=tuple(sorted(set(args.disable_plugin) | disabled_from_env())),
        data_dir=data_dir if args.cluster else str(data.data_dir),
        download=not args.no_download,
    )
    return make_executor(registry, device, data, setup, args.jobs, args.cluster, args.run_timeout)


def _stale(registry):
    """Today's implementations of the installed models: rows made by others are marked."""
    from aebench.run.implementation import checker

    return checker(registry) if registry is not None else None


def _show(
    results_dirs: Path | list[Path],
    groups: list[str] | None,
    datasets: set[str] | None = None,
    args=None,
    registry=None,
) -> int:
    from aebench.records import merge
    from aebench.report import publish, render

    dirs = [results_dirs] if isinstance(results_dirs, Path) else results_dirs
    records, problems = merge.load(dirs)
    err, out = Console(stderr=True), _wide_console()
    for p in problems:
        err.print(f"[yellow]warning:[/] skipped {p}", highlight=False, soft_wrap=True)
    if args is not None and args.protocol:
        groups = [_group(args, records)]
    boards = []
    stale = _stale(registry)
    for g in groups or [None]:
        boards += render.build_boards(records, g, stale)
    if datasets:
        boards = [b for b in boards if b.dataset in datasets]
    if not boards:
        what = f" of {', '.join(groups)}" if groups and None not in groups else ""
        raise AebenchError(
            f"no records{what} in {', '.join(map(str, dirs))}; run `aebench run` first or pass "
            "--results-dir"
        )
    for b in boards:
        publish.mark_significance(b, records, stale=stale)
        out.print(render.to_rich(b))
    return 0


def _wide_console() -> Console:
    """Leaderboards are wide; when stdout is not a terminal, do not squeeze them to 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def cmd_show(args: argparse.Namespace) -> int:
    return _show(_results_dirs(args), None, args=args, registry=_registry(args))


def _load(args: argparse.Namespace) -> tuple[list[Path], list[dict[str, Any]]]:
    """The --results-dir directories and their records (merged); skipped files are warned."""
    from aebench.records import merge

    dirs = _results_dirs(args)
    records, problems = merge.load(dirs)
    for p in problems:
        Console(stderr=True).print(f"[yellow]warning:[/] skipped {p}", highlight=False)
    if not records:
        raise AebenchError(f"no records in {', '.join(map(str, dirs))}; run `aebench run` first")
    return dirs, records


def cmd_export(args: argparse.Namespace) -> int:
    from aebench.records import storage
    from aebench.report import publish, render

    dirs, records = _load(args)
    stale = _stale(_registry(args))
    boards = render.build_boards(records, _group(args, records), stale)
    if not boards:
        raise AebenchError(f"no records of {args.protocol} in {', '.join(map(str, dirs))}")
    out_dir = _out_dir(args, dirs[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = {"markdown": "md", "github": "md", "latex": "tex", "csv": "csv"}[args.format]
    for b in boards:
        publish.mark_significance(b, records, stale=stale)
        path = out_dir / f"{b.group}_{b.dataset}.{ext}"
        storage.atomic_write(path, render.export(b, args.format))
        Console().print(f"wrote {path}", highlight=False)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from aebench.report import plots, render

    dirs, records = _load(args)
    boards = render.build_boards(records, _group(args, records))
    if not boards:
        raise AebenchError(f"no records of {args.protocol} in {', '.join(map(str, dirs))}")
    out_dir = _out_dir(args, dirs[0], "figures")
    for b in (b for b in boards if not b.members):  # a family's pictures are its members'
        recs = render.records_of(b, records)
        for path in plots.all_figures(recs, out_dir, f"{b.group}_{b.dataset}", b.title):
            Console().print(f"wrote {path}", highlight=False)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from aebench.report import publish

    dirs = _results_dirs(args)
    out_dir = _out_dir(args, dirs[0])
    stale = _stale(_registry(args))
    site = Path(args.site) if args.site else None
    lit = Path(args.literature) if args.literature else None
    for flag, folder in (("--out-dir", out_dir), ("--site", site)):
        try:  # before anything is written: no half-published directory
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AebenchError(
                f"{flag} {folder}: cannot write there ({exc.strerror or exc}); pass another folder"
            ) from None
    for path in publish.publish(dirs, out_dir, not args.no_figures, stale, site, lit):
        Console().print(f"wrote {path}", highlight=False)
    return 0


COMMANDS = {
    "list": cmd_list,
    "run": cmd_run,
    "tune": cmd_tune,
    "show": cmd_show,
    "export": cmd_export,
    "plot": cmd_plot,
    "publish": cmd_publish,
}

if __name__ == "__main__":
    sys.exit(main())
