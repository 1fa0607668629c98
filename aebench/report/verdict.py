"""What a board says first: its rows in order of the headline metric, one verdict line per
tested column, the marks that survive plain text, and a caption short enough to read.

Nothing here computes a statistic: the verdict reads the marks and Holm-adjusted p-values that
:mod:`aebench.report.significance` set (the same paired bootstrap as every output), so the
terminal, the markdown, the site and ``compare`` can never disagree.
"""

from __future__ import annotations

import math

from aebench.report.board import Board, Cell, Column, Row

__all__ = [
    "BEST",
    "EXPLAIN_HINT",
    "TIED",
    "headline",
    "legend",
    "marker",
    "short_caption",
    "sort_rows",
    "verdict_lines",
]

#: the marks a plain-text log keeps (bold does not survive `> out.txt`)
BEST, TIED = "▲", "="
#: the columns that get a verdict line (the ones :mod:`aebench.report.significance` tests)
VERDICT_COLUMNS = ("recon_mse", "nll", "anomaly.f1", "anomaly.auroc", "anomaly.auprc")
#: each task's headline column, the one rows are sorted by (as aebench.report.ranking ranks)
_HEADLINES = ("recon_mse", "anomaly.auroc")
#: caption lines that warn (shown in the short caption, condensed)
_ALERTS = (
    "INCOMPLETE",
    "SUPERSEDED",
    "STALE",
    "did not learn:",
    "not converged:",
    "‡",
    "QUICK",
)
EXPLAIN_HINT = "`aebench show --explain`"


def headline(board: Board) -> Column | None:
    """The column a board's rows are sorted by: a family's mean column, else the task's
    headline metric (reconstruction MSE, anomaly AUROC), else the first quality column."""
    keys = {c.key: c for c in board.columns}
    if board.members:
        return board.columns[-1]
    for key in _HEADLINES:
        if key in keys:
            return keys[key]
    return next((c for c in board.columns if c.better in ("lower", "higher")), None)


def _compared(row: Row, col: Column) -> bool:
    """A row the column ranks: no reference, stale or gated row, no density in the NLL column."""
    cell = row.cells.get(col.key)
    if cell is None or not cell.n or cell.mean is None or not math.isfinite(cell.mean):
        return False
    density = col.key == "nll" and row.like_kind == "density"
    return not (row.reference or row.stale or cell.verdict or row.verdict or density)


def sort_rows(board: Board) -> None:
    """Rows best first by the headline column; rows it does not compare (stale, gated, no
    value, failed) after them, reference rows last (each group best first too)."""
    col = headline(board)
    if col is None:
        return
    sign = -1.0 if col.better == "higher" else 1.0

    def key(row: Row):
        cell = row.cells.get(col.key)
        has = cell is not None and cell.n and cell.mean is not None and math.isfinite(cell.mean)
        value = sign * cell.mean if has else math.inf  # type: ignore[union-attr]
        return (row.reference, not row.ok, not _compared(row, col), not has, value, row.model)

    board.rows.sort(key=key)


def marker(cell: Cell) -> str:
    """``▲`` for the column's best, ``=`` for a row not separable from it, else nothing."""
    if not cell.n:
        return ""
    if cell.best:
        return BEST
    return TIED if cell.tied else ""


def _label(col: Column) -> str:
    return col.header.split("\n")[0].rstrip(" ↓↑")


def _fmt(cell: Cell, col: Column) -> str:
    text = cell.text(col.digits)
    return text.replace(f" ({cell.note})", "") if cell.note else text


def verdict_lines(board: Board) -> list[str]:
    """One line per tested column: its best row with its interval, and the rows the board's
    test cannot separate from it (with their Holm-adjusted p), or that none is left."""
    cols = [board.columns[-1]] if board.members else board.columns
    lines = []
    for col in cols:
        if col.key not in VERDICT_COLUMNS and not board.members:
            continue
        best = next((r for r in board.rows if r.cells[col.key].best and r.cells[col.key].n), None)
        if best is None:
            continue
        head = f"best {_label(col)}: {best.model} {_fmt(best.cells[col.key], col)}"
        tested = [r for r in board.rows if r.cells[col.key].mark in ("tied", "worse")]
        tied = [r for r in board.rows if r.cells[col.key].mark == "tied"]
        if board.superseded_by:
            lines.append(f"{head}; shown as recorded (superseded by {board.superseded_by})")
            continue
        if not any(r.cells[col.key].mark for r in board.rows):
            lines.append(f"{head}; not tested (no per-example values to resample)")
            continue
        if tied:
            names = ", ".join(f"{r.model} (p {r.cells[col.key].p:.2g})" for r in tied)
            lines.append(f"{head}; not separable from it: {names}")
        elif tested:
            lines.append(f"{head}; every other compared row is worse (Holm, α = 0.05)")
        else:
            lines.append(f"{head}; no other row to compare")
    if lines and len(board.seeds) == 1:
        lines.append(
            "One seed: the intervals and marks resample test examples only; they do not cover "
            "training randomness (run more seeds for that)."
        )
    return lines


def legend(board: Board) -> str:
    """The one-line key to the marks and the row order."""
    col = headline(board)
    order = f"by {_label(col)}" if col is not None else "by name"
    order = order.replace("recon. MSE", "MSE")  # the one line fits 100 columns
    return (
        f"{BEST} best · {TIED} not separable from {BEST} (paired bootstrap, Holm α=0.05) · "
        f"{order}; uncompared rows after"
    )


def _alert(line: str) -> str | None:
    """A warning line of the full caption, condensed for the short one (None: left out)."""
    if line.startswith("STALE rows are not resampled"):
        return None
    if line.startswith("STALE"):
        return "STALE rows: made by another implementation; shown, not ranked (rerun them)"
    if line.startswith("INCOMPLETE"):
        return line.split(" (the same command")[0]
    if line.startswith("SUPERSEDED"):
        return line.split(" (")[0] + ": shown as recorded, not tested"
    if line.startswith(("did not learn:", "not converged:")):
        return line.split(" (")[0]
    if line.startswith("‡"):
        return "‡ speed measured in another environment"
    if line.startswith("Data:") and "NON-CANONICAL" in line:  # not the publisher's files
        return "NON-CANONICAL data" + line.split("NON-CANONICAL files", 1)[1].split(";")[0]
    return None


def short_caption(board: Board, dropped: str = "", width: int | None = None) -> list[str]:
    """At most four lines: what the board is, the legend, its warnings (condensed), and where
    the rest is (the full notes are ``board.caption``: ``--explain``, markdown, site), with
    the columns left out to fit ``width`` (``dropped``)."""
    lines = [board.summary or board.title, legend(board)]
    alerts = [a for a in map(_alert, board.caption) if a]
    if alerts:
        lines.append("Note: " + " · ".join(alerts))
    more = f"{EXPLAIN_HINT}: all {len(board.caption)} notes (protocol, intervals, tests, gate)"
    if dropped:
        more += f" · left out to fit {width} columns: {dropped}"
    lines.append(more + ".")
    return lines
