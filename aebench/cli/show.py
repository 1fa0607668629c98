"""``aebench show``: leaderboards from stored records, with the statistics every output gives
them (nothing is run). ``run`` and ``tune`` end with the same boards."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError

__all__ = ["add_parser", "print_boards", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("show", help="leaderboards from stored records (nothing is run)")
    common.common_options(p)
    common.results_dir_option(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + common.PROTOCOL_HELP)
    p.add_argument(
        "--explain",
        action="store_true",
        help="every caption note (protocol, intervals, tests, learning gate, timings) under "
        "each board, not the four-line summary",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = common.load_plugins(args)
    return print_boards(
        common.results_dirs(args),
        None,
        registry=registry,
        protocol=args.protocol,
        explain=args.explain,
    )


def print_boards(
    results_dirs: Path | list[Path],
    groups: list[str] | None,
    datasets: set[str] | None = None,
    registry: Any = None,
    protocol: str | None = None,
    explain: bool = False,
    asked_seeds: list[int] | None = None,
) -> int:
    """The boards of ``groups`` (every group when None; the one ``protocol`` names when given)
    in ``results_dirs``, only of ``datasets`` when given, with bootstrap intervals, Holm marks
    and flags, best row first under one verdict line per tested column; ``explain``: every
    caption note, not the short caption; an error when there is none. ``asked_seeds``: the
    seeds a command explicitly ran (``run --seeds 0``), which its boards then expect instead of
    the protocol's, so a deliberate subset is not called INCOMPLETE (``show`` still says so)."""
    from aebench.records import merge
    from aebench.report.build import build_boards
    from aebench.report.formats import to_rich
    from aebench.report.publication import mark_significance

    dirs = [results_dirs] if isinstance(results_dirs, Path) else results_dirs
    records, problems = merge.load(dirs)
    for p in problems:
        common.warn(f"skipped {p}")
    if asked_seeds is not None:
        expected = sorted(set(asked_seeds))
        records = [{**r, "protocol": {**r["protocol"], "seeds": expected}} for r in records]
    if protocol:
        groups = [registry.resolve_group(protocol, records)]
    stale = common.stale(registry)
    boards = [b for g in groups or [None] for b in build_boards(records, g, stale)]
    if datasets:
        boards = [b for b in boards if b.dataset in datasets]
    if not boards:
        what = f" of {', '.join(groups)}" if groups and None not in groups else ""
        raise AebenchError(
            f"no records{what} in {', '.join(map(str, dirs))}; run `aebench run` first or pass "
            "--results-dir"
        )
    out = common.wide_console()
    for b in boards:
        mark_significance(b, records, stale=stale)
        out.print(to_rich(b, explain=explain, width=out.width))
        out.print()
    return 0
