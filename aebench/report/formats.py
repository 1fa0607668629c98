"""A board's output formats: a Rich table for the terminal, and markdown, GitHub, LaTeX
(tabulate) or CSV text for export. They format a built board; they compute nothing."""

from __future__ import annotations

import csv
import io

from aebench.report import verdict
from aebench.report.board import Board, Cell

__all__ = ["export", "to_rich", "to_rows"]


#: columns left out first when a board is wider than the terminal (never the model, the
#: headline column or the status): the likelihood kind, cost, speed, the code size, then the
#: anomaly columns no verdict is drawn from
_DROP_ORDER = (
    "likelihood",
    "params",
    "fit_s",
    "train_samples_per_s",
    "anomaly.oracle_f1",
    "anomaly.precision",
    "anomaly.recall",
    "code",
    "anomaly.auprc",
    "anomaly.f1",
    "nll",
)


def to_rich(board: Board, explain: bool = False, width: int | None = None):
    """The board for a terminal: its verdict lines, the table (best row first, ▲ and = marks
    that survive a plain-text log) and the legend with a caption of at most four lines, or
    every note with ``explain``. Given ``width``, secondary columns are left out (and named)
    until the table fits, so a row never wraps over several lines."""
    from rich.console import Console, Group
    from rich.measure import Measurement
    from rich.text import Text

    shown = ["code", *(c.key for c in board.columns)]
    shown += ["likelihood"] if board.show_likelihood else []
    dropped: list[str] = []
    table = _rich_table(board, shown)
    if width is not None:
        measure = Console(width=10_000)

        def too_wide(t) -> bool:
            return Measurement.get(measure, measure.options, t).maximum > width

        # first the statuses without their reasons (the notes give them), then columns
        short = too_wide(table)
        table = _rich_table(board, shown, short) if short else table
        head = verdict.headline(board)
        order = [k for k in _DROP_ORDER if k in shown and (head is None or k != head.key)]
        if board.members:  # a family's member columns go before its mean
            order = [c.key for c in board.columns[:-1]] + order
        while order and too_wide(table):
            key = order.pop(0)
            shown.remove(key)
            dropped.append(key)
            table = _rich_table(board, shown, short)
    names = {c.key: _short_header(c.header) for c in board.columns}
    left = ", ".join(names.get(k, k) for k in dropped)
    notes = board.caption if explain else verdict.short_caption(board, left, width)
    if explain and dropped:
        notes = [
            *notes,
            f"Left out to fit {width} columns: {left} (a wider terminal or `aebench export` "
            "shows them).",
        ]
    head_lines = verdict.verdict_lines(board)
    parts = [Text(line) for line in head_lines] + [table]
    parts += [Text("\n".join(notes), style="dim" if not explain else "")]
    return Group(*parts)


def _short_header(header: str) -> str:
    """A column's name in a sentence: its label, with its unit where that is short
    ("fit s", "train samples/s", "NLL", "anomaly F1")."""
    lines = [ln.rstrip(" ↓↑") for ln in header.split("\n")]
    return f"{lines[0]} {lines[1]}" if len(lines) > 1 and len(lines[1]) <= 10 else lines[0]


def _rich_table(board: Board, shown: list[str], short: bool = False):
    """The table of the ``shown`` columns; ``short``: statuses without their reasons (the
    notes give those), so a row stays one line."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=board.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("model", style="bold", no_wrap=True)
    if "code" in shown:
        table.add_column("code", justify="right", no_wrap=True)
    cols = [c for c in board.columns if c.key in shown]
    for col in cols:
        table.add_column(col.header, justify="right", no_wrap=True)
    like = board.show_likelihood and "likelihood" in shown
    if like:
        table.add_column("likelihood", no_wrap=True)
    if short:  # one line per row: a long status is cut (the notes and --explain have it)
        table.add_column("status", no_wrap=True, overflow="ellipsis", max_width=28)
    else:
        table.add_column("status")
    for i, row in enumerate(board.rows):
        if row.reference and (i == 0 or not board.rows[i - 1].reference):
            table.add_section()
        cells = []
        for col in cols:
            c = row.cells[col.key]
            txt = escape(c.text(col.digits, ci=col.better != "none"))
            mark = verdict.marker(c)
            txt = f"{mark} {txt}" if mark else txt
            cells.append(f"[bold green]{txt}[/]" if c.best else txt)
        style = "dim" if row.reference or row.verdict else ("red" if not row.ok else None)
        style = "yellow" if row.stale else style
        name = escape(row.display)
        name = name.replace("SUPERVISED: trained with labels", "SUPERVISED") if short else name
        status = escape(row.short_status() if short else row.status_text())
        status = status if row.ok else f"[red]{status}[/]"
        code = [str(row.code if row.code is not None else "—")] if "code" in shown else []
        table.add_row(
            name, *code, *cells, *([row.likelihood or "—"] if like else []), status, style=style
        )
    return table


def to_rows(board: Board, bold: tuple[str, str] | None = None) -> tuple[list[str], list[list[str]]]:
    headers = ["model", "code"] + [c.header.replace("\n", " ") for c in board.columns]
    headers += (["likelihood"] if board.show_likelihood else []) + ["status"]
    rows = []
    for row in board.rows:
        cells = []
        for col in board.columns:
            c = row.cells[col.key]
            t = c.text(col.digits, ci=col.better != "none")
            mark = verdict.marker(c)
            if bold and bold[0] == "\\textbf{":  # LaTeX: bold best, = for not separable
                t = f"{bold[0]}{t}{bold[1]}" if c.best and c.n else (f"= {t}" if mark else t)
            else:
                t = f"{mark} {t}" if mark else t
                t = f"{bold[0]}{t}{bold[1]}" if bold and c.best and c.n else t
            cells.append(t)
        name = row.display
        rows.append(
            [
                name,
                "—" if row.code is None else str(row.code),
                *cells,
                *([row.likelihood or "—"] if board.show_likelihood else []),
                row.status_text(),
            ]
        )
    return headers, rows


def export(board: Board, fmt: str) -> str:
    """The board as markdown / github / latex (tabulate) or csv (one column per statistic)."""
    from tabulate import tabulate

    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        head = ["model", "reference", "code", "status", "verdict", "verdict_reason"]
        head += ["learn_ratio", "likelihood"]
        for c in board.columns:
            k = c.key
            head += [f"{k}_mean", f"{k}_lo", f"{k}_hi", f"{k}_n", f"{k}_mark", f"{k}_p_holm"]
            head += [f"{k}_flag"]
        w.writerow(head)
        for row in board.rows:
            line = [row.model, row.reference, row.code, row.status, row.verdict]
            line += [row.verdict_reason or row.ungated, row.learn_ratio, row.likelihood]
            for c in board.columns:
                cell = row.cells[c.key]
                lo, hi = _bounds(cell)
                line += [cell.mean, lo, hi, cell.n, cell.mark, cell.p, cell.flag]
            w.writerow(line)
        return buf.getvalue()
    styles = {
        "markdown": ("pipe", ("**", "**")),
        "github": ("github", ("**", "**")),
        "latex": ("latex_raw", ("\\textbf{", "}")),
    }
    tablefmt, bold = styles[fmt]
    headers, rows = to_rows(board, bold)
    if fmt == "latex":
        rows = [[_latex_escape(c) if not c.startswith("\\textbf") else c for c in r] for r in rows]
        headers = [_latex_escape(h) for h in headers]
        body = tabulate(rows, headers, tablefmt=tablefmt)
        cap = _latex_escape(" ".join(board.caption))
        return f"% {board.title}\n{body}\n% {cap}\n"
    body = tabulate(rows, headers, tablefmt=tablefmt, disable_numparse=True)
    lead = "".join(f"{line}  \n" for line in verdict.verdict_lines(board))
    lead = f"{lead}\n" if lead else ""
    notes = [verdict.legend(board), *board.caption]
    return f"### {board.title}\n\n{lead}{body}\n\n" + "\n".join(f"{c}  " for c in notes) + "\n"


def _bounds(cell: Cell) -> tuple[float | None, float | None]:
    """The interval a cell shows, as numbers (the t interval's bounds before significance)."""
    if cell.lo is not None:
        return cell.lo, cell.hi
    if cell.half is not None and cell.mean is not None:
        return cell.mean - cell.half, cell.mean + cell.half
    return None, None


def _latex_escape(s: str) -> str:
    rep = {
        "&": r"\&",
        "%": r"\%",
        "#": r"\#",
        "_": r"\_",
        "±": r"$\pm$",
        "–": "--",
        "≈": r"$\approx$",
        "⚠": r"$^{\dagger}$",
        "✗": r"$\times$",
        "×": r"$\times$",
        "≥": r"$\geq$",
        "»": r"$\gg$",
        "‡": r"$^{\ddagger}$",
        "—": "--",
        "↓": r"$\downarrow$",
        "↑": r"$\uparrow$",
        "~": r"\textasciitilde{}",
    }
    return "".join(rep.get(ch, ch) for ch in s)
