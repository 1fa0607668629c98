"""Ranks across boards: Friedman test, Nemenyi post-hoc, critical-difference diagram (Demšar 2006).

Per task (reconstruction ranked by recon MSE, anomaly detection by AUROC):

- the boards counted are one per data set (:func:`aebench.report.counting.counted_boards`: the
  newest version of a protocol, a duplicate board not counted again, a fixed order of
  preference among a data set's protocols); the summary says which were left out and why;
- the rows ranked are every row with a value on every counted board, so each average is over
  the same boards, but for supervised rows and duplicate references
  (:func:`aebench.report.counting.unranked_rows`: shown, never ranked). A row missing
  from a board (not applicable, failed, not run, stale, or marked by the learning gate: did
  not learn, not converged, :mod:`aebench.report.gate`) is left out and the summary says where;
- on each board the rows are ranked with ties where the board's own bootstrap test cannot
  separate them (:func:`aebench.report.significance.tie_ranks`), so a 1e-4 AUROC gap is no rank;
- the Friedman test (scipy.stats) over the board x row rank table with Iman and Davenport's
  F form beside it (less conservative than the χ² approximation, Demšar 2006 §3.2.2), Nemenyi's
  post-hoc test and the critical-difference diagram (scikit-posthocs) on the same table. With
  fewer than :data:`MIN_BOARDS` boards the χ² and F approximations are poor and the
  ranking is descriptive only: the summary and the diagram say so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aebench.records import storage
from aebench.report.board import Board
from aebench.report.counting import board_name as _board_name
from aebench.report.counting import counted_boards, newest_versions, unranked_rows
from aebench.report.significance import ALPHA, margin, tie_ranks
from aebench.stats.bootstrap import Replicates

__all__ = [
    "HEADLINE",
    "MIN_BOARDS",
    "TaskRanks",
    "diagram",
    "diagram_title",
    "iman_davenport",
    "newest_versions",
    "summary",
    "task_ranks",
]

#: the metric each task is ranked by
HEADLINE = {"reconstruction": "recon_mse", "anomaly": "anomaly.auroc"}
#: fewer boards than this: the ranking is descriptive only (Demšar 2006 asks for N > 10 and
#: k > 5 for the χ² approximation; with under five data sets no test is worth reporting)
MIN_BOARDS = 5


@dataclass
class TaskRanks:
    task: str
    metric: str
    boards: list[str]
    models: list[str]
    #: (boards, models): rank of each model on each board, 1 = best, ties averaged
    ranks: np.ndarray
    references: set[str] = field(default_factory=set)
    #: model -> why it is not ranked (the boards it lacks)
    left_out: dict[str, str] = field(default_factory=dict)
    #: the task's boards not used: superseded versions and variants
    superseded: list[str] = field(default_factory=list)
    #: newest boards not counted (board -> why: a duplicate, or another counts its data set)
    not_counted: dict[str, str] = field(default_factory=dict)
    #: rows on every board shown in the summary but not ranked (row -> why)
    unranked: dict[str, str] = field(default_factory=dict)
    #: newest boards not used because every row on them is stale
    all_stale: list[str] = field(default_factory=list)
    friedman: tuple[float, float] | None = None
    #: Iman-Davenport's F and its p-value (:func:`iman_davenport`)
    iman_davenport: tuple[float, float] | None = None
    #: Nemenyi p-values (models x models), scikit-posthocs
    nemenyi: object = None
    cd: float | None = None

    @property
    def mean_ranks(self) -> dict[str, float]:
        return dict(zip(self.models, self.ranks.mean(0).tolist()))

    @property
    def descriptive(self) -> bool:
        """Too few boards for the tests to mean anything: the ranks describe, no more."""
        return len(self.boards) < MIN_BOARDS


def task_ranks(
    boards: list[Board],
    reps: dict[str, Replicates],
    task: str,
    records: list[dict] | None = None,
) -> TaskRanks | None:
    """The task's rank table over the counted boards; ``reps`` by board name
    (``dataset/group``); ``records``: the boards' records (which rows are deterministic,
    supervised, which protocol trains on what; without them every row counts as stochastic and
    unsupervised, every protocol as training on normal examples)."""
    metric = HEADLINE[task]
    records = records or []
    cands = [b for b in boards if any(c.key == metric for c in b.columns)]
    # a board with no row of today's code is no evidence about today's models (were it
    # counted, every model would lack a board): the newest version that has such rows counts
    current = [b for b in cands if any(not r.stale and r.cells[metric].n for r in b.rows)]
    newest = newest_versions(current)
    all_stale = [b for b in newest_versions(cands) if b not in current]
    used, not_counted = counted_boards(newest, records, metric)
    if not used:
        return None
    better = next(c.better for c in used[0].columns if c.key == metric)
    values = {  # a cell the learning gate marked (did not learn, not converged) is no result
        _board_name(b): {
            r.model: r.cells[metric].mean
            for r in b.rows
            if r.cells[metric].n and not r.stale and not r.cells[metric].verdict
        }
        for b in used
    }
    everywhere = set.intersection(*(set(v) for v in values.values()))
    refs = {r.model for b in used for r in b.rows if r.reference}
    supervised = {r["model"]["name"] for r in records if _supervised(r)}
    unranked = unranked_rows(
        values,
        sorted(everywhere),
        refs,
        {m for m in everywhere if m.split("[")[0] in supervised},
    )
    models = sorted(everywhere - set(unranked))
    left_out = {}
    for m in sorted({r.model for b in used for r in b.rows} - everywhere):
        left_out[m] = "; ".join(
            f"{_why(b, m)} on {_board_name(b)}" for b in used if m not in values[_board_name(b)]
        )
    ranks = np.array(
        [
            [
                _ranks_on(values[_board_name(b)], reps.get(_board_name(b)), metric, better, models)[
                    m
                ]
                for m in models
            ]
            for b in used
        ]
    )
    tr = TaskRanks(task, metric, [_board_name(b) for b in used], models, ranks, refs, left_out)
    tr.superseded = sorted(_board_name(b) for b in cands if b not in newest and b not in all_stale)
    tr.not_counted = not_counted
    tr.unranked = unranked
    tr.all_stale = [_board_name(b) for b in all_stale]
    if len(models) >= 3 and len(used) >= 2:
        _tests(tr)
    return tr


def _supervised(record: dict) -> bool:
    return bool((record["model"].get("capabilities") or {}).get("supervised"))


def _ranks_on(values, reps, metric, better, models) -> dict[str, float]:
    paired = reps.paired.get(metric, {}) if reps is not None else {}
    return tie_ranks({m: values[m] for m in models}, paired, better, margin(metric))


def _why(b: Board, model: str) -> str:
    row = next((r for r in b.rows if r.model == model), None)
    if row is None:
        return "not run"
    if row.stale:
        return "stale"
    if row.verdict:  # the learning gate's (aebench.report.gate)
        return f"{row.verdict} ({row.verdict_reason})"
    if row.status.startswith("not-applicable"):
        return "not applicable"
    return f"no result ({row.status.split(':')[0]})"


def _tests(tr: TaskRanks) -> None:
    import pandas as pd
    import scikit_posthocs as sp
    from scipy import stats

    k, n = len(tr.models), len(tr.boards)
    res = stats.friedmanchisquare(*tr.ranks.T)
    tr.friedman = (float(res.statistic), float(res.pvalue))
    tr.iman_davenport = iman_davenport(tr.friedman[0], n, k)
    tr.nemenyi = sp.posthoc_nemenyi_friedman(pd.DataFrame(tr.ranks, columns=tr.models))
    q = stats.studentized_range.ppf(1 - ALPHA, k, np.inf) / np.sqrt(2)
    tr.cd = float(q * np.sqrt(k * (k + 1) / (6 * n)))


def iman_davenport(chi2: float, n: int, k: int) -> tuple[float, float]:
    """Iman and Davenport's F = (N-1)χ² / (N(k-1) - χ²) of a Friedman χ² over ``n`` boards and
    ``k`` rows, and its p-value on (k-1, (k-1)(N-1)) degrees of freedom (scipy.stats.f).
    Rank tables in perfect agreement (χ² = N(k-1)) give F = inf, p = 0."""
    from scipy import stats

    denom = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denom if denom > 0 else float("inf")
    return float(f), float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def _label(tr: TaskRanks, m: str) -> str:
    return f"{m} (ref.)" if m in tr.references else m


def diagram_title(tr: TaskRanks) -> str:
    """The critical-difference diagram's title: the tests, and whether they can say anything."""
    caveat = (
        f"\nDESCRIPTIVE ONLY: {len(tr.boards)} boards (< {MIN_BOARDS}), too few for the tests"
        if tr.descriptive
        else ""
    )
    return (
        f"{tr.task}: average rank by {tr.metric} over {len(tr.boards)} boards "
        f"(Friedman p = {tr.friedman[1]:.3g}, Iman-Davenport p = {tr.iman_davenport[1]:.3g}; "
        f"bars join rows Nemenyi cannot separate, α = {ALPHA}){caveat}"
    )


def diagram(tr: TaskRanks, path: Path) -> Path | None:
    """The critical-difference diagram as a PNG (scikit-posthocs; None without the tests)."""
    if tr.nemenyi is None:
        return None
    import pandas as pd
    import scikit_posthocs as sp

    from aebench.report.plots import pyplot

    plt = pyplot()
    labels = [_label(tr, m) for m in tr.models]
    sig = tr.nemenyi.copy()
    sig.index, sig.columns = labels, labels
    ranks = pd.Series(tr.ranks.mean(0), index=labels)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.6))
    sp.critical_difference_diagram(ranks, sig, ax=ax, alpha=ALPHA)
    ax.set_title(diagram_title(tr), fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    storage.atomic_write(path, buf.getvalue())
    return path


def summary(tasks: list[TaskRanks], figures: dict[str, str]) -> tuple[str, list[str], list[list]]:
    """summary.md's text, and the CSV's header and rows."""
    head = ["task", "ranked by", "model", "reference", "average rank", "boards"]
    rows: list[list] = []
    parts = ["### Average ranks across data sets\n"]
    from tabulate import tabulate

    for tr in tasks:
        mean = tr.mean_ranks
        table = []
        for m in sorted(tr.models, key=lambda m: (mean[m], m)):
            ref = "yes" if m in tr.references else ""
            table.append([tr.task, tr.metric, m, ref, f"{mean[m]:.2f}", str(len(tr.boards))])
        for m in sorted(tr.unranked):  # shown, never ranked (the note says why)
            ref = "yes" if m in tr.references else ""
            table.append([tr.task, tr.metric, m, ref, "not ranked", str(len(tr.boards))])
        rows += table
        parts.append(tabulate(table, head, tablefmt="pipe", disable_numparse=True) + "\n")
        parts.append(task_note(tr, figures.get(tr.task)))
    return "\n".join(parts), head, rows


def task_note(tr: TaskRanks, figure: str | None) -> str:
    """The notes under a task's rank table (summary.md; the site's index shows them too)."""
    lines = []
    if tr.descriptive:
        lines.append(
            f"DESCRIPTIVE ONLY: {len(tr.boards)} board(s), fewer than {MIN_BOARDS}; the average "
            "ranks describe these data sets, and the tests below are too weak to support a "
            "claim that the rows differ in general."
        )
    lines.append(
        f"{tr.task.capitalize()}: every row ranked on the same {len(tr.boards)} board(s), one "
        f"per data set, {', '.join(tr.boards)}, reference rows included. Rank 1 is best; on "
        "each board, rows its test cannot separate (two-sided, "
        f"α = {ALPHA}, the board's paired bootstrap; gaps under half the last shown digit are "
        "none) share their mean rank."
    )
    if tr.not_counted:
        lines.append(
            "Not counted (each data set counts once: the newest version of a protocol training "
            "on normal examples only, a family before a single protocol, then the shorter "
            "name; a board duplicating another's scores never counts again): "
            + "; ".join(f"{b} ({why})" for b, why in sorted(tr.not_counted.items()))
            + "."
        )
    if tr.unranked:
        lines.append(
            "Shown, not ranked: "
            + "; ".join(f"{m} ({why})" for m, why in sorted(tr.unranked.items()))
            + "."
        )
    if tr.superseded:
        lines.append(
            "Not used, as a newer version or the published protocol counts that protocol: "
            + ", ".join(tr.superseded)
            + "."
        )
    if tr.all_stale:
        lines.append(
            "Not used, as every row on it is STALE (made by another implementation of its "
            "model; to be rerun; an older version with current rows counts instead): "
            + ", ".join(tr.all_stale)
            + "."
        )
    if tr.left_out:
        lines.append(
            "Left out, as they lack a board: "
            + "; ".join(f"{m} ({why})" for m, why in tr.left_out.items())
            + "."
        )
    if tr.friedman is not None:
        stat, p = tr.friedman
        f, p_f = tr.iman_davenport
        verdict = (
            "descriptive only"
            if tr.descriptive
            else "the rows differ"
            if p_f < ALPHA
            else "no evidence that the rows differ; the post-hoc test is shown for completeness"
        )
        k, n = len(tr.models), len(tr.boards)
        lines.append(
            f"Friedman χ² = {stat:.2f} over {k} rows and {n} boards, p = {p:.3g}; "
            f"Iman-Davenport F = {f:.2f} on ({k - 1}, {(k - 1) * (n - 1)}) degrees of freedom, "
            f"p = {p_f:.3g} ({verdict}); Nemenyi critical difference {tr.cd:.2f} ranks at "
            f"α = {ALPHA} (scipy.stats, scikit-posthocs)."
            + (f" Diagram: {figure}." if figure else "")
        )
    else:
        lines.append("Too few rows or boards for the Friedman test.")
    return "\n".join(f"{ln}  " for ln in lines) + "\n"
