"""What several commands share: their options, the registry they load, where records are read
and written, how runs execute (``run`` and ``tune``), and one-line warnings."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from aebench.errors import AebenchError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "OUT_HELP",
    "PROTOCOL_HELP",
    "allowed_plugins",
    "common_options",
    "execution_options",
    "group",
    "load_plugins",
    "load_records",
    "make_executor",
    "out_dir",
    "results_dir_option",
    "results_dirs",
    "set_threads",
    "split",
    "stale",
    "warn",
    "wide_console",
]

EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 2, 1, 130

PROTOCOL_HELP = "protocol: name (its current version), name-vN or name-vN~FINGERPRINT"
# derived files sit beside the records they come from, so no default can overwrite the
# tables another results directory made (e.g. the published ones in results/)
OUT_HELP = "(default RESULTS_DIR/published)"


# -- options --------------------------------------------------------------------------------
def common_options(p: argparse.ArgumentParser) -> None:
    """``--plugin``, ``--disable-plugin`` and ``--debug``: every command that loads the
    plugins takes them."""
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="load only this plugin (entry-point or distribution name; repeatable; also "
        "$AEBENCH_PLUGINS=a,b)",
    )
    p.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="skip the plugin with this entry-point or distribution name (repeatable; also "
        "$AEBENCH_DISABLE_PLUGINS=a,b)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def results_dir_option(p: argparse.ArgumentParser, several: bool = False) -> None:
    more = (
        "; repeat it to merge directories: boards of equal protocols become one" if several else ""
    )
    p.add_argument(
        "--results-dir",
        metavar="DIR",
        action="append" if several else "store",
        help=f"where run records live (default $AEBENCH_RESULTS or ./aebench-runs){more}",
    )


def execution_options(p: argparse.ArgumentParser) -> None:
    """Where and how runs execute (shared by ``run`` and ``tune``)."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data files / download cache (default $AEBENCH_DATA or user cache)",
    )
    p.add_argument("--no-download", action="store_true", help="never fetch missing data files")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch (default: torch's choice; recorded in each run)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="run N runs at once, each in a worker process of its own on this machine",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://HOST:8786 (a running scheduler) or local:N "
        "(N local workers); needs `pip install 'aebench[dask]'`",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        metavar="SECONDS",
        help="stop a run after this long (training + evaluation) and record it as timeout",
    )


def split(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated values (``-m a,b -m c``) as one list; None when none."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


# -- the registry and the records -----------------------------------------------------------
def warn(text: str) -> None:
    Console(stderr=True).print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)


def allowed_plugins(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--plugin``'s names, else $AEBENCH_PLUGINS's; None: every plugin."""
    from aebench.registry.loading import allowed_from_env

    allowed = set(getattr(args, "plugin", None) or ()) or allowed_from_env()
    return tuple(sorted(allowed)) if allowed is not None else None


def load_plugins(args: argparse.Namespace) -> Any:
    """The installed plugins (``--plugin``'s only, less ``--disable-plugin``'s); each that
    failed to load, and each name two plugins registered, is warned once."""
    from aebench.registry.loading import load_registry

    loaded = load_registry(disabled=args.disable_plugin, allowed=allowed_plugins(args))
    for name, problem in loaded.broken:
        warn(f"plugin {name!r} skipped: {problem}")
    for clash in loaded.clashes:
        warn(str(clash))
    return loaded


def stale(registry: Any) -> Any:
    """Today's implementations of the installed models: rows made by others are marked."""
    from aebench.run.implementation import checker

    return checker(registry) if registry is not None else None


def results_dirs(args: argparse.Namespace) -> list[Path]:
    """The --results-dir directories of show/export/plot/publish, the default when none."""
    from aebench.records import storage

    return [storage.default_results_dir(d) for d in args.results_dir or [None]]


def load_records(args: argparse.Namespace) -> tuple[list[Path], list[dict[str, Any]]]:
    """The --results-dir directories and their records (merged); skipped files are warned."""
    from aebench.records import merge

    dirs = results_dirs(args)
    records, problems = merge.load(dirs)
    for p in problems:
        warn(f"skipped {p}")
    if not records:
        raise AebenchError(f"no records in {', '.join(map(str, dirs))}; run `aebench run` first")
    return dirs, records


def group(args: argparse.Namespace, records: list[dict[str, Any]], registry: Any) -> str | None:
    """The record group ``-p`` names, resolved as ``run`` resolves it; None without ``-p``."""
    return registry.resolve_group(args.protocol, records) if args.protocol else None


def out_dir(args: argparse.Namespace, results_dir: Path, sub: str = "") -> Path:
    return Path(args.out_dir) if args.out_dir else results_dir / "published" / sub


def wide_console() -> Console:
    """Leaderboards are wide; when stdout is not a terminal, do not squeeze them to 80 columns
    (200, unless ``COLUMNS`` says how wide)."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(width=200)


# -- execution (run, tune) ------------------------------------------------------------------
def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise AebenchError("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)


def make_executor(args: argparse.Namespace, registry: Any, device: Any, data: Any) -> Any:
    """Where the runs execute: in this process, in --jobs N processes, or on --cluster."""
    import os

    from aebench.execute import executors
    from aebench.registry.loading import disabled_from_env

    threads = args.threads
    if threads is None and args.jobs:  # N processes share the cores rather than each take all
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
    # a cluster's workers use their own data cache unless told a path (e.g. a shared disk)
    data_dir = args.data_dir and str(Path(args.data_dir).expanduser().resolve())
    setup = executors.WorkerSetup(
        device=str(device),
        threads=threads,
        disabled=tuple(sorted(set(args.disable_plugin) | disabled_from_env())),
        allowed=allowed_plugins(args),
        data_dir=data_dir if args.cluster else str(data.data_dir),
        download=not args.no_download,
    )
    return executors.make_executor(
        registry, device, data, setup, args.jobs, args.cluster, args.run_timeout
    )
