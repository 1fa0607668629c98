"""``aebench plot``: pictures (PNG) from stored records and their arrays."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plot", help="pictures (PNG) from stored records and their arrays")
    common.common_options(p)
    common.results_dir_option(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + common.PROTOCOL_HELP)
    p.add_argument(
        "--out-dir", metavar="DIR", help="where pictures go (default RESULTS_DIR/published/figures)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from aebench.report import interpolation, plots
    from aebench.report.build import build_boards, records_of

    dirs, records = common.load_records(args)
    group = common.group(args, records, common.load_plugins(args)) if args.protocol else None
    boards = build_boards(records, group)
    if not boards:
        raise AebenchError(f"no records of {args.protocol} in {', '.join(map(str, dirs))}")
    out_dir = common.out_dir(args, dirs[0], "figures")
    for b in (b for b in boards if not b.members):  # a family's pictures are its members'
        recs = records_of(b, records)
        stem = f"{b.group}_{b.dataset}"
        figures = plots.all_figures(recs, out_dir, stem, b.title)
        for path in figures + interpolation.grids(recs, out_dir, stem):
            Console().print(f"wrote {path}", highlight=False)
    return 0
