"""Published results: tables with significance marks, average ranks and pictures, from records.

``publish`` reads stored records (and the per-example arrays beside them) and writes, for
each protocol version and data set, markdown and CSV tables with bootstrap intervals and marks
(:mod:`aebench.report.significance`), a summary of ranks across data sets with the Friedman test and
critical-difference diagrams (:mod:`aebench.report.ranking`), the pictures, and, given literature
files, a reproduced-vs-published table per data set (:mod:`aebench.report.literature`). Nothing here
runs a model; the same records give the same bytes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.records import storage
from aebench.report import literature, plots, ranking, render, significance
from aebench.run import nll_examples
from aebench.stats.bootstrap import N_BOOT, Replicates


def mark_significance(
    board: render.Board,
    records: list[dict[str, Any]],
    n_boot: int = N_BOOT,
    stale: render.Staleness | None = None,
) -> Replicates:
    """Intervals, marks and flags of ``board`` (aebench.report.significance) from its current records
    among ``records`` (stale ones are shown as recorded, never tested); its resamples."""
    if board.members or board.superseded_by:  # a family's cells are its members' means; a
        return Replicates(n_boot, ())  # superseded board is shown as recorded
    current = [r for r in render.records_of(board, records) if stale is None or stale(r) is None]
    if board.show_likelihood:  # NLL over the board's common examples, as its cells show it
        current, _ = nll_examples.align(current)
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
    boards: list[render.Board]
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


#: the folder of ``publish``'s out-dir whose literature files it reads unless told another
LITERATURE = "literature"


def stem(board: render.Board) -> str:
    """The file name stem of a board's tables and pictures."""
    return f"{board.group}_{board.dataset}"


def compose(
    records: list[dict[str, Any]],
    problems: list[str] | None = None,
    stale: render.Staleness | None = None,
    docs: list[literature.Literature] | None = None,
) -> Publication:
    """Every board with its intervals, marks and provenance line, the ranks across boards, and
    the figures of the literature files ``docs`` beside the boards' cells."""
    boards = render.build_boards(records, stale=stale)
    reps: dict[str, Replicates] = {}
    for b in boards:
        recs = render.records_of(b, records)
        reps[f"{b.dataset}/{b.group}"] = mark_significance(b, recs, stale=stale)
        b.caption.append(_software_line(recs))
    tasks = [t for t in (ranking.task_ranks(boards, reps, k) for k in ranking.HEADLINE) if t]
    pub = Publication(records, list(problems or ()), boards, reps, tasks)
    pub.literature = literature.tables(docs or [], boards)
    return pub


def publish(
    results_dirs: Path | list[Path],
    out_dir: Path,
    figures: bool = True,
    stale: render.Staleness | None = None,
    site: Path | None = None,
    literature_dir: Path | None = None,
) -> list[Path]:
    """Every board's tables and figures, and the summary, from the records in
    ``results_dirs`` (several are merged, :mod:`aebench.records.merge`); ``stale`` (see
    ``render.build_boards``) marks rows today's code would not reproduce; ``site``: also a
    static web site there (:mod:`aebench.report.site`); ``literature_dir``: the literature files of
    the reproduced-vs-published tables (default: ``out_dir/literature`` where it exists)."""
    from aebench.records import merge

    if literature_dir is None and (out_dir / LITERATURE).is_dir():
        literature_dir = out_dir / LITERATURE
    # read first: a malformed file is one line before anything is written
    docs = literature.load_dir(literature_dir) if literature_dir is not None else []
    dirs = [results_dirs] if isinstance(results_dirs, Path) else list(results_dirs)
    records, problems = merge.load(dirs)
    if not records:
        from aebench.errors import AebenchError

        raise AebenchError(f"no records in {', '.join(map(str, dirs))}; run `aebench run` first")
    pub = compose(records, problems, stale, docs)
    written: list[Path] = []
    for b in pub.boards:
        name = stem(b)
        written.append(_write(out_dir / f"{name}.md", render.export(b, "markdown")))
        written.append(_write(out_dir / f"{name}.csv", render.export(b, "csv")))
        if figures and not b.members:  # a family's pictures are its members'
            recs = render.records_of(b, records)
            pub.figures[name] = plots.all_figures(recs, out_dir / "figures", name, b.title)
            written += pub.figures[name]
    names = {}
    for t in pub.tasks:
        path = out_dir / "figures" / f"critical-difference_{t.task}.png"
        if figures and ranking.diagram(t, path) is not None:
            written.append(path)
            pub.diagrams[t.task] = path
            names[t.task] = f"figures/{path.name}"
    text, head, rows = ranking.summary(pub.tasks, names)
    pub.summary_text, pub.summary_head, pub.summary_rows = text, head, rows
    written.append(_write(out_dir / "summary.md", text))
    buf = io.StringIO()
    csv.writer(buf).writerows([head, *rows])
    written.append(_write(out_dir / "summary.csv", buf.getvalue()))
    for name, (md, table_csv) in literature.files(pub.literature).items():
        written.append(_write(out_dir / f"{name}.md", md))
        written.append(_write(out_dir / f"{name}.csv", table_csv))
    if problems:
        written.append(_write(out_dir / "skipped-records.txt", "\n".join(problems) + "\n"))
    if site is not None:
        from aebench.report import site as site_module

        written += site_module.write_site(pub, site, out_dir)
    return written


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


def _write(path: Path, text: str) -> Path:
    storage.atomic_write(path, text)
    return path
