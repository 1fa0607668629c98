"""``aebench compare A B``: two rows of a board, metric by metric, from stored records (nothing
is run): B − A with its 95 % interval and p-value from the board's own paired bootstrap, and
what that resampling covers."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help="is model A better than B, by how much, how sure (from stored records)"
    )
    p.add_argument("a", metavar="A", help="a row of the board (a model name as the board shows)")
    p.add_argument("b", metavar="B", help="another row of the same board")
    common.common_options(p)
    common.results_dir_option(p, several=True)
    p.add_argument(
        "-p", "--protocol", metavar="NAME", help="on this " + common.PROTOCOL_HELP + " only"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table

    from aebench.report.compare import compare

    registry = common.load_plugins(args)
    _, records = common.load_records(args)
    group = common.group(args, records, registry)
    out = common.wide_console()
    for cmp in compare(records, args.a, args.b, group, common.stale(registry)):
        table = Table(
            title=f"{cmp.board.title}: B − A, A = {cmp.a}, B = {cmp.b}",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for head in ("metric", "A", "B", "B − A [95 % interval]", "p"):
            table.add_column(head, justify="left" if head == "metric" else "right", no_wrap=True)
        table.add_column("verdict")
        for d in cmp.differences:
            fmt = f"{{:,.{d.digits}f}}".format
            diff, sig = "—", f"{{:+,.{d.digits + 1}f}}".format
            if d.diff is not None:
                diff = f"{sig(d.diff)} [{sig(d.lo)}, {sig(d.hi)}]"
            arrow = {"lower": " ↓", "higher": " ↑"}.get(d.better, "")
            table.add_row(
                d.label + arrow,
                "—" if d.a is None else fmt(d.a),
                "—" if d.b is None else fmt(d.b),
                diff,
                "—" if d.p is None else f"{d.p:.3g}",
                d.verdict,
            )
        out.print(table)
        lines = [
            cmp.covers,
            "p: two-sided t-test of the paired difference on the board's resamples; a gap "
            "within half a unit of the last digit shown counts as none (as the board's marks); "
            "not corrected across the metrics listed.",
            *cmp.notes,
        ]
        out.print("\n".join(lines), highlight=False)
        out.print()
    return 0
