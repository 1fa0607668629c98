"""Published results: tables with significance marks, average ranks and pictures, from records.

``publish`` reads stored records (and the per-example arrays beside them) and writes, for
each protocol version and data set, markdown and CSV tables with mean ± 95 % CI, a summary
of average ranks across data sets, and the pictures. Nothing here runs a model.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from aebench import artifacts, plots, render, storage
from aebench.stats import average_ranks, not_significantly_worse

#: metrics with per-example values beside the record: tested over test examples
PER_EXAMPLE = {"recon_mse": "recon_mse", "nll": "nll"}
#: quality metrics get significance marks; speed and cost columns do not
TESTED = {"recon_mse", "nll", "anomaly.f1", "anomaly.auroc", "anomaly.auprc"}
#: the metric each task is ranked by in the summary
HEADLINE = {"reconstruction": "recon_mse", "anomaly": "anomaly.auroc"}
ALPHA = 0.05
SIGNIFICANCE_NOTE = (
    f"Underlined (markdown _x_) or marked ≈ (terminal): not significantly worse than the best at "
    f"α = {ALPHA}: one-sided Wilcoxon signed-rank test over test examples (per-example error or "
    f"NLL averaged over seeds) where per-example values exist, else a one-sided paired t-test "
    f"over seeds (scipy.stats)."
)


def _per_model(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["status"] == "ok":
            out.setdefault(r["model"]["name"], []).append(r)
    return out


def _example_values(recs: list[dict[str, Any]], key: str) -> np.ndarray | None:
    """Per-example values of ``key`` averaged over seeds (None if any seed lacks them)."""
    arrays = []
    for r in recs:
        stored = artifacts.of_record(r)
        a = stored.get(key) if stored is not None else None
        if a is None:
            return None
        arrays.append(a.astype(np.float64))
    if not arrays or len({a.shape for a in arrays}) != 1:
        return None
    return np.mean(arrays, axis=0)


def mark_significance(board: render.Board, records: list[dict[str, Any]]) -> None:
    """Set ``cell.tied`` for every cell not significantly worse than its column's best."""
    by_model = _per_model(records)
    for col in board.columns:
        if col.key not in TESTED:
            continue
        best_row = next((r for r in board.rows if r.cells[col.key].best), None)
        if best_row is None:
            continue
        best_recs = by_model.get(best_row.model, [])
        for row in board.rows:
            cell = row.cells[col.key]
            if row.reference or row.stale or not cell.n or cell.best or row.model not in by_model:
                continue
            if col.key == "nll" and row.like_kind == "density":
                continue  # a continuous density is not compared with discrete likelihoods
            recs = by_model[row.model]
            if col.key in PER_EXAMPLE:
                a = _example_values(best_recs, PER_EXAMPLE[col.key])
                b = _example_values(recs, PER_EXAMPLE[col.key])
                if a is not None and b is not None and a.shape == b.shape:
                    _set(cell, not_significantly_worse(a, b, col.better, "example", ALPHA))
                    continue
            seeds = sorted({r["seed"] for r in best_recs} & {r["seed"] for r in recs})
            a = [
                next(r for r in best_recs if r["seed"] == s)["metrics"].get(col.key) for s in seeds
            ]
            b = [next(r for r in recs if r["seed"] == s)["metrics"].get(col.key) for s in seeds]
            if None in a or None in b:
                continue
            _set(cell, not_significantly_worse(a, b, col.better, "seed", ALPHA))


def _set(cell: render.Cell, result: tuple[bool, float]) -> None:
    """Mark a cell only when a test could run (one seed cannot be tested over seeds)."""
    tied, p = result
    if p == p:  # not NaN
        cell.tied, cell.p = tied, p


def _newest_versions(boards: list[render.Board]) -> list[render.Board]:
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
    return [b for _, b in newest.values()]


def summary_table(boards: list[render.Board]) -> tuple[list[str], list[list[str]]]:
    """Average rank of each model (headline metric per task) across the published boards: the
    newest version of each protocol, the models each board ranks (not-applicable ones are not
    ranked there; the "boards" column says on how many a model was)."""
    rows = []
    for task, key in HEADLINE.items():
        tables = {}
        for b in _newest_versions(boards):
            if not any(c.key == key for c in b.columns):
                continue
            tables[f"{b.dataset}/{b.group}"] = {
                r.model: r.cells[key].mean
                for r in b.rows
                if not r.reference and not r.stale and r.cells[key].n
            }
        better = "lower" if key == "recon_mse" else "higher"
        for model, (rank, n) in sorted(average_ranks(tables, better).items(), key=lambda x: x[1]):
            used = sorted(t for t, vals in tables.items() if vals.get(model) is not None)
            rows.append([task, key, model, f"{rank:.2f}", str(n), ", ".join(used)])
    return ["task", "ranked by", "model", "average rank", "boards", "boards used"], rows


def publish(
    results_dir: Path,
    out_dir: Path,
    figures: bool = True,
    stale: render.Staleness | None = None,
) -> list[Path]:
    """Every board's tables and figures, and the summary, from the records in ``results_dir``;
    ``stale`` (see ``render.build_boards``) marks rows today's code would not reproduce."""
    from tabulate import tabulate

    records, problems = storage.load_records(results_dir)
    if not records:
        from aebench.errors import AebenchError

        raise AebenchError(f"no records in {results_dir}; run `aebench run` first")
    boards = render.build_boards(records, stale=stale)
    written: list[Path] = []
    for b in boards:
        recs = render.records_of(b, records)
        if not b.members:  # a family board's cells are means of its members' boards
            mark_significance(b, [r for r in recs if stale is None or stale(r) is None])
            b.caption.append(SIGNIFICANCE_NOTE)
        b.caption.append(_software_line(recs))
        stem = f"{b.group}_{b.dataset}"
        written.append(_write(out_dir / f"{stem}.md", render.export(b, "markdown")))
        written.append(_write(out_dir / f"{stem}.csv", render.export(b, "csv")))
        if figures and not b.members:  # a family's pictures are its members'
            written += plots.all_figures(recs, out_dir / "figures", stem, b.title)
    head, rows = summary_table(boards)
    text = (
        "### Average ranks across data sets\n\n"
        + tabulate(rows, head, tablefmt="pipe")
        + "\n\nRank 1 is best (ties share the mean rank), over the newest version of each "
        "protocol; reference rows are not ranked, and a model is ranked only on the boards it "
        "applies to (the boards column).\n"
    )
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
