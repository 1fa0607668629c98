"""The board: plain tables of cells that every output format renders.

A :class:`Board` is one protocol version's (or family's) leaderboard on one data set: columns
(metrics), rows (models) and the cells between them, with a caption. Boards are built from
records by :mod:`aebench.report.build`, marked by :mod:`aebench.report.significance` and written
by :mod:`aebench.report.formats`, the site and the summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from aebench.run.metrics import METRICS

__all__ = ["Board", "Cell", "Column", "Row", "metric_column"]


@dataclass
class Column:
    key: str
    header: str
    better: str
    digits: int


@dataclass
class Cell:
    #: the point estimate: the mean over seeds (the median for a "range" column)
    mean: float | None = None
    #: half-width of the Student-t interval over seeds (before significance sets lo/hi)
    half: float | None = None
    n: int = 0
    best: bool = False
    #: not significantly worse than the best (set by aebench.report.significance), the Holm-adjusted
    #: p-value of that test and its unadjusted one
    tied: bool = False
    p: float | None = None
    p_raw: float | None = None
    #: interval bounds: a bootstrap interval ("ci") or the min-max over seeds ("range")
    lo: float | None = None
    hi: float | None = None
    spread: str = "ci"
    #: "best", "tied", "worse", or "" where no test ran
    mark: str = ""
    #: a warning sign the caption explains (an estimator's own warning)
    flag: str = ""
    #: how the figure was obtained where that changes its meaning (e.g. "closed form")
    note: str = ""
    #: the learning gate's verdict on the run(s) behind this cell ("did not learn", "not
    #: converged"; :mod:`aebench.report.gate`): shown, never best, ≈ or ranked
    verdict: str = ""

    def text(self, digits: int, ci: bool = True) -> str:
        if self.mean is None or self.n == 0:
            return "—"
        fmt = f"{{:,.{digits}f}}".format
        s = fmt(self.mean)
        if ci and self.lo is not None and self.hi is not None:
            lo, hi = fmt(self.lo), fmt(self.hi)
            if self.spread == "range":
                s += "" if lo == hi else f" ({lo}–{hi})"
            else:
                for more in range(1, 4):  # an interval inside the last digit: show its width
                    if lo != hi or self.hi <= self.lo:
                        break
                    fine = f"{{:,.{digits + more}f}}".format
                    lo, hi = fine(self.lo), fine(self.hi)
                s += f" [{lo}, {hi}]"
        # a zero half-width (the same value on every seed) or one of float rounding: none
        elif ci and self.half and self.half > _ROUNDING * abs(self.mean):
            s += " ± " + _finer(digits, self.half)(self.half)
        s = f"{s} ({self.note})" if self.note else s
        return f"{s} {self.flag}" if self.flag else s


#: a half-width below this fraction of the mean is floating-point rounding between seeds
_ROUNDING = 1e-9


def _finer(digits: int, width: float):
    """A format with enough decimals that a nonzero half-width shows (never "± 0.000", which
    reads as certainty): the table's digits, or as many more as its first significant one."""
    if width > 0 and round(width, digits) == 0:
        digits = max(digits, -math.floor(math.log10(width)))
    return f"{{:,.{digits}f}}".format


@dataclass
class Row:
    model: str
    status: str
    reference: bool
    code: Any
    likelihood: str
    cells: dict[str, Cell] = field(default_factory=dict)
    ok: bool = True
    display: str = ""
    #: the headline likelihood's kind; a continuous density is not ranked against the others
    like_kind: str = ""
    #: why every record of this row was made by another implementation than today's (shown,
    #: never ranked); None when the row is today's
    stale: str | None = None
    #: the learning gate's verdict on the row ("" a result, "did not learn", "not converged"),
    #: why, and why it was not gated where it could not be ("no baseline")
    verdict: str = ""
    verdict_reason: str = ""
    ungated: str = ""
    #: its validation reconstruction error / the training mean's, mean over seeds (None: none)
    learn_ratio: float | None = None

    def status_text(self) -> str:
        """The status column: the gate's verdict first, where there is one."""
        if self.verdict:
            return f"{self.verdict.upper()} ({self.verdict_reason}); {self.status}"
        return self.status

    def short_status(self) -> str:
        """The status without its reasons (the board's notes give them): "STALE; ok 3/3",
        "DID NOT LEARN; ok 2/3", "failed: <the first 40 characters of why>"."""
        parts = []
        if self.verdict:
            parts.append(self.verdict.upper())
        if self.stale:
            parts.append("STALE")
        prefix = f"STALE ({self.stale}); "
        status = self.status[len(prefix) :] if self.status.startswith(prefix) else self.status
        status = status if len(status) <= 40 else status[:39] + "…"
        return "; ".join([*parts, status])


@dataclass
class Board:
    group: str
    dataset: str
    title: str
    caption: list[str]
    columns: list[Column]
    rows: list[Row]
    #: the likelihood kind column belongs to reconstruction boards only
    show_likelihood: bool = True
    #: the family a member protocol's board belongs to; a family board's member groups
    family: str = ""
    members: tuple[str, ...] = ()
    #: the newer version of this board's protocol (same data set) that has rows of today's
    #: code: this one is shown as recorded, never tested (:func:`aebench.records.groups.superseded`)
    superseded_by: str = ""
    #: the seeds of its records, and the one line saying what the board is (the short
    #: caption's first; :mod:`aebench.report.verdict`)
    seeds: tuple[int, ...] = ()
    summary: str = ""


def metric_column(key: str, note: str = "") -> Column:
    """The column of metric ``key`` (its label, unit and ``note``, an arrow for which way is
    better, its digits)."""
    spec = METRICS[key]
    arrow = {"lower": " ↓", "higher": " ↑"}.get(spec.better, "")
    unit = ", ".join(u for u in (spec.unit, note) if u)
    unit = f"\n{unit}" if unit else ""
    return Column(key, f"{spec.label}{unit}{arrow}", spec.better, spec.digits)
