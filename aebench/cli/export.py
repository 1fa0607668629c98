"""``aebench export``: stored leaderboards written as markdown, GitHub markdown, LaTeX or CSV."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError

__all__ = ["FORMATS", "add_parser", "run"]

#: format -> file extension
FORMATS = {"markdown": "md", "github": "md", "latex": "tex", "csv": "csv"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write leaderboards as markdown/github/latex/csv")
    common.common_options(p)
    common.results_dir_option(p, several=True)
    p.add_argument("-p", "--protocol", metavar="NAME", help="only this " + common.PROTOCOL_HELP)
    p.add_argument("--format", default="markdown", choices=list(FORMATS))
    p.add_argument("--out-dir", metavar="DIR", help="where tables are written " + common.OUT_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from aebench.records import storage
    from aebench.report.build import build_boards
    from aebench.report.formats import export
    from aebench.report.publication import mark_significance

    dirs, records = common.load_records(args)
    registry = common.load_plugins(args)
    stale = common.stale(registry)
    boards = build_boards(records, common.group(args, records, registry), stale)
    if not boards:
        raise AebenchError(f"no records of {args.protocol} in {', '.join(map(str, dirs))}")
    out_dir = common.out_dir(args, dirs[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for b in boards:
        mark_significance(b, records, stale=stale)
        path = out_dir / f"{b.group}_{b.dataset}.{FORMATS[args.format]}"
        storage.atomic_write(path, export(b, args.format))
        Console().print(f"wrote {path}", highlight=False)
    return 0
