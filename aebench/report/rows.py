"""A board's rows from records: one row per model (per config), its cells over seeds.

Shared by the protocol boards (:mod:`aebench.report.build`) and the family boards
(:mod:`aebench.report.families`): which records make a row, what its name, status and cells
say, which seeds it lacks, and which cell of a column is best.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from aebench.records.groups import Staleness, is_reference
from aebench.report import gate
from aebench.report.board import Cell, Column, Row
from aebench.report.captions import fit_kind
from aebench.run.metrics import METRICS
from aebench.stats.intervals import mean_ci, median_range

__all__ = [
    "FOREIGN_SIGN",
    "SPEED_COLUMNS",
    "SPEED_NOTE",
    "STALE_NOTE",
    "TRAIN_RATE",
    "build_row",
    "current_records",
    "foreign_note",
    "mark_best",
    "records_by_row",
    "row_name",
    "seeds_not_run",
    "seeds_note",
]

STALE_NOTE = (
    "STALE rows were made by another implementation of the model (its code or config "
    "defaults changed since): shown as recorded, never marked best or ranked; rerun them."
)


def row_name(name: str, config: Any, configs: dict[str, set[str]]) -> str:
    """A row's name: the model's, with a short hash of its config where the model ran with
    several configs (``configs``: model -> its configs, as JSON)."""
    if len(configs.get(name, ())) > 1:
        return (
            f"{name}[{hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:6]}]"
        )
    return name


def records_by_row(
    recs: list[dict[str, Any]], by_config: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """A board's records by row name: a model run with several configs has a row for each,
    unless ``by_config`` is False (checked for staleness, a group holds one config per model:
    overridden configs are variants of their own, another config there is an older
    implementation's)."""
    configs: dict[str, set[str]] = defaultdict(set)
    for r in recs:
        if by_config:
            configs[r["model"]["name"]].add(json.dumps(r["model"].get("config"), sort_keys=True))
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        by_model[row_name(r["model"]["name"], r["model"].get("config"), configs)].append(r)
    return dict(by_model)


def current_records(
    rs: list[dict[str, Any]], stale: Staleness | None
) -> tuple[list, str | None, str]:
    """(the records to show, why they are all stale or None, a note on left-out seeds)."""
    if stale is None:
        return rs, None, ""
    reasons = [stale(r) for r in rs]
    current = [r for r, why in zip(rs, reasons) if why is None]
    if not current:
        return rs, reasons[0], ""
    left = len(rs) - len(current)
    return current, None, f" ({left} stale record(s) left out)" if left else ""


def seeds_not_run(rs: list[dict[str, Any]]) -> list[int]:
    """The protocol's seeds that no record of a row has (a failed or stale run counts as run:
    its status or STALE mark says so); a user's extra seeds are not asked for."""
    have = {r["seed"] for r in rs}
    return [s for s in rs[0]["protocol"].get("seeds") or () if s not in have]


def seeds_note(lacking: dict[str, str]) -> str:
    """The caption line of a board some of whose rows lack protocol seeds (row name -> which)."""
    parts = " | ".join(f"{name}: {which}" for name, which in sorted(lacking.items()))
    return (
        f"INCOMPLETE: protocol seed(s) not run yet — {parts} (the same command again "
        "runs them): those rows' intervals and marks cover only the seeds they have."
    )


def build_row(
    name: str,
    rs: list[dict[str, Any]],
    columns: list[Column],
    stale: Staleness | None = None,
    baselines: gate.Baselines | None = None,
) -> Row:
    """Row ``name`` of the records ``rs``: its status, code, likelihood and reference and stale
    marks, and a cell over seeds for each of ``columns`` (mean ± t interval, or median and range
    for a timing); with ``stale``, of its current records where it has some. With
    ``baselines`` (:func:`aebench.report.gate.baselines` of its board), the learning gate's
    verdict on the row and its cells (a family board gates each member's cells itself)."""
    lacking = seeds_not_run(rs)
    rs, stale_reason, left_out = current_records(rs, stale)
    ok = [r for r in rs if r["status"] == "ok"]
    first = rs[0]
    caps = first["model"].get("capabilities") or {}
    reference = is_reference(first)
    if ok:
        status = f"ok {len(ok)}/{len(rs)}"
        others = sorted({f"{r['status']}: {r.get('reason')}" for r in rs if r["status"] != "ok"})
        if others:
            status += " (" + "; ".join(others) + ")"
    else:
        r = rs[-1]
        status = r["status"] if not r.get("reason") else f"{r['status']}: {r['reason']}"
    like, like_kind = "", ""
    for est in (ok[0].get("likelihood") or {}).values() if ok else ():
        if est.get("headline"):
            like = f"{est['label']} ({est['kind']})"
            like_kind = est["kind"]
    code = (ok[0].get("training") or {}).get("code_size") if ok else None
    display = name
    if caps.get("supervised"):
        display += " (SUPERVISED: trained with labels)"
    elif reference:
        display += " (reference)"
    elif code not in (None, first["protocol"]["code_size"]):
        display += f" (code {code}, not {first['protocol']['code_size']})"
    tuning = first.get("tuning") or {}
    if tuning.get("chosen", "").startswith("defaults"):
        display += f" — {tuning['chosen']}"
    if stale_reason:
        display += " [STALE]"
        status = f"STALE ({stale_reason}); {status}"
    if lacking:
        left_out += f"; seed(s) {', '.join(map(str, lacking))} not run"
    row = Row(name, status + left_out, reference, code, like, ok=bool(ok), display=display)
    row.like_kind, row.stale = like_kind, stale_reason
    for col in columns:
        used = ok if col.key != TRAIN_RATE else [r for r in ok if _train_rate_measured(r)]
        vals = [r["metrics"].get(col.key) for r in used]
        vals = [v for v in vals if isinstance(v, (int, float))]
        if METRICS[col.key].spread == "range":
            mid, lo, hi, n = median_range(vals)
            cell = Cell(mid if n else None, None, n, lo=lo, hi=hi, spread="range")
        else:
            mean, half, n = mean_ci(vals)
            cell = Cell(mean if n else None, half, n)
        if col.key == TRAIN_RATE:
            cell.note = "/".join(sorted({fit_kind(r) for r in used} - {"batches"}))
        if col.key in SPEED_COLUMNS and any(r.get("_foreign") for r in used):
            cell.flag = FOREIGN_SIGN
        row.cells[col.key] = cell
    if baselines is not None:
        gate.apply(row, *gate.judge(ok, baselines))
    return row


#: the columns whose figures depend on the machine and software that measured them
SPEED_COLUMNS = ("train_samples_per_s", "fit_s")
#: the caption line of a board with speed columns: they are never marked best
SPEED_NOTE = (
    "Speed is not a quality verdict: the timings come from co-scheduled runs (--jobs), so no "
    "speed cell is marked best; clean speed figures: results/benchmarks/."
)
FOREIGN_SIGN = "‡"


def foreign_note(recs: list[dict[str, Any]]) -> str | None:
    """The caption line for rows measured elsewhere (see aebench.records.merge), or None."""
    away = sorted({r["_foreign"] for r in recs if r.get("_foreign") and r["status"] == "ok"})
    if not away:
        return None
    return (
        f"{FOREIGN_SIGN}: speed measured in another environment than the board's ("
        + " | ".join(away)
        + "): throughput and fit time do not compare across machines or software; the "
        "quality columns compare as usual."
    )


TRAIN_RATE = "train_samples_per_s"


def _train_rate_measured(record: dict[str, Any]) -> bool:
    # records made before unmeasured rates were stored as null hold 0 for "no examples seen"
    return (record.get("training") or {}).get("samples_seen") != 0


def mark_best(rows: list[Row], columns: list[Column]) -> None:
    """Mark each column's best cell among the rows under comparison: no reference or stale row,
    no cell the learning gate marked (:mod:`aebench.report.gate`), no continuous density in
    the NLL column, and no speed column at all (timings of co-scheduled runs: no verdict)."""
    for col in columns:
        if col.better not in ("lower", "higher") or col.key in SPEED_COLUMNS:
            continue
        cands = [
            r.cells[col.key]
            for r in rows
            if not r.reference
            and not r.stale
            and r.cells[col.key].n
            and not r.cells[col.key].verdict
            and not (col.key == "nll" and r.like_kind == "density")
        ]
        if not cands:
            continue
        pick = min if col.better == "lower" else max
        best = pick(c.mean for c in cands)
        for c in cands:
            c.best = c.mean == best
