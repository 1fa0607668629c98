"""A board's output formats: a Rich table for the terminal, and markdown, GitHub, LaTeX
(tabulate) or CSV text for export. They format a built board; they compute nothing."""

from __future__ import annotations

import csv
import io

from aebench.report.board import Board, Cell

__all__ = ["export", "to_rich", "to_rows"]


def to_rich(board: Board):
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=board.title, caption=escape("\n".join(board.caption)), caption_justify="left"
    )
    table.add_column("model", style="bold")
    table.add_column("code", justify="right")
    for col in board.columns:
        table.add_column(col.header, justify="right")
    if board.show_likelihood:
        table.add_column("likelihood")
    table.add_column("status")
    for i, row in enumerate(board.rows):
        if row.reference and (i == 0 or not board.rows[i - 1].reference):
            table.add_section()
        cells = []
        for col in board.columns:
            c = row.cells[col.key]
            txt = escape(c.text(col.digits, ci=col.better != "none"))
            cells.append(f"[bold green]{txt}[/]" if c.best else (f"≈ {txt}" if c.tied else txt))
        style = "dim" if row.reference or row.verdict else ("red" if not row.ok else None)
        style = "yellow" if row.stale else style
        name = escape(row.display)
        status = escape(row.status_text()) if row.ok else f"[red]{escape(row.status)}[/]"
        like = [row.likelihood or "—"] if board.show_likelihood else []
        table.add_row(
            name,
            str(row.code if row.code is not None else "—"),
            *cells,
            *like,
            status,
            style=style,
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
            if bold and c.best and c.n:
                t = f"{bold[0]}{t}{bold[1]}"
            elif c.tied and c.n:
                t = f"_{t}_" if bold and bold[0] == "**" else f"≈ {t}"
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
    return f"### {board.title}\n\n{body}\n\n" + "\n".join(f"{c}  " for c in board.caption) + "\n"


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
