"""Published results: tables with significance marks, average ranks and pictures, from records.

``publish`` reads stored records (and the per-example arrays beside them) and writes, for
each protocol version and data set, markdown and CSV tables with bootstrap intervals and marks
(:mod:`aebench.significance`), a summary of ranks across data sets with the Friedman test and
critical-difference diagrams (:mod:`aebench.ranking`), and the pictures. Nothing here runs a
model; the same records give the same bytes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aebench import plots, ranking, render, significance, storage
from aebench.bootstrap import N_BOOT, Replicates


def mark_significance(
    board: render.Board,
    records: list[dict[str, Any]],
    n_boot: int = N_BOOT,
    stale: render.Staleness | None = None,
) -> Replicates:
    """Intervals, marks and flags of ``board`` (aebench.significance) from its current records
    among ``records`` (stale ones are shown as recorded, never tested); its resamples."""
    if board.members:  # a family board's cells are means of its members' boards
        return Replicates(n_boot, ())
    current = [r for r in render.records_of(board, records) if stale is None or stale(r) is None]
    return significance.annotate(board, current, n_boot, by_config=stale is None)


def publish(
    results_dir: Path,
    out_dir: Path,
    figures: bool = True,
    stale: render.Staleness | None = None,
) -> list[Path]:
    """Every board's tables and figures, and the summary, from the records in ``results_dir``;
    ``stale`` (see ``render.build_boards``) marks rows today's code would not reproduce."""
    records, problems = storage.load_records(results_dir)
    if not records:
        from aebench.errors import AebenchError

        raise AebenchError(f"no records in {results_dir}; run `aebench run` first")
    boards = render.build_boards(records, stale=stale)
    written: list[Path] = []
    reps: dict[str, Replicates] = {}
    for b in boards:
        recs = render.records_of(b, records)
        reps[f"{b.dataset}/{b.group}"] = mark_significance(b, recs, stale=stale)
        b.caption.append(_software_line(recs))
        stem = f"{b.group}_{b.dataset}"
        written.append(_write(out_dir / f"{stem}.md", render.export(b, "markdown")))
        written.append(_write(out_dir / f"{stem}.csv", render.export(b, "csv")))
        if figures and not b.members:  # a family's pictures are its members'
            written += plots.all_figures(recs, out_dir / "figures", stem, b.title)
    tasks = [t for t in (ranking.task_ranks(boards, reps, k) for k in ranking.HEADLINE) if t]
    names = {}
    for t in tasks:
        path = out_dir / "figures" / f"critical-difference_{t.task}.png"
        if figures and ranking.diagram(t, path) is not None:
            written.append(path)
            names[t.task] = f"figures/{path.name}"
    text, head, rows = ranking.summary(tasks, names)
    written.append(_write(out_dir / "summary.md", text))
    buf = io.StringIO()
    csv.writer(buf).writerows([head, *rows])
    written.append(_write(out_dir / "summary.csv", buf.getvalue()))
    if problems:
        written.append(_write(out_dir / "skipped-records.txt", "\n".join(problems) + "\n"))
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
