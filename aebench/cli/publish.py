"""``aebench publish``: every board's tables with significance marks, ranks across boards,
pictures, and optionally a static web site (nothing is run)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("publish", help="tables with significance marks, ranks and pictures")
    common.common_options(p)
    common.results_dir_option(p, several=True)
    p.add_argument("--out-dir", metavar="DIR", help="where the files go " + common.OUT_HELP)
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument(
        "--site",
        metavar="DIR",
        nargs="?",
        const="",
        help="also a static web site (opens from file://), beside the tables in OUT_DIR/site "
        "unless DIR says where (inside --out-dir it links the figures, elsewhere it copies them)",
    )
    p.add_argument(
        "--literature",
        metavar="DIR",
        help="published figures (JSON, aebench.report.literature) for a reproduced-vs-published "
        "table per data set (default OUT_DIR/literature where it exists)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from aebench.report import publish

    dirs = common.results_dirs(args)
    out_dir = common.out_dir(args, dirs[0])
    stale = common.stale(common.load_plugins(args))
    site = None if args.site is None else (Path(args.site) if args.site else out_dir / "site")
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
        # one line per file, never wrapped: a path split over lines cannot be pasted or grepped
        Console().print(f"wrote {path}", highlight=False, soft_wrap=True, markup=False)
    return 0
