"""The publication: every board marked, its resamples and the ranks across boards, before
anything is written.

:func:`compose` builds it from records; ``publish`` (:mod:`aebench.report.publish`) writes its
tables, figures and summary, and the site (:mod:`aebench.report.site`) its pages, so the files
and the pages render one object and never disagree. ``show`` and ``export`` mark a single board
with :func:`mark_significance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.records.groups import Staleness
from aebench.report import literature, nll_alignment, ranking, significance
from aebench.report.board import Board
from aebench.report.build import build_boards, records_of
from aebench.stats.bootstrap import N_BOOT, Replicates

__all__ = ["Publication", "compose", "mark_significance", "stem"]


def mark_significance(
    board: Board,
    records: list[dict[str, Any]],
    n_boot: int = N_BOOT,
    stale: Staleness | None = None,
    member_reps: dict[str, Replicates] | None = None,
) -> Replicates:
    """Intervals, marks and flags of ``board`` (:mod:`aebench.report.significance`) from its
    current records among ``records`` (stale ones are shown as recorded, never tested); its
    resamples. A family board's come from its members' (``member_reps`` by member group, where
    already resampled)."""
    if board.superseded_by:  # shown as recorded
        return Replicates(n_boot, ())
    current = [r for r in records_of(board, records) if stale is None or stale(r) is None]
    if board.members:
        return significance.annotate_family(
            board, current, member_reps, n_boot, by_config=stale is None
        )
    if board.show_likelihood:  # NLL over the board's common examples, as its cells show it
        current, _ = nll_alignment.align(current)
    return significance.annotate(board, current, n_boot, by_config=stale is None)


@dataclass
class Publication:
    """What ``publish`` writes, before it is written: the marked boards and the summary's ranks.

    Every output (markdown, CSV, the site of :mod:`aebench.report.site`) renders this one object, so
    the files and the pages can never disagree.
    """

    records: list[dict[str, Any]]
    #: one line per file under the results directories that was not a readable record
    problems: list[str]
    boards: list[Board]
    #: each board's bootstrap resamples, by ``"dataset/group"``
    reps: dict[str, Replicates]
    tasks: list[ranking.TaskRanks]
    #: the pictures of each board by its stem (``group_dataset``), filled in as they are drawn
    figures: dict[str, list[Path]] = field(default_factory=dict)
    #: the critical-difference diagram of each headline task, where one was drawn
    diagrams: dict[str, Path] = field(default_factory=dict)
    #: summary.md's text and summary.csv's header and rows (:func:`aebench.report.ranking.summary`)
    summary_text: str = ""
    summary_head: list[str] = field(default_factory=list)
    summary_rows: list[list] = field(default_factory=list)
    #: the reproduced-vs-published tables (:mod:`aebench.report.literature`), one per data set
    literature: list[literature.Table] = field(default_factory=list)


def stem(board: Board) -> str:
    """The file name stem of a board's tables and pictures."""
    return f"{board.group}_{board.dataset}"


def compose(
    records: list[dict[str, Any]],
    problems: list[str] | None = None,
    stale: Staleness | None = None,
    docs: list[literature.Literature] | None = None,
) -> Publication:
    """Every board with its intervals, marks and provenance line, the ranks across boards, and
    the figures of the literature files ``docs`` beside the boards' cells."""
    boards = build_boards(records, stale=stale)
    reps: dict[str, Replicates] = {}
    for b in boards:
        recs = records_of(b, records)
        members = {g: reps[f"{b.dataset}/{g}"] for g in b.members if f"{b.dataset}/{g}" in reps}
        reps[f"{b.dataset}/{b.group}"] = mark_significance(
            b, recs, stale=stale, member_reps=members
        )
        b.caption.append(_software_line(recs))
    tasks = [
        t for t in (ranking.task_ranks(boards, reps, k, records) for k in ranking.HEADLINE) if t
    ]
    pub = Publication(records, list(problems or ()), boards, reps, tasks)
    pub.literature = literature.tables(docs or [], boards)
    return pub


def _software_line(recs: list[dict[str, Any]]) -> str:
    sw = recs[0].get("software", {})
    dates = sorted(r.get("finished", "")[:10] for r in recs if r.get("finished"))
    when = dates[0] if dates and dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    commits = sorted({r.get("software", {}).get("git_commit") or "unknown" for r in recs})
    return (
        f"Software: aebench {sw.get('aebench')} (commit {', '.join(map(_short, commits))}), "
        f"torch {sw.get('torch')}, numpy {sw.get('numpy')}, scipy {sw.get('scipy')}, "
        f"scikit-learn {sw.get('scikit-learn')}, Python {sw.get('python')}; "
        f"hardware: {sw.get('cpu')}; platform {sw.get('platform')}; run {when}."
    )


def _short(commit: str) -> str:
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")
