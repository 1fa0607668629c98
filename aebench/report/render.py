"""Leaderboards from stored records only: Rich in the terminal, tabulate for export.

``build_boards`` turns records into plain tables (one per protocol version and data set;
versions never mix); the renderers only format them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aebench.report import captions
from aebench.report.captions import fit_kind as _fit_kind
from aebench.run import nll_examples
from aebench.run.metrics import METRICS
from aebench.stats.intervals import mean_ci, median_range

#: the columns of each task's leaderboard
BASE_COLUMNS = ("recon_mse", "nll", "train_samples_per_s", "fit_s", "params")
ANOMALY_COLUMNS = (
    "anomaly.f1",
    "anomaly.precision",
    "anomaly.recall",
    "anomaly.auroc",
    "anomaly.auprc",
    "anomaly.oracle_f1",
    "train_samples_per_s",
    "fit_s",
)


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
    #: half-width of the Student-t interval over seeds (before aebench.report.significance sets lo/hi)
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
    #: code: this one is shown as recorded, never tested (see ``superseded``)
    superseded_by: str = ""


def _header(key: str, note: str = "") -> Column:
    spec = METRICS[key]
    arrow = {"lower": " ↓", "higher": " ↑"}.get(spec.better, "")
    unit = ", ".join(u for u in (spec.unit, note) if u)
    unit = f"\n{unit}" if unit else ""
    return Column(key, f"{spec.label}{unit}{arrow}", spec.better, spec.digits)


def _row_name(name: str, config: Any, configs: dict[str, set[str]]) -> str:
    if len(configs.get(name, ())) > 1:
        import hashlib

        return (
            f"{name}[{hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:6]}]"
        )
    return name


#: why a record is not what today's code computes (None: it is); see aebench.run.implementation
Staleness = Callable[[dict[str, Any]], "str | None"]
STALE_NOTE = (
    "STALE rows were made by another implementation of the model (its code or config "
    "defaults changed since): shown as recorded, never marked best or ranked; rerun them."
)


def build_boards(
    records: list[dict[str, Any]],
    group: str | None = None,
    stale: Staleness | None = None,
) -> list[Board]:
    """One board per group and data set. With ``stale``, rows whose records today's code would
    not reproduce are marked (a row with some current seeds shows those only)."""
    by_group: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if group is None or r.get("group") == group or r.get("group", "").startswith(group + "~"):
            by_group[(r["group"], r["dataset"]["name"])].append(r)
    from aebench.report.families import family_boards  # it builds on this module's tables
    from aebench.report.tuning import incomplete_note, not_yet_tuned

    boards = [_board(g, d, recs, stale) for (g, d), recs in sorted(by_group.items())]
    for b in boards:
        missing = not_yet_tuned(by_group[(b.group, b.dataset)], records)
        if missing:
            b.caption.append(incomplete_note(missing))
    newer = superseded(records, stale)
    for b in boards:
        b.superseded_by = newer.get((b.group, b.dataset), "")
        if b.superseded_by:
            b.caption.append(SUPERSEDED_NOTE.format(newer=b.superseded_by))
    return boards + family_boards(records, group, stale)


SUPERSEDED_NOTE = (
    "SUPERSEDED by {newer} (a newer version of this protocol, with rows of today's code): "
    "shown as recorded, with t intervals over seeds only and no significance marks; the "
    "statistics and ranks are {newer}'s."
)


def _version(group: str) -> tuple[str, int] | None:
    """(protocol name, version) of a record group, its variants' included."""
    m = re.fullmatch(r"(.+)-v(\d+)", group.split("~", 1)[0])
    return (m.group(1), int(m.group(2))) if m else None


def superseded(
    records: list[dict[str, Any]], stale: Staleness | None = None
) -> dict[tuple[str, str], str]:
    """(group, data set) -> the newest version of its protocol on that data set that has an
    ok record of today's code, for every group an older version than that (its variants too).
    Such a board is kept as recorded: nothing is tested on it, so of its per-example arrays
    only the first seed's (the figures) are stored (``python -m aebench.records.artifacts``)."""
    newest: dict[tuple[str, str], tuple[int, str]] = {}
    for r in records:
        nv = _version(r["group"])
        if nv is None or "~" in r["group"] or r["status"] != "ok":
            continue
        if stale is not None and stale(r) is not None:
            continue
        key = (nv[0], r["dataset"]["name"])
        if key not in newest or nv[1] > newest[key][0]:
            newest[key] = (nv[1], r["group"])
    out = {}
    for r in records:
        nv = _version(r["group"])
        top = newest.get((nv[0], r["dataset"]["name"])) if nv else None
        if top is not None and nv[1] < top[0]:
            out[(r["group"], r["dataset"]["name"])] = top[1]
    return out


def records_of(board: Board, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records a board was built from (a family board's: its members')."""
    groups = set(board.members) or {board.group}
    return [r for r in records if r["group"] in groups and r["dataset"]["name"] == board.dataset]


def records_by_row(
    recs: list[dict[str, Any]], by_config: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """A board's records by row name: a model run with several configs has a row for each,
    unless ``by_config`` is False (checked for staleness, a group holds one config per model:
    overridden configs are variants of their own, another config there is an older
    implementation's)."""
    configs: dict[str, set[str]] = defaultdict(set)
    for r in recs:
        if by_config:
            configs[r["model"]["name"]].add(json.dumps(r["model"].get("config"), sort_keys=True))
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        by_model[_row_name(r["model"]["name"], r["model"].get("config"), configs)].append(r)
    return dict(by_model)


def _board(
    group: str, dataset: str, recs: list[dict[str, Any]], stale: Staleness | None = None
) -> Board:
    task = recs[0]["protocol"].get("task", "reconstruction")
    # every NLL over the same test examples (the header says how many); anomaly boards show none
    recs, nll = nll_examples.align(recs) if task != "anomaly" else (recs, None)
    by_model = records_by_row(recs, by_config=stale is None)
    notes = {"nll": nll.label()} if nll else {}
    keys = ANOMALY_COLUMNS if task == "anomaly" else BASE_COLUMNS
    columns = [_header(k, notes.get(k, "")) for k in keys]
    rows = [_row(name, rs, columns, stale) for name, rs in sorted(by_model.items())]
    rows.sort(key=lambda r: (r.reference, not r.ok, r.model))
    _mark_best(rows, columns)
    caption = captions.board_caption(group, recs)
    lacking = {n: ", ".join(map(str, s)) for n, rs in by_model.items() if (s := seeds_not_run(rs))}
    if lacking:
        caption.append(seeds_note(lacking))
    if any(r.stale for r in rows):
        caption.append(STALE_NOTE)
    shown = [r for rs in by_model.values() for r in _current(rs, stale)[0]]
    away = foreign_note(shown)
    if away:
        caption.append(away)
    return Board(
        group,
        dataset,
        f"{dataset} · {group}",
        caption + nll_examples.caption(nll),
        columns,
        rows,
        show_likelihood=task != "anomaly",
        family=recs[0]["protocol"].get("family", ""),
    )


def is_reference(record: dict[str, Any]) -> bool:
    """A reference row (tagged so, or trained with labels), not a model under comparison."""
    caps = record["model"].get("capabilities") or {}
    return "reference" in record["model"].get("tags", []) or bool(caps.get("supervised"))


def _current(rs: list[dict[str, Any]], stale: Staleness | None) -> tuple[list, str | None, str]:
    """(the records to show, why they are all stale or None, a note on left-out seeds)."""
    if stale is None:
        return rs, None, ""
    reasons = [stale(r) for r in rs]
    current = [r for r, why in zip(rs, reasons) if why is None]
    if not current:
        return rs, reasons[0], ""
    left = len(rs) - len(current)
    return current, None, f" ({left} stale record(s) left out)" if left else ""


def seeds_not_run(rs: list[dict[str, Any]]) -> list[int]:
    """The protocol's seeds that no record of a row has (a failed or stale run counts as run:
    its status or STALE mark says so); a user's extra seeds are not asked for."""
    have = {r["seed"] for r in rs}
    return [s for s in rs[0]["protocol"].get("seeds") or () if s not in have]


def seeds_note(lacking: dict[str, str]) -> str:
    """The caption line of a board some of whose rows lack protocol seeds (row name -> which)."""
    parts = " | ".join(f"{name}: {which}" for name, which in sorted(lacking.items()))
    return (
        f"INCOMPLETE: protocol seed(s) not run yet — {parts} (the same command again "
        "runs them): those rows' intervals and marks cover only the seeds they have."
    )


def _row(
    name: str, rs: list[dict[str, Any]], columns: list[Column], stale: Staleness | None = None
) -> Row:
    lacking = seeds_not_run(rs)
    rs, stale_reason, left_out = _current(rs, stale)
    ok = [r for r in rs if r["status"] == "ok"]
    first = rs[0]
    caps = first["model"].get("capabilities") or {}
    reference = is_reference(first)
    if ok:
        status = f"ok {len(ok)}/{len(rs)}"
        others = sorted({f"{r['status']}: {r.get('reason')}" for r in rs if r["status"] != "ok"})
        if others:
            status += " (" + "; ".join(others) + ")"
    else:
        r = rs[-1]
        status = r["status"] if not r.get("reason") else f"{r['status']}: {r['reason']}"
    like, like_kind = "", ""
    for est in (ok[0].get("likelihood") or {}).values() if ok else ():
        if est.get("headline"):
            like = f"{est['label']} ({est['kind']})"
            like_kind = est["kind"]
    code = (ok[0].get("training") or {}).get("code_size") if ok else None
    display = name
    if caps.get("supervised"):
        display += " (SUPERVISED: trained with labels)"
    elif reference:
        display += " (reference)"
    elif code not in (None, first["protocol"]["code_size"]):
        display += f" (code {code}, not {first['protocol']['code_size']})"
    tuning = first.get("tuning") or {}
    if tuning.get("chosen", "").startswith("defaults"):
        display += f" — {tuning['chosen']}"
    if stale_reason:
        display += " [STALE]"
        status = f"STALE ({stale_reason}); {status}"
    if lacking:
        left_out += f"; seed(s) {', '.join(map(str, lacking))} not run"
    row = Row(name, status + left_out, reference, code, like, ok=bool(ok), display=display)
    row.like_kind, row.stale = like_kind, stale_reason
    for col in columns:
        used = ok if col.key != TRAIN_RATE else [r for r in ok if _train_rate_measured(r)]
        vals = [r["metrics"].get(col.key) for r in used]
        vals = [v for v in vals if isinstance(v, (int, float))]
        if METRICS[col.key].spread == "range":
            mid, lo, hi, n = median_range(vals)
            cell = Cell(mid if n else None, None, n, lo=lo, hi=hi, spread="range")
        else:
            mean, half, n = mean_ci(vals)
            cell = Cell(mean if n else None, half, n)
        if col.key == TRAIN_RATE:
            cell.note = "/".join(sorted({_fit_kind(r) for r in used} - {"batches"}))
        if col.key in SPEED_COLUMNS and any(r.get("_foreign") for r in used):
            cell.flag = FOREIGN_SIGN
        row.cells[col.key] = cell
    return row


#: the columns whose figures depend on the machine and software that measured them
SPEED_COLUMNS = ("train_samples_per_s", "fit_s")
FOREIGN_SIGN = "‡"


def foreign_note(recs: list[dict[str, Any]]) -> str | None:
    """The caption line for rows measured elsewhere (see aebench.records.merge), or None."""
    away = sorted({r["_foreign"] for r in recs if r.get("_foreign") and r["status"] == "ok"})
    if not away:
        return None
    return (
        f"{FOREIGN_SIGN}: speed measured in another environment than the board's ("
        + " | ".join(away)
        + "): throughput and fit time do not compare across machines or software; the "
        "quality columns compare as usual."
    )


TRAIN_RATE = "train_samples_per_s"


def _train_rate_measured(record: dict[str, Any]) -> bool:
    # records made before unmeasured rates were stored as null hold 0 for "no examples seen"
    return (record.get("training") or {}).get("samples_seen") != 0


def _mark_best(rows: list[Row], columns: list[Column]) -> None:
    for col in columns:
        if col.better not in ("lower", "higher"):
            continue
        cands = [
            r.cells[col.key]
            for r in rows
            if not r.reference
            and not r.stale
            and r.cells[col.key].n
            and not (col.key == "nll" and r.like_kind == "density")
            and not r.cells[col.key].note  # a one-solve rate is not a loop's throughput
        ]
        if not cands:
            continue
        pick = min if col.better == "lower" else max
        best = pick(c.mean for c in cands)
        for c in cands:
            c.best = c.mean == best


# -- renderers ----------------------------------------------------------------------------------


def to_rich(board: Board):
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=board.title, caption=escape("\n".join(board.caption)), caption_justify="left"
    )
    table.add_column("model", style="bold")
    table.add_column("code", justify="right")
    for col in board.columns:
        table.add_column(col.header, justify="right")
    if board.show_likelihood:
        table.add_column("likelihood")
    table.add_column("status")
    for i, row in enumerate(board.rows):
        if row.reference and (i == 0 or not board.rows[i - 1].reference):
            table.add_section()
        cells = []
        for col in board.columns:
            c = row.cells[col.key]
            txt = escape(c.text(col.digits, ci=col.better != "none"))
            cells.append(f"[bold green]{txt}[/]" if c.best else (f"≈ {txt}" if c.tied else txt))
        style = "dim" if row.reference else ("red" if not row.ok else None)
        style = "yellow" if row.stale else style
        name = row.display
        status = row.status if row.ok else f"[red]{row.status}[/]"
        like = [row.likelihood or "—"] if board.show_likelihood else []
        table.add_row(
            name,
            str(row.code if row.code is not None else "—"),
            *cells,
            *like,
            status,
            style=style,
        )
    return table


def to_rows(board: Board, bold: tuple[str, str] | None = None) -> tuple[list[str], list[list[str]]]:
    headers = ["model", "code"] + [c.header.replace("\n", " ") for c in board.columns]
    headers += (["likelihood"] if board.show_likelihood else []) + ["status"]
    rows = []
    for row in board.rows:
        cells = []
        for col in board.columns:
            c = row.cells[col.key]
            t = c.text(col.digits, ci=col.better != "none")
            if bold and c.best and c.n:
                t = f"{bold[0]}{t}{bold[1]}"
            elif c.tied and c.n:
                t = f"_{t}_" if bold and bold[0] == "**" else f"≈ {t}"
            cells.append(t)
        name = row.display
        rows.append(
            [
                name,
                "—" if row.code is None else str(row.code),
                *cells,
                *([row.likelihood or "—"] if board.show_likelihood else []),
                row.status,
            ]
        )
    return headers, rows


def export(board: Board, fmt: str) -> str:
    """The board as markdown / github / latex (tabulate) or csv (one column per statistic)."""
    from tabulate import tabulate

    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        head = ["model", "reference", "code", "status", "likelihood"]
        for c in board.columns:
            k = c.key
            head += [f"{k}_mean", f"{k}_lo", f"{k}_hi", f"{k}_n", f"{k}_mark", f"{k}_p_holm"]
            head += [f"{k}_flag"]
        w.writerow(head)
        for row in board.rows:
            line = [row.model, row.reference, row.code, row.status, row.likelihood]
            for c in board.columns:
                cell = row.cells[c.key]
                lo, hi = _bounds(cell)
                line += [cell.mean, lo, hi, cell.n, cell.mark, cell.p, cell.flag]
            w.writerow(line)
        return buf.getvalue()
    styles = {
        "markdown": ("pipe", ("**", "**")),
        "github": ("github", ("**", "**")),
        "latex": ("latex_raw", ("\\textbf{", "}")),
    }
    tablefmt, bold = styles[fmt]
    headers, rows = to_rows(board, bold)
    if fmt == "latex":
        rows = [[_latex_escape(c) if not c.startswith("\\textbf") else c for c in r] for r in rows]
        headers = [_latex_escape(h) for h in headers]
        body = tabulate(rows, headers, tablefmt=tablefmt)
        cap = _latex_escape(" ".join(board.caption))
        return f"% {board.title}\n{body}\n% {cap}\n"
    body = tabulate(rows, headers, tablefmt=tablefmt, disable_numparse=True)
    return f"### {board.title}\n\n{body}\n\n" + "\n".join(f"{c}  " for c in board.caption) + "\n"


def _bounds(cell: Cell) -> tuple[float | None, float | None]:
    """The interval a cell shows, as numbers (the t interval's bounds before significance)."""
    if cell.lo is not None:
        return cell.lo, cell.hi
    if cell.half is not None and cell.mean is not None:
        return cell.mean - cell.half, cell.mean + cell.half
    return None, None


def _latex_escape(s: str) -> str:
    rep = {
        "&": r"\&",
        "%": r"\%",
        "#": r"\#",
        "_": r"\_",
        "±": r"$\pm$",
        "–": "--",
        "≈": r"$\approx$",
        "⚠": r"$^{\dagger}$",
        "‡": r"$^{\ddagger}$",
        "—": "--",
        "↓": r"$\downarrow$",
        "↑": r"$\uparrow$",
        "~": r"\textasciitilde{}",
    }
    return "".join(rep.get(ch, ch) for ch in s)
