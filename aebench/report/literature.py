"""Reproduced vs published: figures from the literature beside aebench's own, where they compare.

A literature file is JSON (``results/literature/*.json``) and names everything specific: the
sources, the models, data sets and protocols. A published figure is set beside an aebench cell
only where its entry names the aebench model and protocol *and* declares the settings (data,
preprocessing, model size, estimator) comparable; elsewhere the cell says why not, and a board
not run yet reads "not run". The aebench cell is the board's own (nothing is recomputed): for a
member of a protocol family, its column of the family board (:mod:`aebench.report.families`:
mean ± 95 % Student-t interval over seeds, :func:`aebench.stats.intervals.mean_ci`); for any
other protocol, the cell of the file's metric on the protocol's board, with the same t
interval. Both figures are
shown in the published unit (a percentage: aebench's fractions × 100). The format::

    {"about": "what the file holds and why",
     "metric": "anomaly.auroc",     # an aebench metric, aebench.run.metrics.METRICS
     "unit": "percent",             # the figures' unit: percent, or fraction (as recorded)
     "sources": {"ruff2018": {"citation": "...", "url": "...", "table": "..."}},
     "figures": [{"source": "ruff2018", "dataset": "mnist", "method": "...",
                  "normal_class": 0,              # or "setting": "..."
                  "value": 98.0, "std": 0.7,      # std (the source's, over its seeds): optional
                  "checked": "where it was read (a url)",
                  "aebench": {"model": "conv_ae", "protocol": "mnist-oneclass-c0-v1",
                              "comparable": false, "why": "..."}}],   # optional
     "not_comparable": [{"dataset": "mnist", "source": "...", "why": "..."}],   # optional
     "not_transcribed": "what is left out, and why"}                            # optional
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError
from aebench.records.storage import slug
from aebench.report.board import Board, Cell
from aebench.run.metrics import METRICS

__all__ = [
    "Figure",
    "Literature",
    "Row",
    "Table",
    "cells",
    "files",
    "headers",
    "load",
    "load_dir",
    "tables",
    "to_csv",
    "to_markdown",
]

UNITS = {"percent": 100.0, "fraction": 1.0}
_FORMAT = "the format is in aebench/literature.py's docstring"


@dataclass(frozen=True)
class Figure:
    """One published figure and what, if anything, it is compared with."""

    file: str
    source: str
    dataset: str
    method: str
    setting: str
    value: float
    std: float | None
    checked: str
    model: str | None = None
    protocol: str | None = None
    comparable: bool = False
    why: str = ""


@dataclass
class Literature:
    """One literature file, checked."""

    path: Path
    metric: str
    unit: str
    sources: dict[str, dict[str, Any]]
    figures: list[Figure]
    not_comparable: list[dict[str, str]]
    not_transcribed: str = ""


@dataclass
class Row:
    figure: Figure
    #: "compared", or why there is no aebench figure: "not comparable", "no aebench
    #: counterpart" or "not run"
    status: str
    #: the aebench figure's text (mean ± half-width), or the reason there is none
    text: str
    mean: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int = 0


@dataclass
class Table:
    """The reproduced-vs-published table of one data set and metric, with its notes."""

    dataset: str
    metric: str
    unit: str
    title: str
    caption: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    #: (source id, citation and table, url) of every source a row or note cites
    sources: list[tuple[str, str, str]] = field(default_factory=list)


def load_dir(folder: Path) -> list[Literature]:
    """Every ``*.json`` literature file in ``folder``, checked (one-line errors)."""
    if not folder.is_dir():
        raise AebenchError(f"{folder}: no such folder of literature files; pass another one")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise AebenchError(f"{folder}: no *.json literature file in it; add one ({_FORMAT})")
    return [load(p) for p in files]


def load(path: Path) -> Literature:
    """One literature file, checked: an entry that does not fit is one line naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AebenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise AebenchError(f"{path}: not valid JSON ({exc}); fix the file") from None
    check = _Checker(path)
    check.that(isinstance(doc, dict), "", "the file must hold one JSON object")
    metric, unit = doc.get("metric"), doc.get("unit")
    check.that(metric in METRICS, "metric", "must be an aebench metric, e.g. anomaly.auroc")
    check.that(unit in UNITS, "unit", "must be 'percent' or 'fraction'")
    sources = doc.get("sources")
    check.that(isinstance(sources, dict), "sources", "must map source ids to objects")
    for sid, src in sources.items():
        check.that(isinstance(src, dict) and _text(src.get("citation")), f"sources.{sid}",
                   "needs a 'citation' (text)")  # fmt: skip
    figures = doc.get("figures", [])
    check.that(isinstance(figures, list), "figures", "must be a list")
    notes = doc.get("not_comparable", [])
    check.that(isinstance(notes, list), "not_comparable", "must be a list")
    for i, note in enumerate(notes):
        ok = isinstance(note, dict) and all(_text(note.get(k)) for k in ("dataset", "source"))
        ok = ok and _text(note.get("why"))
        check.that(ok, f"not_comparable[{i}]", "needs 'dataset', 'source' and 'why' (text)")
    missing = doc.get("not_transcribed", "")
    check.that(isinstance(missing, str), "not_transcribed", "must be text")
    figs = [_figure(check, f"figures[{i}]", f, sources, unit) for i, f in enumerate(figures)]
    return Literature(path, metric, unit, sources, figs, notes, missing)


class _Checker:
    def __init__(self, path: Path):
        self.path = path

    def that(self, ok: bool, where: str, what: str) -> None:
        if not ok:
            at = f"{where} " if where else ""
            raise AebenchError(f"{self.path}: {at}{what}; fix that entry ({_FORMAT})")


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _figure(check: _Checker, at: str, f: Any, sources: dict, unit: str) -> Figure:
    check.that(isinstance(f, dict), at, "must be an object")
    ok = isinstance(f.get("source"), str) and f["source"] in sources
    check.that(ok, f"{at}.source", "must name an entry of 'sources'")
    for key in ("dataset", "method", "checked"):
        check.that(_text(f.get(key)), f"{at}.{key}", "must be text")
    value, std = f.get("value"), f.get("std")
    top = 100 if unit == "percent" else math.inf
    check.that(_number(value) and 0 <= value <= top, f"{at}.value",
               f"must be a number in the file's unit ({unit})")  # fmt: skip
    check.that(std is None or (_number(std) and std >= 0), f"{at}.std", "must be a number ≥ 0")
    k = f.get("normal_class")
    if k is not None:
        check.that(isinstance(k, int) and not isinstance(k, bool), f"{at}.normal_class",
                   "must be an integer")  # fmt: skip
        setting = f"normal class {k}"
    else:
        check.that(_text(f.get("setting")), at, "needs a 'normal_class' or a 'setting' (text)")
        setting = f["setting"]
    ours = f.get("aebench")
    fig = Figure(check.path.name, f["source"], f["dataset"], f["method"], setting,
                 float(value), None if std is None else float(std), f["checked"])  # fmt: skip
    if ours is None:
        return fig
    at = f"{at}.aebench"
    check.that(isinstance(ours, dict), at, "must be an object")
    comparable, model, protocol = ours.get("comparable"), ours.get("model"), ours.get("protocol")
    check.that(isinstance(comparable, bool), f"{at}.comparable", "must be true or false")
    check.that(model is None or _text(model), f"{at}.model", "must be a model name or null")
    if comparable:
        check.that(_text(model) and _text(protocol), at,
                   "declares the settings comparable: name its 'model' and 'protocol'")  # fmt: skip
    else:
        check.that(_text(ours.get("why")), f"{at}.why", "must say why the settings differ")
    check.that(protocol is None or _text(protocol), f"{at}.protocol", "must be text")
    return replace(fig, model=model, protocol=protocol, comparable=comparable,
                   why=ours.get("why") or "")  # fmt: skip


# -- the tables ----------------------------------------------------------------------------------


def tables(docs: list[Literature], boards: list[Board]) -> list[Table]:
    """One table per data set and metric among ``docs``: each figure beside the cell of the
    ``boards`` (as built and shown, e.g. ``Publication.boards``) that it is compared with."""
    keys: dict[tuple[str, str], list[Literature]] = {}
    for doc in docs:
        for ds in [f.dataset for f in doc.figures] + [n["dataset"] for n in doc.not_comparable]:
            keys.setdefault((ds, doc.metric), [])
            if doc not in keys[(ds, doc.metric)]:
                keys[(ds, doc.metric)].append(doc)
    return [_table(ds, metric, group, boards) for (ds, metric), group in sorted(keys.items())]


def _table(dataset: str, metric: str, docs: list[Literature], boards: list[Board]) -> Table:
    unit = "percent" if any(d.unit == "percent" for d in docs) else "fraction"
    label = METRICS[metric].label
    rows, notes, cited = [], [], set()
    for doc in docs:
        to_table = UNITS[unit] / UNITS[doc.unit]  # a fraction beside percentages: shown in %
        for f in (f for f in doc.figures if f.dataset == dataset):
            row = _row(f, metric, UNITS[unit], boards)
            row.figure = replace(f, value=f.value * to_table)
            rows.append(row)
            cited.add((doc.path.name, f.source))
        for n in (n for n in doc.not_comparable if n["dataset"] == dataset):
            notes.append(f"Not compared ({n['source']}): {n['why']}")
            cited |= {(doc.path.name, sid) for sid in doc.sources if n["source"].startswith(sid)}
        if doc.not_transcribed:
            notes.append(f"Not transcribed ({doc.path.name}): {doc.not_transcribed}")
    sources = [
        (sid, "; ".join(filter(None, (src["citation"], src.get("table")))), src.get("url", ""))
        for doc in docs
        for sid, src in doc.sources.items()
        if (doc.path.name, sid) in cited
    ]
    percent = unit == "percent"
    caption = [
        f"Published {label} beside aebench's on {dataset}, both "
        + ("in percent (aebench's fractions × 100)" if percent else "as fractions")
        + ". aebench: the named protocol's board, mean ± 95% CI over seeds (Student t); a "
        "family member's figure is its column of the family board. Published: as the source "
        "reports it, with its standard deviation over its runs (s.d.) where given.",
        "A figure is set beside aebench's only where the literature file declares the settings "
        "(data, preprocessing, model size, estimator) comparable; elsewhere the cell says why not.",
    ]
    title = f"Reproduced vs published · {dataset} · {label}"
    return Table(dataset, metric, unit, title, caption, rows, notes, sources)


def _row(f: Figure, metric: str, scale: float, boards: list[Board]) -> Row:
    if f.model is None:
        why = f.why or "the literature file names no aebench model for this figure"
        return Row(f, "no aebench counterpart", why)
    if not f.comparable:
        return Row(f, "not comparable", f.why)
    found = _cell_of(boards, f.dataset, f.protocol, metric)
    if isinstance(found, str):
        return Row(f, "not run", found)
    board, key = found
    rows = [r for r in board.rows if r.model == f.model]
    rows = rows or [r for r in board.rows if r.model.startswith(f.model + "[")]
    if len(rows) != 1:
        what = f"several configs ({', '.join(r.model for r in rows)}): name one" if rows else ""
        return Row(f, "not run", f"{what or f'no {f.model} row'} on board {board.title}")
    row = rows[0]
    cell = row.cells.get(key)
    if cell is None or not cell.n or cell.mean is None:
        return Row(f, "not run", f"{f.model} has no ok run on board {board.title} ({row.status})")
    digits = max(0, METRICS[metric].digits - round(math.log10(scale)))
    half = None if cell.half is None else cell.half * scale
    shown = Cell(cell.mean * scale, half, cell.n)
    if cell.lo is not None and cell.hi is not None:  # the board's own (bootstrap) interval
        shown.lo, shown.hi = cell.lo * scale, cell.hi * scale
    text = f"{shown.text(digits)} (n={cell.n})" + (" [STALE]" if row.stale else "")
    text += f" [{cell.verdict}]" if cell.verdict else ""  # the learning gate's (report.gate)
    lo, hi = shown.lo, shown.hi
    if lo is None and half is not None:
        lo, hi = shown.mean - half, shown.mean + half
    return Row(f, "compared", text, shown.mean, lo, hi, cell.n)


def _cell_of(boards: list[Board], dataset: str, protocol: str, metric: str):
    """(board, column key) holding ``protocol``'s figure of ``metric`` on ``dataset``: a family
    member's column of its family board, else the protocol's own board; else why there is none."""
    for b in boards:
        if b.dataset == dataset and protocol in b.members:
            if b.columns[-1].key != metric:  # a family board's last column is its headline
                return f"{b.title} shows {b.columns[-1].key}, not {metric}"
            return b, protocol
    for b in boards:
        if b.dataset == dataset and b.group == protocol:
            if not any(c.key == metric for c in b.columns):
                return f"{b.title} has no {metric} column"
            return b, metric
    return f"no records of {protocol} on {dataset}"


# -- renderers -----------------------------------------------------------------------------------


def headers(table: Table) -> list[str]:
    unit = " (%)" if table.unit == "percent" else ""
    label = METRICS[table.metric].label
    return [
        "source",
        "method",
        "normal class / setting",
        f"published {label}{unit}",
        f"aebench {label}{unit}",
        "aebench model · protocol",
    ]


def cells(table: Table) -> tuple[list[list[str]], list[str]]:
    """Each row's text, as the markdown table and the site show it, and the reasons its cells
    without an aebench figure refer to (``[1]``: the first), each given once."""
    digits = max(0, METRICS[table.metric].digits - round(math.log10(UNITS[table.unit])))
    out, reasons = [], []
    for r in table.rows:
        f = r.figure
        published = f"{f.value:.{digits}f}" + (f" (s.d. {f.std:.{digits}f})" if f.std else "")
        ours = " · ".join(s for s in (f.model, f.protocol) if s) or "—"
        text = r.text
        if r.status != "compared":
            reason = f"{r.status}: {r.text}"
            if reason not in reasons:
                reasons.append(reason)
            text = f"{r.status} [{reasons.index(reason) + 1}]"
        out.append([f.source, f.method, f.setting, published, text, ours])
    return out, [f"[{i}] {why}" for i, why in enumerate(reasons, 1)]


def to_markdown(table: Table) -> str:
    """The table (tabulate's pipe format), its reasons, notes and sources."""
    from tabulate import tabulate

    lines = [f"### {table.title}", "", *(f"{c}  " for c in table.caption), ""]
    rows, reasons = cells(table)
    if rows:
        rows = [[c.replace("|", "\\|") for c in row] for row in rows]
        lines += [tabulate(rows, headers(table), tablefmt="pipe", disable_numparse=True), ""]
        lines += [f"{why}  " for why in reasons] + [""]
    else:
        lines += ["No published figure under these settings was found: nothing to compare.", ""]
    lines += [f"- {n}" for n in table.notes]
    if table.sources:
        lines += ["", "Sources:", ""]
        lines += [
            f"- {sid}: {cite}" + (f" <{url}>" if url else "") for sid, cite, url in table.sources
        ]
    return "\n".join(lines).rstrip() + "\n"


def files(tables: list[Table]) -> dict[str, tuple[str, str]]:
    """``literature_DATASET`` -> the markdown and CSV of that data set's tables (one a metric)."""
    out: dict[str, tuple[str, str]] = {}
    for t in tables:
        name = f"literature_{slug(t.dataset)}"
        md, rows = out.get(name, ("", ""))
        out[name] = (md + ("\n" if md else "") + to_markdown(t), rows + to_csv(t, not rows))
    return out


def to_csv(table: Table, header: bool = True) -> str:
    """The rows, one column per field; both figures in the table's unit."""
    buf = io.StringIO()
    w = csv.writer(buf)
    if header:
        w.writerow(
            ["dataset", "metric", "unit", "source", "method", "setting", "published",
             "published_sd", "aebench_model", "aebench_protocol", "comparable", "status",
             "aebench_mean", "aebench_lo", "aebench_hi", "aebench_n", "why", "checked", "file"]
        )  # fmt: skip
    for r in table.rows:
        f = r.figure
        w.writerow(
            [table.dataset, table.metric, table.unit, f.source, f.method, f.setting, f.value,
             f.std, f.model, f.protocol, f.comparable, r.status, r.mean, r.lo, r.hi, r.n,
             f.why if r.status == "compared" else r.text, f.checked, f.file]
        )  # fmt: skip
    return buf.getvalue()
