"""Boards as pandas DataFrames: the same means, intervals, marks and p-values as ``show``.

:func:`board_frame` builds and marks boards exactly as ``aebench show`` does
(:func:`marked_boards`, which ``show`` calls too) and flattens them: one row per board row,
in the board's order (best first by its headline metric), with each column's mean, interval
bounds, mark (``best``, ``tied``: not separable from the best, ``worse``) and Holm-adjusted
p-value. For one row per *run* instead, see :func:`aebench.records.frame.load_results`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aebench.records.groups import Staleness
from aebench.report.board import Board
from aebench.report.build import build_boards
from aebench.report.publication import mark_significance
from aebench.report.verdict import marker, verdict_lines
from aebench.stats.bootstrap import N_BOOT

__all__ = ["board_frame", "board_rows", "marked_boards"]


def marked_boards(
    records: list[dict[str, Any]],
    groups: list[str | None] | None = None,
    stale: Staleness | None = None,
    n_boot: int = N_BOOT,
) -> list[Board]:
    """The boards of ``groups`` (every group: None) built and marked as ``show`` shows them."""
    boards: list[Board] = []
    for g in groups or [None]:
        boards += build_boards(records, g, stale)
    for b in boards:
        mark_significance(b, records, n_boot=n_boot, stale=stale)
    return boards


def board_rows(board: Board) -> list[dict[str, Any]]:
    """A marked board as plain rows (one dict per board row, in the board's order)."""
    out = []
    for rank, row in enumerate(board.rows, 1):
        d: dict[str, Any] = {
            "board": board.title,
            "group": board.group,
            "dataset": board.dataset,
            "position": rank,
            "model": row.model,
            "display": row.display,
            "reference": row.reference,
            "stale": bool(row.stale),
            "verdict": row.verdict,
            "status": row.status_text(),
            "likelihood": row.likelihood,
        }
        for col in board.columns:
            c = row.cells[col.key]
            lo, hi = (c.lo, c.hi) if c.lo is not None else _t_bounds(c)
            d[col.key] = c.mean if c.n else None
            d[f"{col.key}_lo"], d[f"{col.key}_hi"] = lo, hi
            d[f"{col.key}_mark"] = c.mark or ("best" if c.best and c.n else "")
            d[f"{col.key}_sign"] = marker(c)
            d[f"{col.key}_p_holm"] = c.p
        out.append(d)
    return out


def _t_bounds(cell: Any) -> tuple[float | None, float | None]:
    if cell.half is not None and cell.mean is not None:
        return cell.mean - cell.half, cell.mean + cell.half
    return None, None


def board_frame(
    *results_dirs: str | Path,
    protocol: str | None = None,
    dataset: str | None = None,
    n_boot: int = N_BOOT,
    check_stale: bool = True,
) -> Any:
    """The boards of the records in ``results_dirs`` (default ``$AEBENCH_RESULTS`` or
    ``./aebench-runs``) as one pandas DataFrame, the numbers ``aebench show`` prints: only
    ``protocol``'s board (a name, ``name-vN`` or a variant key; not its variants) and
    ``dataset``'s when given;
    ``check_stale``: rows made by another implementation of their model than the installed one
    are marked stale, as ``show`` marks them. ``frame.attrs["verdict"]`` holds each board's
    verdict lines."""
    import pandas as pd

    from aebench.errors import AebenchError
    from aebench.records import merge, storage
    from aebench.registry.loading import load_registry
    from aebench.run.implementation import checker

    dirs = [storage.default_results_dir(str(d)) for d in results_dirs] or [
        storage.default_results_dir(None)
    ]
    records, _ = merge.load(dirs)
    if not records:
        raise AebenchError(f"no records in {', '.join(map(str, dirs))}; run `aebench run` first")
    registry = load_registry() if (check_stale or protocol) else None
    group = registry.resolve_group(protocol, records) if protocol else None
    stale = checker(registry) if check_stale and registry is not None else None
    boards = build_boards(records, group, stale)
    if group is not None and any(b.group == group for b in boards):
        boards = [b for b in boards if b.group == group]  # not its variants: they have theirs
    if dataset is not None:
        boards = [b for b in boards if b.dataset == dataset]
    for b in boards:
        mark_significance(b, records, n_boot=n_boot, stale=stale)
    frame = pd.DataFrame([d for b in boards for d in board_rows(b)])
    frame.attrs["verdict"] = {b.title: verdict_lines(b) for b in boards}
    return frame
