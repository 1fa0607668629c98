"""Ranks across boards: Friedman test, Nemenyi post-hoc, critical-difference diagram (Demšar 2006).

Per task (reconstruction ranked by recon MSE, anomaly detection by AUROC), over the newest
version of each protocol (superseded versions and ``~`` variants would count a data set twice):

- the boards used are all of the task's; the rows ranked are every row, reference rows too,
  with a value on every one of them, so each average is over the same boards. A row missing
  from a board (not applicable, failed, not run, stale) is left out and the summary says where;
- on each board the rows are ranked with ties where the board's own bootstrap test cannot
  separate them (:func:`aebench.report.significance.tie_ranks`), so a 1e-4 AUROC gap is no rank;
- the Friedman test (scipy.stats) over the board x row rank table, Nemenyi's post-hoc test
  and the critical-difference diagram (scikit-posthocs) on the same table.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aebench.records import storage
from aebench.report import render
from aebench.report.significance import ALPHA, margin, tie_ranks
from aebench.stats.intervals import bootstrap

__all__ = ["HEADLINE", "TaskRanks", "diagram", "newest_versions", "summary", "task_ranks"]

#: the metric each task is ranked by
HEADLINE = {"reconstruction": "recon_mse", "anomaly": "anomaly.auroc"}


def newest_versions(boards: list[render.Board]) -> list[render.Board]:
    """One board per data set and protocol name: its newest version. Superseded versions and
    variants (``--budget`` and the like) would count a data set more than once."""
    newest: dict[tuple[str, str], tuple[int, render.Board]] = {}
    for b in boards:
        m = re.fullmatch(r"(.+)-v(\d+)", b.group)
        if m is None or b.family:  # a variant ("name-vN~fingerprint"); a family's member
            continue
        key, version = (b.dataset, m.group(1)), int(m.group(2))
        if key not in newest or version > newest[key][0]:
            newest[key] = (version, b)
    return [b for _, b in sorted(newest.values(), key=lambda vb: (vb[1].dataset, vb[1].group))]


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
    #: newest boards not used because every row on them is stale
    all_stale: list[str] = field(default_factory=list)
    friedman: tuple[float, float] | None = None
    #: Nemenyi p-values (models x models), scikit-posthocs
    nemenyi: object = None
    cd: float | None = None

    @property
    def mean_ranks(self) -> dict[str, float]:
        return dict(zip(self.models, self.ranks.mean(0).tolist()))


def _board_name(b: render.Board) -> str:
    return f"{b.dataset}/{b.group}"


def task_ranks(
    boards: list[render.Board], reps: dict[str, bootstrap.Replicates], task: str
) -> TaskRanks | None:
    """The task's rank table over the newest boards; ``reps`` by board name (``_board_name``)."""
    metric = HEADLINE[task]
    cands = [b for b in boards if any(c.key == metric for c in b.columns)]
    # a board with no row of today's code is no evidence about today's models (were it
    # counted, every model would lack a board): the newest version that has such rows counts
    current = [b for b in cands if any(not r.stale and r.cells[metric].n for r in b.rows)]
    used = newest_versions(current)
    all_stale = [b for b in newest_versions(cands) if b not in current]
    if not used:
        return None
    better = next(c.better for c in used[0].columns if c.key == metric)
    values = {
        _board_name(b): {
            r.model: r.cells[metric].mean for r in b.rows if r.cells[metric].n and not r.stale
        }
        for b in used
    }
    everywhere = set.intersection(*(set(v) for v in values.values()))
    models = sorted(everywhere)
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
    refs = {r.model for b in used for r in b.rows if r.reference}
    tr = TaskRanks(task, metric, [_board_name(b) for b in used], models, ranks, refs, left_out)
    tr.superseded = sorted(_board_name(b) for b in cands if b not in used and b not in all_stale)
    tr.all_stale = [_board_name(b) for b in all_stale]
    if len(models) >= 3 and len(used) >= 2:
        _tests(tr)
    return tr


def _ranks_on(values, reps, metric, better, models) -> dict[str, float]:
    paired = reps.paired.get(metric, {}) if reps is not None else {}
    return tie_ranks({m: values[m] for m in models}, paired, better, margin(metric))


def _why(b: render.Board, model: str) -> str:
    row = next((r for r in b.rows if r.model == model), None)
    if row is None:
        return "not run"
    if row.stale:
        return "stale"
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
    tr.nemenyi = sp.posthoc_nemenyi_friedman(pd.DataFrame(tr.ranks, columns=tr.models))
    q = stats.studentized_range.ppf(1 - ALPHA, k, np.inf) / np.sqrt(2)
    tr.cd = float(q * np.sqrt(k * (k + 1) / (6 * n)))


def _label(tr: TaskRanks, m: str) -> str:
    return f"{m} (ref.)" if m in tr.references else m


def diagram(tr: TaskRanks, path: Path) -> Path | None:
    """The critical-difference diagram as a PNG (scikit-posthocs; None without the tests)."""
    if tr.nemenyi is None:
        return None
    import pandas as pd
    import scikit_posthocs as sp

    from aebench.report.plots import _plt

    plt = _plt()
    labels = [_label(tr, m) for m in tr.models]
    sig = tr.nemenyi.copy()
    sig.index, sig.columns = labels, labels
    ranks = pd.Series(tr.ranks.mean(0), index=labels)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.6))
    sp.critical_difference_diagram(ranks, sig, ax=ax, alpha=ALPHA)
    stat, p = tr.friedman
    ax.set_title(
        f"{tr.task}: average rank by {tr.metric} over {len(tr.boards)} boards "
        f"(Friedman p = {p:.3g}; bars join rows Nemenyi cannot separate, α = {ALPHA})",
        fontsize=8,
    )
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
        rows += table
        parts.append(tabulate(table, head, tablefmt="pipe", disable_numparse=True) + "\n")
        parts.append(task_note(tr, figures.get(tr.task)))
    return "\n".join(parts), head, rows


def task_note(tr: TaskRanks, figure: str | None) -> str:
    """The notes under a task's rank table (summary.md; the site's index shows them too)."""
    lines = [
        f"{tr.task.capitalize()}: every row ranked on the same {len(tr.boards)} board(s), "
        f"{', '.join(tr.boards)} (the newest version of each protocol), reference rows "
        "included. Rank 1 is best; on each board, rows its test cannot separate (two-sided, "
        f"α = {ALPHA}, the board's paired bootstrap; gaps under half the last shown digit are "
        "none) share their mean rank."
    ]
    if tr.superseded:
        lines.append(
            "Not used, as a newer version or the published protocol counts that data set: "
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
        verdict = (
            "the rows differ"
            if p < ALPHA
            else "no evidence that the rows differ; the post-hoc test is shown for completeness"
        )
        lines.append(
            f"Friedman χ² = {stat:.2f} over {len(tr.models)} rows and {len(tr.boards)} boards, "
            f"p = {p:.3g} ({verdict}); Nemenyi critical difference {tr.cd:.2f} ranks at "
            f"α = {ALPHA} (scipy.stats, scikit-posthocs)."
            + (f" Diagram: {figure}." if figure else "")
        )
    else:
        lines.append("Too few rows or boards for the Friedman test.")
    return "\n".join(f"{ln}  " for ln in lines) + "\n"
