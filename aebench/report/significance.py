"""Intervals, marks and flags for a board's cells: what ``show``, ``export`` and ``publish`` ask.

:func:`annotate` gives every quality cell a 95 % interval, marks the cells not significantly
worse than their column's best, flags doubtful likelihood estimates
(:mod:`aebench.report.flags`) and says all of it in the caption.

Intervals. The hierarchical paired bootstrap (:mod:`aebench.stats.bootstrap`) resamples seeds, then
test examples; its variance is each cell's squared standard error, with the seed part corrected
to the unbiased between-seed variance (the bootstrap's divides by S, not S - 1: it adds
s²/S² to the variance). With three seeds, percentiles of the resamples would be far too narrow
where seeds disagree: a bootstrap over 3 units has 10 distinct draws and no tail beyond the
seeds seen, so "all 3 seeds of A beat B" reads as certainty. The interval is therefore
mean ± t·SE, with Student t on Welch-Satterthwaite degrees of freedom (the seed part has S - 1,
the example part is taken as infinite): a deterministic model's interval is the test set's
(normal), a seed-dominated one gets t with 2 degrees of freedom. Bounded metrics are clipped
to their range. Where each seed draws its own split, the between-seed variance already holds
each test set's sampling noise, so adding the example part again errs on the wide side.

Marks. For each other row r of a column, the one-sided t-test of "r is worse than the best by
more than half a unit of the last digit shown" on the paired difference (the same resamples for
both rows, so what the rows share cancels): a gap the table cannot show is no difference (a
region of practical equivalence, Benavoli et al. 2017), fixed by the column's digits, not by
any result. A column's p-values are Holm-corrected together (:func:`holm`); a row whose
corrected p is above α is marked.

The best row is picked by looking at the same data. Marks are therefore meant as a set that
holds the truly best row: the only claim that picking can make wrong is "the truly best row is
worse than the picked one", and a row leaves the set only when its difference from the picked
row survives the correction over all the column's comparisons. For a Bonferroni correction that
keeps the chance of dropping the truly best row at most α whichever row was picked (Hsu 1984,
multiple comparisons with the best). Holm's later steps are looser than Bonferroni's only after
rejecting rows that are clearly worse, and those cannot be the picked row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from aebench.report import flags
from aebench.report.board import Board, Column, Row
from aebench.report.captions import T_NOTE
from aebench.report.families import SEED_T_LINE
from aebench.report.replicates import board_replicates, family_replicates
from aebench.report.rows import records_by_row
from aebench.run.metrics import METRICS
from aebench.stats.bootstrap import N_BOOT, Replicates, Series, method_note

__all__ = [
    "ALPHA",
    "RESAMPLED",
    "TESTED",
    "annotate",
    "annotate_family",
    "difference",
    "holm",
    "margin",
    "one_sided_p",
    "spread",
    "tie_ranks",
    "two_sided_p",
]

ALPHA = 0.05
#: quality columns that get significance marks; speed and cost columns do not
TESTED = ("recon_mse", "nll", "anomaly.f1", "anomaly.auroc", "anomaly.auprc")
#: columns recomputed on every resample (intervals); precision/recall/oracle F1 are not marked
RESAMPLED = (*TESTED, "anomaly.precision", "anomaly.recall", "anomaly.oracle_f1")
#: the range a metric's interval is clipped to
_RANGE = {"recon_mse": (0.0, math.inf)}
_RANGE.update({k: (0.0, 1.0) for k in RESAMPLED if k.startswith("anomaly.")})


def margin(key: str) -> float:
    """Half a unit of the last digit a board shows for ``key``: smaller gaps are not marked."""
    return 0.5 * 10.0 ** -METRICS[key].digits


def _unit_part(values: list[float]) -> tuple[float, float]:
    """(variance of the mean over units, its degrees of freedom) from per-unit values."""
    s = len(values)
    if s < 2:
        return 0.0, math.inf
    return float(np.var(values, ddof=1)) / s, float(s - 1)


def spread(resamples: np.ndarray, unit_values: list[float]) -> tuple[float, float]:
    """(standard error, degrees of freedom) of a mean over units.

    The variance of the hierarchical resamples, plus the seed part's bias (the bootstrap's
    (S-1)/S · s²/S for the unbiased s²/S), on Welch-Satterthwaite degrees of freedom.
    """
    r = resamples[np.isfinite(resamples)]
    boot = float(np.var(r, ddof=1)) if r.size > 1 else 0.0
    unit, df_unit = _unit_part(unit_values)
    s = len(unit_values)
    total = boot + (unit / s if s > 1 else 0.0)
    if unit == 0.0 or total == 0.0:
        return math.sqrt(total), math.inf
    return math.sqrt(total), total**2 / (unit**2 / df_unit)


def difference(best: Series, other: Series, better: str) -> tuple[float, float, float]:
    """(how much worse ``other`` is than ``best``, its SE, df), paired where units are shared.

    Positive: worse. The seed part is the variance of the per-seed differences over the seeds
    both rows have (each seed's test set is shared; with a fixed split, differences between
    independent trainings); with fewer than two shared seeds the two rows' own parts are added.
    """
    sign = 1.0 if better == "lower" else -1.0
    d = sign * (other.resamples - best.resamples)
    gap = sign * (np.mean(list(other.units.values())) - np.mean(list(best.units.values())))
    common = sorted(set(best.units) & set(other.units))
    if len(common) >= 2:
        diffs = [other.units[u] - best.units[u] for u in common]
        se, df = spread(d, diffs)
        return float(gap), se, df
    r = d[np.isfinite(d)]
    boot = float(np.var(r, ddof=1)) if r.size > 1 else 0.0
    (ua, da), (ub, db) = (_unit_part(list(x.units.values())) for x in (best, other))
    unit = ua + ub
    total = boot + unit
    df = math.inf if unit == 0 else max(1.0, min(da, db))
    return float(gap), math.sqrt(total), df


def one_sided_p(best: Series, other: Series, better: str, delta: float = 0.0) -> float:
    """p-value of "``other`` is worse than ``best`` by more than ``delta``" (Student t)."""
    gap, se, df = difference(best, other, better)
    if se == 0:
        return 0.0 if gap > delta else 1.0
    return float(stats.t.sf((gap - delta) / se, df))


def two_sided_p(a: Series, b: Series, better: str, delta: float = 0.0) -> float:
    """p-value of "``a`` and ``b`` differ by more than ``delta``" (either way, Student t)."""
    gap, se, df = difference(a, b, better)
    excess = abs(gap) - delta
    if se == 0:
        return 0.0 if excess > 0 else 1.0
    return float(min(1.0, 2 * stats.t.sf(excess / se, df)))


def holm(pvalues: list[float], alpha: float = ALPHA) -> tuple[list[bool], list[float]]:
    """Holm's step-down correction: (rejected, adjusted p-values), as statsmodels'
    ``multipletests(method="holm")`` (tested equal), which runs a full garbage collection on
    every call: 20 s of a publish."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    steps = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(steps, 1.0)
    return [bool(a <= alpha) for a in adjusted], [float(a) for a in adjusted]


def annotate(
    board: Board,
    records: list[dict[str, Any]],
    n_boot: int = N_BOOT,
    by_config: bool = True,
) -> Replicates:
    """Set each cell's interval, mark and flag from the board's records and arrays, and the
    caption lines that say how; return the resamples (for ranks across boards). ``by_config``:
    as :func:`aebench.report.rows.records_by_row` (False where the board was built checking
    staleness)."""
    rows = records_by_row(records, by_config)
    keys = [c.key for c in board.columns if c.key in RESAMPLED]
    # a family's members draw the family's seeds, so its mean reuses their resamples
    units_of = f"{board.family}/{board.dataset}" if board.family else ""
    reps = board_replicates(f"{board.group}/{board.dataset}", rows, keys, n_boot, units_of=units_of)
    for col in board.columns:
        if col.key in RESAMPLED:
            _intervals(board, col, reps)
        if col.key in TESTED:
            _marks(board, col, reps)
    notes = _flags(board, rows)
    board.caption = [ln for ln in board.caption if ln != T_NOTE]
    board.caption += _caption(board, reps, keys, notes)
    return reps


def _intervals(board: Board, col: Column, reps: Replicates, metric: str = "") -> None:
    lo_bound, hi_bound = _RANGE.get(metric or col.key, (-math.inf, math.inf))
    for row in board.rows:
        cell, series = row.cells[col.key], reps.interval.get(col.key, {}).get(row.model)
        if series is None or not cell.n or cell.mean is None:
            continue
        se, df = spread(series.resamples, list(series.units.values()))
        half = float(stats.t.ppf(0.975, df)) * se
        cell.lo = max(lo_bound, cell.mean - half)
        cell.hi = min(hi_bound, cell.mean + half)
        cell.half = None


def annotate_family(
    board: Board,
    records: list[dict[str, Any]],
    member_reps: dict[str, Replicates] | None = None,
    n_boot: int = N_BOOT,
    by_config: bool = True,
) -> Replicates:
    """A family board's intervals and marks (:mod:`aebench.report.families`), as a member
    board's: each member column's from its member board's resamples (``member_reps`` by member
    group; resampled here where absent), the mean column's from the same bootstrap of the
    family mean (:func:`aebench.report.replicates.family_replicates`); both clipped to the
    metric's range. A row without per-example values keeps its Student-t interval over seeds
    (clipped too) and no mark; the caption says so. Returns the family mean's resamples."""
    metric = board.columns[-1].key  # the mean column is keyed by the headline metric
    if not records:
        return Replicates(n_boot, ())
    draws = f"{records[0]['protocol']['family']}/{board.dataset}"  # as its members' boards
    rows = records_by_row(records, by_config)
    by_member = {
        g: {n: [r for r in rs if r["group"] == g] for n, rs in rows.items()} for g in board.members
    }
    out = Replicates(n_boot, ())
    missing: set[str] = set()
    have = dict(member_reps or {})
    for g in board.members:
        reps = have.get(g)
        if reps is None or metric not in reps.interval:
            reps = board_replicates(
                f"{g}/{board.dataset}", by_member[g], [metric], n_boot, units_of=draws
            )
            have[g] = reps
        out.interval[g], out.paired[g] = reps.interval.get(metric, {}), reps.paired.get(metric, {})
        missing |= set(reps.missing.get(metric, []))
    members = {f"{g}/{board.dataset}": by_member[g] for g in board.members}
    given = {f"{g}/{board.dataset}": r for g, r in have.items()}
    family, lacking = family_replicates(draws, members, metric, n_boot, given)
    out.interval[metric] = out.paired[metric] = family
    out.missing[metric] = sorted(missing | set(lacking))
    out.units = tuple(sorted({u for s in family.values() for u in s.units}))
    for col in board.columns:
        _intervals(board, col, out, metric)
        _marks(board, col, out, metric)
    lo_bound, hi_bound = _RANGE.get(metric, (-math.inf, math.inf))
    for row in board.rows:  # what could not be resampled: seeds only, kept in range
        for cell in row.cells.values():
            if cell.half is not None and cell.mean is not None and cell.n:
                cell.lo = max(lo_bound, cell.mean - cell.half)
                cell.hi = min(hi_bound, cell.mean + cell.half)
                cell.half = None
    board.caption = [ln for ln in board.caption if ln != SEED_T_LINE]
    board.caption += _family_caption(board, out, metric)
    return out


def _family_caption(board: Board, reps: Replicates, metric: str) -> list[str]:
    lines = []
    if reps.units:
        method = method_note(reps.n_boot, len(reps.units))
        lines.append(
            "Intervals: [lo, hi] = mean ± t·SE (95 %), clipped to the metric's range, as on the "
            "member boards: each member column's from its own board's resamples; the mean "
            f"column's from a {method}, the seeds drawn once for every member and each member's "
            "test examples as its own board draws them, so each resample's mean over members is "
            "over the same seeds (only seeds every member has, as the cell)."
        )
        lines.append(
            f"▲ (bold): the column's best; =: not "
            f"significantly worse than it at α = {ALPHA} (one-sided t-test of the paired "
            "difference, half a unit of the last digit shown as the margin, Holm-corrected over "
            "the column's comparisons; in the mean column the paired difference of family "
            "means). Reference rows and cells the learning gate marked are shown, not "
            "compared."
        )
    else:
        lines.append(
            "Mean ± 95% CI over seeds (Student t, clipped to the metric's range; no per-example "
            "values to resample); best per column in bold."
        )
    missing = reps.missing.get(metric, [])
    if missing and reps.units:
        lines.append(
            f"No per-example values stored for {', '.join(missing)} in some member: mean ± "
            "95 % Student-t interval over seeds there (clipped to the metric's range), no mark."
        )
    return lines


def _comparable(row: Row, col: Column) -> bool:
    """A row the column's best is compared with (references, stale rows and cells the learning
    gate marked, :mod:`aebench.report.gate`, are shown, never marked)."""
    cell = row.cells[col.key]
    density = col.key == "nll" and row.like_kind == "density"
    gated = bool(cell.verdict)
    return not row.reference and not row.stale and bool(cell.n) and not density and not gated


def _marks(board: Board, col: Column, reps: Replicates, metric: str = "") -> None:
    paired = reps.paired.get(col.key, {})
    best = next((r for r in board.rows if r.cells[col.key].best), None)
    if best is None or best.model not in paired:
        return
    for r in board.rows:
        if r.cells[col.key].best:
            r.cells[col.key].mark = "best"
    others = [
        r
        for r in board.rows
        if _comparable(r, col) and not r.cells[col.key].best and r.model in paired
    ]
    delta = margin(metric or col.key)
    raw = [one_sided_p(paired[best.model], paired[r.model], col.better, delta) for r in others]
    tested = [(r, p) for r, p in zip(others, raw) if p == p]
    if not tested:
        return
    reject, adjusted = holm([p for _, p in tested])
    for (r, p), rej, adj in zip(tested, reject, adjusted):
        cell = r.cells[col.key]
        cell.p_raw, cell.p, cell.tied = p, adj, not rej
        cell.mark = "worse" if rej else "tied"


def _flags(board: Board, rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    if not any(c.key == "nll" for c in board.columns):
        return []
    notes = []
    for row in board.rows:
        found = flags.likelihood_notes(rows.get(row.model, []))
        if found and row.cells["nll"].n:
            row.cells["nll"].flag = f"{row.cells['nll'].flag} {flags.SIGN}".strip()
            notes += [f"{row.model}: {n}" for n in found]
    return notes


def _caption(board: Board, reps: Replicates, keys: list[str], notes: list[str]) -> list[str]:
    lines = []
    if reps.units:
        method = method_note(reps.n_boot, len(reps.units))
        lines.append(
            f"Intervals: [lo, hi] = mean ± t·SE (95 %), the SE from a {method}, its seed part "
            "made unbiased; Student t on Welch-Satterthwaite degrees of freedom (few seeds: "
            "wide). It covers both the training seeds and the finite test set. Timings: median "
            "(min–max) over seeds. A value with no interval is the same on every seed and has "
            "no per-example values to resample."
        )
    if any(r.stale for r in board.rows):
        lines.append(
            "STALE rows are not resampled: mean ± 95 % Student-t interval over seeds only "
            "(no test-set variation), timings median (min–max)."
        )
    lines += reps.notes
    missing = sorted({m for k in keys for m in reps.missing.get(k, [])})
    if missing:
        lines.append(
            f"No per-example values stored for {', '.join(missing)} in some column(s): "
            "mean ± Student-t interval over seeds there, and no mark."
        )
    tested = [c for c in board.columns if c.key in TESTED]
    if tested:
        k = max(sum(r.cells[c.key].mark in ("tied", "worse") for r in board.rows) for c in tested)
        lines.append(
            f"=: not significantly worse than the "
            f"column's best (▲, bold) at α = {ALPHA}: one-sided t-test of the paired difference "
            "(same resamples for both rows) exceeding half a unit of the last digit shown, "
            f"Holm-corrected over the column's comparisons (up to {k}). The best is "
            "picked on the same data, so ▲ and = together are a set meant to hold "
            "the truly best row (Hsu's multiple comparisons with the best); reference rows and "
            "rows the learning gate marked are shown, not compared. The CSV export has each "
            "Holm-adjusted p-value."
        )
    if notes:
        lines.append(
            f"{flags.SIGN}: the likelihood estimator warned; its interval covers seeds and test "
            "examples, not the estimator's own error. " + " ".join(f"{n}." for n in notes)
        )
    return lines


def tie_ranks(
    values: dict[str, float], paired: dict[str, Series], better: str, delta: float = 0.0
) -> dict[str, float]:
    """Ranks on one board (1 = best) where the board's test cannot separate rows, tied.

    Rows in order of their point estimates; a row joins the current group when a two-sided
    test at α (:func:`two_sided_p`, gaps within ``delta`` are no difference) cannot tell it
    from the group's first (best) row, else it starts a new group; a group shares the mean of
    its positions. Comparing with the group's first row, not its last, keeps a chain of small
    gaps from tying rows far apart. Rows without resamples are tied with none.
    """
    order = sorted(values, key=lambda m: values[m] if better == "lower" else -values[m])
    groups: list[list[str]] = []
    for m in order:
        lead = groups[-1][0] if groups else None
        same = (
            lead is not None
            and lead in paired
            and m in paired
            and two_sided_p(paired[lead], paired[m], better, delta) >= ALPHA
        )
        if same:
            groups[-1].append(m)
        else:
            groups.append([m])
    ranks, pos = {}, 1
    for g in groups:
        for m in g:
            ranks[m] = pos + (len(g) - 1) / 2
        pos += len(g)
    return ranks
