"""``aebench compact DIR``: apply today's storage rule to the arrays stored under a results
directory (see :mod:`aebench.records.artifacts`): remove those of superseded boards' later
seeds, then compact every record's arrays."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compact",
        help="apply today's storage rule to a results directory's arrays",
        description="Remove the arrays of superseded boards' later seeds, then compact every "
        "record's arrays under RESULTS_DIR (figure-only arrays of later seeds dropped, members "
        "deflated, equal arrays stored once); each record's arrays_sha256 follows.",
    )
    p.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    p.add_argument(
        "--remove-only",
        action="store_true",
        help="only remove superseded boards' arrays, rewrite no file (under git, a rewritten "
        "file adds its new bytes to the history)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aebench.records import artifacts
    from aebench.registry.loading import load_registry
    from aebench.run.implementation import checker

    if not args.results_dir.is_dir():
        raise AebenchError(f"{args.results_dir}: no such results directory")
    n, saved = artifacts.drop_superseded(args.results_dir, checker(load_registry()))
    print(f"superseded boards: {n} later seed(s)' arrays removed, {saved / 1e6:.1f} MB saved")
    if args.remove_only:
        return 0
    saved = n = 0
    for path in sorted(args.results_dir.rglob("seed-*.json")):
        got = artifacts.compact(path)
        saved, n = saved + got, n + (got > 0)
    print(f"compacted {n} record(s)' arrays, {saved / 1e6:.1f} MB saved")
    return 0
