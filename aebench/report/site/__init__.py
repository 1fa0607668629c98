"""``aebench publish --site DIR``: a static web site of the leaderboards, from stored records alone.

The site renders the same :class:`aebench.report.publication.Publication` as the markdown and
CSV tables, so pages and tables never disagree. It holds:

- ``index.html``: every data set with its protocols' boards, the critical-difference diagram of
  each headline task and the summary of average ranks with its notes, and the
  reproduced-vs-published tables (:mod:`aebench.report.literature`; citations, not addresses);
- ``boards/BOARD.html``, one per board: every column of the terminal board in its text
  (:func:`aebench.report.formats.to_rows`: mean and interval), its significance marks (bold: best;
  ≈: not significantly worse, the Holm-adjusted p-value on hover), sortable by any column
  (click a header) and filterable by model tag; the caption (protocol, data, software and
  hardware provenance), the board's CSV and its figures (reconstructions, samples, ROC/PR,
  codes, tuning curves);
- ``boards/BOARD/MODEL.html``, one per row: the model's config, each seed's loss curve (inline
  SVG), every run's status and the reason of any run that failed, diverged, was not applicable
  or timed out.

Guarantees: every address is relative and nothing is fetched (no CDN, fonts or remote
scripts; the CSS and the small script in ``static/`` are ours), so the site opens from
``file://`` offline. Record text (model names, reasons, plugin configs) reaches the pages only
through jinja2's autoescape, and the script only reorders and hides rows, never writes markup.
File names from board and model names are slugs (:func:`slug`). The same publication gives
the same bytes. A site inside the publish directory (``results/site``) links the published
figures and CSVs (``../figures/...``); anywhere else it copies the ones it shows.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from aebench.records import storage
from aebench.records.storage import slug
from aebench.report import interpolation, literature, ranking, verdict
from aebench.report.board import Board, Row
from aebench.report.build import records_of
from aebench.report.formats import to_rows
from aebench.report.publication import Publication, stem
from aebench.report.rows import records_by_row

__all__ = ["loss_chart", "slug", "write_site"]

STATIC = ("site.css", "site.js")
#: the loss chart's seed colours (Okabe-Ito, told apart by colour-blind readers)
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


def write_site(pub: Publication, site_dir: Path, out_dir: Path) -> list[Path]:
    """Write the site of ``pub`` into ``site_dir`` (``out_dir``: where ``publish`` wrote the
    tables and figures); every file written, pages first."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    files = _Files(site_dir, out_dir)
    pages: dict[str, str] = {}
    boards = []
    hrefs = {(b.group, b.dataset): _board_href(b) for b in pub.boards}
    for board in pub.boards:
        recs = records_of(board, pub.records)
        name = stem(board)
        figures = [
            {"href": files.href(path, "figures"), "label": _figure_label(path, name)}
            for path in pub.figures.get(name, [])
        ]
        csv = out_dir / f"{name}.csv"  # absent where the publication was not written
        csv_href = files.href(csv, "tables") if csv.exists() else None
        members = [
            {"title": f"{board.dataset} · {g}", "href": hrefs[(g, board.dataset)]}
            for g in board.members
            if (g, board.dataset) in hrefs
        ]
        view = _board_view(board, recs, figures, csv_href, members)
        boards.append(view)
        pages[view["href"]] = env.get_template("board.j2").render(root="../", **view)
        for row in board.rows:
            model = _model_view(board, row, _row_records(row, recs))
            interp = interpolation.figure_for(figures, name, row.model)
            pages[model["href"]] = env.get_template("model.j2").render(
                root="../../", board=view, interpolation=interp, **model
            )
    pages["index.html"] = env.get_template("index.j2").render(
        root="", **_index_view(pub, boards, files)
    )
    written = []
    for href, text in pages.items():
        storage.atomic_write(site_dir / href, text)
        written.append(site_dir / href)
    for name in STATIC:
        blob = resources.files(__package__).joinpath("static", name).read_bytes()
        storage.atomic_write(site_dir / "static" / name, blob)
        written.append(site_dir / "static" / name)
    written += files.copied
    _forget_old_pages(site_dir, written)
    return written


MANIFEST = ".aebench-site.json"


def _forget_old_pages(site_dir: Path, written: list[Path]) -> None:
    """Remove the files an earlier ``write_site`` wrote here that this one did not (the pages
    of boards that are gone), and only those: the manifest lists what the site wrote, so no
    other file in the folder is touched."""
    now = sorted(p.relative_to(site_dir).as_posix() for p in written)
    manifest = site_dir / MANIFEST
    try:
        before = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = []
    for rel in set(before if isinstance(before, list) else []) - set(now):
        target = (site_dir / str(rel)).resolve()
        if site_dir.resolve() in target.parents and target.is_file():
            target.unlink()
    storage.atomic_write(manifest, json.dumps(now, indent=0) + "\n")


class _Files:
    """The published files a page shows: linked where the site is a folder of the publish
    directory, else copied into the site (``figures/``, ``tables/``) once each."""

    def __init__(self, site_dir: Path, out_dir: Path):
        self.site_dir = site_dir
        self.linked = site_dir.resolve().parent == out_dir.resolve()
        self.copied: list[Path] = []
        self._hrefs: dict[Path, str] = {}

    def href(self, path: Path, folder: str) -> str:
        """``path``'s address from the site's root."""
        if path not in self._hrefs:
            if self.linked:
                rel = os.path.relpath(path.resolve(), self.site_dir.resolve())
            else:
                rel = f"{folder}/{path.name}"
                storage.atomic_write(self.site_dir / rel, path.read_bytes())
                self.copied.append(self.site_dir / rel)
            self._hrefs[path] = quote(Path(rel).as_posix())
        return self._hrefs[path]


def _board_href(board: Board) -> str:
    return f"boards/{slug(stem(board))}.html"


def _model_href(board: Board, model: str) -> str:
    return f"boards/{slug(stem(board))}/{slug(model)}.html"


def _row_records(row: Row, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of a board's row: by its name (``model[config]`` where a model ran with
    several configs), else every record of its model (a board checked for staleness)."""
    named = records_by_row(recs).get(row.model)
    return named or [r for r in recs if r["model"]["name"] == row.model]


def _task(board: Board, recs: list[dict[str, Any]]) -> str:
    task = recs[0]["protocol"].get("task", "reconstruction")
    return f"{task}, family of {len(board.members)}" if board.members else task


def _figure_label(path: Path, name: str) -> str:
    """What a figure of board ``name`` shows, from its file name (see aebench.report.plots)."""
    kind = path.stem.removeprefix(f"{name}_")
    if kind.startswith("samples_"):
        return f"samples of {kind.removeprefix('samples_')}"
    if kind.startswith("interpolation_"):
        return f"interpolations of {kind.removeprefix('interpolation_')}"
    labels = {
        "roc_pr": "ROC and precision-recall curves",
        "latent": "test codes",
        "tuning": "tuning curves",
    }
    return labels.get(kind, kind.replace("_", " "))


def _board_view(
    board: Board,
    recs: list[dict[str, Any]],
    figures: list[dict[str, str]],
    csv: str | None,
    members: list[dict[str, str]],
) -> dict[str, Any]:
    """What a board's page shows: the cells' text as the terminal board has it, each metric
    cell's sort key (its mean) and mark; ``members``: a family's member boards."""
    headers, texts = to_rows(board)
    rows, all_tags = [], set()
    for row, text in zip(board.rows, texts):
        tags = sorted({t for r in _row_records(row, recs) for t in r["model"].get("tags", [])})
        all_tags.update(tags)
        cells = [_cell(text[1], "" if row.code is None else str(row.code))]
        for col, t in zip(board.columns, text[2:]):
            c = row.cells[col.key]
            mark = "best" if c.best and c.n else ("tied" if c.tied and c.n else c.mark)
            title = f"Holm-adjusted p = {c.p:.3g}" if c.p is not None else ""
            sort = repr(float(c.mean)) if c.n and _finite(c.mean) else ""
            cells.append(_cell(t, sort, mark, title))
        cells += [_cell(t) for t in text[2 + len(board.columns) :]]
        kind = "stale" if row.stale else ("reference" if row.reference else "")
        gated = row.verdict.replace(" ", "-")  # the learning gate's mark: did-not-learn, ...
        rows.append(
            {
                "name": text[0],
                "href": _model_href(board, row.model),
                "class": " ".join(c for c in (kind, gated, "" if row.ok else "failed") if c),
                "tags": tags,
                "cells": cells,
            }
        )
    statuses = Counter(r["status"] for r in recs)
    return {
        "title": board.title,
        "group": board.group,
        "dataset": board.dataset,
        "task": _task(board, recs),
        "href": _board_href(board),
        "headers": headers,
        "rows": rows,
        "tags": sorted(all_tags),
        "caption": board.caption,
        "verdict": verdict.verdict_lines(board),
        "legend": verdict.legend(board),
        "figures": figures,
        "members": members,
        "csv": csv,
        "runs": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
    }


def _cell(text: str, sort: str | None = None, mark: str = "", title: str = "") -> dict[str, Any]:
    """A board's cell; one with a sort key (a number) in parts (value, interval, note) that the
    page keeps each on one line."""
    parts = re.split(r" (?=[\[(])", text) if sort is not None else [text]
    return {"parts": parts, "sort": sort, "class": mark, "title": title}


def _model_view(board: Board, row: Row, recs: list[dict[str, Any]]) -> dict[str, Any]:
    """What a model's page on a board shows: its config, loss curves and every run."""
    runs = sorted(recs, key=lambda r: (r["group"], r["seed"]))
    model = runs[0]["model"]
    several = len({r["group"] for r in runs}) > 1  # a family board: its members' runs
    tuning = sorted({(r.get("tuning") or {}).get("chosen") or "" for r in runs} - {""})
    overrides = model.get("overrides")
    about = [
        ("plugin", f"{model.get('plugin')} ({model.get('distribution')} {model.get('version')})"),
        ("tags", ", ".join(model.get("tags", []))),
        ("parameters", f"{model['parameters']:,}" if model.get("parameters") else ""),
        ("implementation", (model.get("implementation") or {}).get("fingerprint", "")),
        ("overrides", json.dumps(overrides, sort_keys=True) if overrides else ""),
        ("tuning", "; ".join(tuning)),
    ]
    curves = {
        (f"{r['group']} seed {r['seed']}" if several else f"seed {r['seed']}"): (
            (r.get("training") or {}).get("loss_curve") or []
        )
        for r in runs
    }
    return {
        "title": f"{row.display} · {board.title}",
        "name": row.display,
        "href": _model_href(board, row.model),
        "status": row.status_text(),
        "about": [(k, v) for k, v in about if v],
        "configs": sorted(
            {json.dumps(r["model"].get("config"), indent=2, sort_keys=True) for r in runs}
        ),
        "chart": loss_chart(curves),
        "runs": [_run(r) for r in runs],
    }


def _run(r: dict[str, Any]) -> dict[str, Any]:
    """A run's line on its model's page."""
    training, metrics = r.get("training") or {}, r.get("metrics") or {}
    fit = metrics.get("fit_s")
    return {
        "seed": r["seed"],
        "group": r["group"],
        "status": r["status"],
        "reason": r.get("reason") or "",
        "traceback": r.get("traceback") or "",
        "epochs": training.get("epochs", ""),
        "steps": training.get("steps", ""),
        "fit_s": f"{fit:.2f}" if isinstance(fit, (int, float)) else "",
        "device": (r.get("device") or {}).get("name") or "",
        "finished": r.get("finished") or "",
    }


def loss_chart(curves: dict[str, list], width: int = 560, height: int = 260) -> dict | None:
    """An SVG line chart's geometry (the template draws it): one line per curve, training loss
    against epoch, non-finite values (a diverged run) left as gaps; None with no finite value."""
    values = [v for c in curves.values() for v in c if _finite(v)]
    if not values:
        return None
    left, right, top, bottom = 64, 12, 12, 40
    pw, ph = width - left - right, height - top - bottom
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 1), hi + (abs(hi) * 0.05 or 1)
    n = max(len(c) for c in curves.values())

    def x(i: int) -> float:
        return left + pw * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + ph * (hi - v) / (hi - lo)

    series = []
    for k, (label, curve) in enumerate(curves.items()):
        dots = [(f"{x(i):.1f}", f"{y(v):.1f}") if _finite(v) else None for i, v in enumerate(curve)]
        segments, run = [], []
        for dot in [*dots, None]:  # a gap, or the end, closes a segment
            if dot is not None:
                run.append(",".join(dot))
            elif run:
                segments.append(" ".join(run))
                run = []
        dots = [d for d in dots if d is not None]
        if not dots:  # a run with no finite loss has no line (its page says why)
            continue
        series.append(
            {"label": label, "color": PALETTE[k % len(PALETTE)], "segments": segments, "dots": dots}
        )
    epochs = sorted({0, (n - 1) // 2, n - 1})
    return {
        "width": width,
        "height": height,
        "box": (left, top, pw, ph),
        "series": series,
        "markers": n <= 20,
        "yticks": [(f"{y(v):.1f}", f"{v:.4g}") for v in (hi, (lo + hi) / 2, lo)],
        "xticks": [(f"{x(i):.1f}", str(i + 1)) for i in epochs],
    }


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _index_view(pub: Publication, boards: list[dict[str, Any]], files: _Files) -> dict[str, Any]:
    """The index: each data set's boards, and each task's diagram, ranks and notes."""
    datasets: dict[str, list[dict[str, Any]]] = {}
    for view in boards:
        datasets.setdefault(view["dataset"], []).append(view)
    tasks = []
    for tr in pub.tasks:
        diagram = pub.diagrams.get(tr.task)
        # the notes summary.md has under the task's table, naming its diagram as it does
        note = ranking.task_note(tr, f"figures/{diagram.name}" if diagram else None)
        tasks.append(
            {
                "task": tr.task,
                "metric": tr.metric,
                "diagram": files.href(diagram, "figures") if diagram else None,
                "rows": [[str(c) for c in row] for row in pub.summary_rows if row[0] == tr.task],
                "notes": [line.strip() for line in note.splitlines() if line.strip()],
            }
        )
    return {
        "datasets": sorted(datasets.items()),
        "summary_head": pub.summary_head,
        "tasks": tasks,
        "literature": [_literature_view(t) for t in pub.literature],
        "problems": pub.problems,
    }


def _literature_view(table: literature.Table) -> dict[str, Any]:
    """A reproduced-vs-published table as its markdown has it, its sources by citation only:
    the site names no address off the machine."""
    rows, reasons = literature.cells(table)
    return {
        "title": table.title,
        "caption": table.caption,
        "headers": literature.headers(table),
        "rows": rows,
        "notes": reasons + table.notes,
        "sources": [f"{sid}: {cite}" for sid, cite, _ in table.sources],
    }
