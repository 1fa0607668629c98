"""``aebench reproduce``: re-run published records with today's code and compare every
non-timing metric (see :mod:`aebench.execute.reproduce`). Exit status 0 when everything
matches, 1 otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aebench.cli import common

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce",
        help="re-run published records with today's code, compare every metric",
        description="Re-run each published record of a protocol (those seeds, those models) "
        "into a scratch directory with the record's thread count, and compare every non-timing "
        "metric: exactly on the CPU kind that made the record; on another kind (or one the "
        "record does not name), equal bits pass, else the tolerance measured for that model "
        "across CPU kinds (results/reproducibility.json); a model never measured there fails "
        "where it differs, unless --rtol gives one. "
        "Exit status 0 when everything matches, 1 otherwise.",
    )
    p.add_argument(
        "-p",
        "--protocol",
        required=True,
        metavar="NAME",
        help="the published group, e.g. digits-v1",
    )
    p.add_argument(
        "--against",
        default="results/records",
        metavar="DIR",
        help="published records directory (default results/records)",
    )
    p.add_argument(
        "--seeds", metavar="LIST", help="comma-separated seeds (default: every published one)"
    )
    p.add_argument(
        "-m",
        "--model",
        metavar="NAMES",
        help="comma-separated models (default: every published one)",
    )
    p.add_argument(
        "--data-dir", metavar="DIR", help="data files (default $AEBENCH_DATA or the user cache)"
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=None,
        metavar="RTOL",
        help="relative tolerance across CPU kinds for models the table has not measured "
        "(default: none, such a model must be equal)",
    )
    p.add_argument(
        "--table",
        metavar="FILE",
        help="measured cross-kind tolerances (default: reproducibility.json beside --against)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aebench.execute.reproduce import reproduce

    seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    models = set(args.model.split(",")) if args.model else None
    ok = reproduce(
        Path(args.against),
        args.protocol,
        seeds,
        models,
        Path(args.data_dir) if args.data_dir else None,
        args.rtol,
        table_path=Path(args.table) if args.table else None,
    )
    return 0 if ok else common.EXIT_ERROR
