"""Leaderboards from stored records only: one board per protocol version and data set.

:func:`build_boards` turns records into plain tables (:mod:`aebench.report.board`; versions never
mix), with the family boards (:mod:`aebench.report.families`) after them; the output formats
(:mod:`aebench.report.formats`, the site) only format them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aebench.records.groups import Staleness, superseded
from aebench.report import captions, gate, nll_alignment
from aebench.report.board import Board, metric_column
from aebench.report.families import family_boards
from aebench.report.rows import (
    SPEED_COLUMNS,
    SPEED_NOTE,
    STALE_NOTE,
    build_row,
    current_records,
    foreign_note,
    mark_best,
    records_by_row,
    seeds_not_run,
    seeds_note,
)
from aebench.report.tuning import incomplete_note, not_yet_tuned
from aebench.report.verdict import sort_rows

__all__ = ["ANOMALY_COLUMNS", "BASE_COLUMNS", "SUPERSEDED_NOTE", "build_boards", "records_of"]

#: the columns of each task's leaderboard
BASE_COLUMNS = ("recon_mse", "nll", "train_samples_per_s", "fit_s", "params")
ANOMALY_COLUMNS = (
    "anomaly.f1",
    "anomaly.precision",
    "anomaly.recall",
    "anomaly.auroc",
    "anomaly.auprc",
    "anomaly.oracle_f1",
    "train_samples_per_s",
    "fit_s",
)


def build_boards(
    records: list[dict[str, Any]],
    group: str | None = None,
    stale: Staleness | None = None,
) -> list[Board]:
    """One board per group and data set. With ``stale``, rows whose records today's code would
    not reproduce are marked (a row with some current seeds shows those only)."""
    by_group: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if group is None or r.get("group") == group or r.get("group", "").startswith(group + "~"):
            by_group[(r["group"], r["dataset"]["name"])].append(r)
    base = gate.baselines(records)  # all of them: a variant borrows its protocol's mean row
    boards = [_board(g, d, recs, stale, base) for (g, d), recs in sorted(by_group.items())]
    for b in boards:
        missing = not_yet_tuned(by_group[(b.group, b.dataset)], records)
        if missing:
            b.caption.append(incomplete_note(missing))
    newer = superseded(records, stale)
    for b in boards:
        b.superseded_by = newer.get((b.group, b.dataset), "")
        if b.superseded_by:
            b.caption.append(SUPERSEDED_NOTE.format(newer=b.superseded_by))
    boards += family_boards(records, group, stale)
    for b in boards:  # the answer first: best row on top, and a line saying what this is
        recs = records_of(b, records)
        b.seeds = tuple(sorted({r["seed"] for r in recs}))
        b.summary = captions.summary_line(b.group, recs)
        sort_rows(b)
    return boards


SUPERSEDED_NOTE = (
    "SUPERSEDED by {newer} (a newer version of this protocol, with rows of today's code): "
    "shown as recorded, with t intervals over seeds only and no significance marks; the "
    "statistics and ranks are {newer}'s."
)


#: the sign on a continuous density's NLL cell, and what the NLL column's header then says
DENSITY_SIGN = "°"
DENSITY_HEADER = f"{DENSITY_SIGN} density: not compared"


def _mark_densities(rows: list, columns: list, nll: Any) -> None:
    """A continuous density's NLL (e.g. PPCA's) is not comparable with the Bernoulli
    likelihoods beside it: its cells say so, and the column's header says why."""
    dense = [r for r in rows if r.like_kind == "density" and "nll" in r.cells and r.cells["nll"].n]
    if not dense:
        return
    for r in dense:
        r.cells["nll"].flag = DENSITY_SIGN
    i = next(i for i, c in enumerate(columns) if c.key == "nll")
    note = "\n".join(n for n in (nll.label() if nll else "", DENSITY_HEADER) if n)
    columns[i].header = metric_column("nll", note).header


def records_of(board: Board, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records a board was built from (a family board's: its members')."""
    groups = set(board.members) or {board.group}
    return [r for r in records if r["group"] in groups and r["dataset"]["name"] == board.dataset]


def _board(
    group: str,
    dataset: str,
    recs: list[dict[str, Any]],
    stale: Staleness | None = None,
    base: gate.Baselines | None = None,
) -> Board:
    task = recs[0]["protocol"].get("task", "reconstruction")
    # every NLL over the same test examples (the header says how many); anomaly boards show none
    recs, nll = nll_alignment.align(recs) if task != "anomaly" else (recs, None)
    by_model = records_by_row(recs, by_config=stale is None)
    notes = {"nll": nll.label()} if nll else {}
    keys = ANOMALY_COLUMNS if task == "anomaly" else BASE_COLUMNS
    columns = [metric_column(k, notes.get(k, "")) for k in keys]
    base = gate.baselines(recs) if base is None else base
    rows = [build_row(name, rs, columns, stale, base) for name, rs in sorted(by_model.items())]
    rows.sort(key=lambda r: (r.reference, not r.ok, r.model))
    mark_best(rows, columns)
    _mark_densities(rows, columns, nll)
    caption = captions.board_caption(group, recs)
    caption += gate.caption(rows, gate.gate_ratio(recs))
    if any(c.key in SPEED_COLUMNS for c in columns):
        caption.append(SPEED_NOTE)
    lacking = {n: ", ".join(map(str, s)) for n, rs in by_model.items() if (s := seeds_not_run(rs))}
    if lacking:
        caption.append(seeds_note(lacking))
    if any(r.stale for r in rows):
        caption.append(STALE_NOTE)
    shown = [r for rs in by_model.values() for r in current_records(rs, stale)[0]]
    away = foreign_note(shown)
    if away:
        caption.append(away)
    return Board(
        group,
        dataset,
        f"{dataset} · {group}",
        caption + nll_alignment.caption(nll),
        columns,
        rows,
        show_likelihood=task != "anomaly",
        family=recs[0]["protocol"].get("family", ""),
    )
