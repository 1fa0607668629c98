"""Two rows of a board, metric by metric: is A better than B, by how much, how sure.

The numbers are the board's own: each board is built and marked as ``show`` marks it
(:func:`aebench.report.publication.mark_significance`), and the difference of each resampled
metric comes from the same paired bootstrap resamples
(:func:`aebench.report.significance.difference`, Student t on its degrees of freedom), with the
two-sided p-value of :func:`aebench.report.significance.two_sided_p` (a gap within half a unit
of the last digit the board shows counts as none, as the board's marks count it). No second
statistic: what ``compare`` says and what the board marks cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from aebench.errors import AebenchError
from aebench.records.groups import Staleness
from aebench.report import significance
from aebench.report.board import Board
from aebench.report.build import build_boards, records_of
from aebench.report.publication import mark_significance
from aebench.stats.bootstrap import N_BOOT

__all__ = ["Comparison", "Difference", "compare", "coverage"]


@dataclass
class Difference:
    """One metric of a comparison: B − A with its 95 % interval and two-sided p-value."""

    key: str
    label: str
    better: str
    digits: int
    a: float | None
    b: float | None
    diff: float | None = None
    lo: float | None = None
    hi: float | None = None
    p: float | None = None
    #: "A better", "B better", "not separable", or why it was not tested
    verdict: str = ""


@dataclass
class Comparison:
    board: Board
    a: str
    b: str
    differences: list[Difference] = field(default_factory=list)
    #: what the resampling covers (seeds and test examples, or examples only with one seed)
    covers: str = ""
    #: rows the board does not compare (reference, stale, gated): said, still computed
    notes: list[str] = field(default_factory=list)


def coverage(board: Board, records: list[dict[str, Any]], n_boot: int) -> str:
    """What the board's resampling covers, in words."""
    n_test = sorted({r["dataset"].get("n_test") for r in records if r["dataset"].get("n_test")})
    examples = f"{n_test[0]:,} test examples" if len(n_test) == 1 else "the test examples"
    seeds = board.seeds
    if len(seeds) == 1:
        return (
            f"Paired bootstrap ({n_boot:,} resamples) of {examples} on ONE seed ({seeds[0]}): "
            "it covers the finite test set only, NOT training randomness (another seed may "
            "train differently); run more seeds for that."
        )
    return (
        f"Paired bootstrap ({n_boot:,} resamples) of {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}), then {examples} within each: it covers training "
        "randomness and the finite test set."
    )


def compare(
    records: list[dict[str, Any]],
    a: str,
    b: str,
    group: str | None = None,
    stale: Staleness | None = None,
    n_boot: int = N_BOOT,
    alpha: float = significance.ALPHA,
) -> list[Comparison]:
    """Rows ``a`` and ``b`` on every board (of ``group``, when given) that has both."""
    boards = [
        bd
        for bd in build_boards(records, group, stale)
        if not bd.members
        and not bd.superseded_by
        and {a, b} <= {r.model for r in bd.rows}
        and (group is None or bd.group == group)
    ]
    if not boards:
        rows = sorted({r.model for bd in build_boards(records, group, stale) for r in bd.rows})
        where = f" on {group}" if group else ""
        raise AebenchError(
            f"no board{where} has both {a!r} and {b!r}; its rows: {', '.join(rows) or 'none'} "
            "(pass two of them, or -p another protocol)"
        )
    out = []
    for bd in boards:
        recs = records_of(bd, records)
        reps = mark_significance(bd, recs, n_boot, stale)
        cmp = Comparison(bd, a, b, covers=coverage(bd, recs, n_boot))
        rows = {r.model: r for r in bd.rows}
        for name in (a, b):
            row = rows[name]
            if row.reference or row.stale or row.verdict:
                why = "a reference row" if row.reference else ("STALE" if row.stale else "")
                why = why or row.verdict.upper()
                cmp.notes.append(f"{name} is {why}: the board does not compare it; shown here")
        for col in bd.columns:
            if col.key not in significance.RESAMPLED:
                continue
            ca, cb = rows[a].cells[col.key], rows[b].cells[col.key]
            label = col.header.split("\n")[0].rstrip(" ↓↑")
            d = Difference(col.key, label, col.better, col.digits, ca.mean, cb.mean)
            cmp.differences.append(d)
            if not (ca.n and cb.n):
                d.verdict = "not on both rows"
                continue
            if col.key == "nll" and (rows[a].like_kind == "density") != (
                rows[b].like_kind == "density"
            ):
                d.verdict = "not comparable: a continuous density against a discrete likelihood"
                continue
            paired = reps.paired.get(col.key, {})
            if a not in paired or b not in paired:
                d.verdict = "not resampled (no per-example values stored)"
                continue
            _fill(d, paired[a], paired[b], col.key, alpha)
        out.append(cmp)
    return out


def _fill(d: Difference, sa: Any, sb: Any, key: str, alpha: float) -> None:
    """B − A, its interval and p from the board's paired resamples."""
    gap, se, df = significance.difference(sa, sb, d.better)  # positive: B worse
    sign = 1.0 if d.better == "lower" else -1.0
    d.diff = sign * gap
    half = float(stats.t.ppf(0.975, df)) * se if se > 0 else 0.0
    d.lo, d.hi = d.diff - half, d.diff + half
    d.p = significance.two_sided_p(sa, sb, d.better, significance.margin(key))
    if d.p is None or math.isnan(d.p) or d.p > alpha:
        d.verdict = "not separable"
    else:
        d.verdict = "B better" if gap < 0 else "A better"
