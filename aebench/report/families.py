"""Family boards: the headline metric of every protocol of a family, side by side.

A data set may define a family of protocols (``Protocol.family``), such as the one-class
protocols where each class in turn is the normal class. Every member is an ordinary protocol
with its own records and board (every metric); the family board sets the members' headline
metric side by side, one column per member (headed by its ``family_column``), and adds their
mean: per seed, the mean over the members (for a seed that every member has), then the mean
over seeds. Built here with Student-t intervals over seeds; published with the member boards'
hierarchical bootstrap (:func:`aebench.report.significance.annotate_family`: each member
column's interval from its board's, the mean's from the same bootstrap of the family mean,
marks from its paired differences). The literature's one-class tables read the
same way (Ruff et al. 2018, Table 1: one row per normal class).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from typing import Any

from aebench.records.groups import Staleness
from aebench.report import gate
from aebench.report.board import Board, Cell, Column, Row, metric_column
from aebench.report.rows import (
    STALE_NOTE,
    build_row,
    current_records,
    mark_best,
    records_by_row,
    seeds_not_run,
    seeds_note,
)
from aebench.run.metrics import METRICS
from aebench.stats.intervals import mean_ci

__all__ = ["HEADLINE", "SEED_T_LINE", "family_boards"]

#: the metric a family board shows for each task (the one the summary ranks by)
HEADLINE = {"reconstruction": "recon_mse", "anomaly": "anomaly.auroc"}
#: the interval line of a family board as built (Student t over seeds); the intervals and marks
#: of :func:`aebench.report.significance.annotate_family` replace it
SEED_T_LINE = "Mean ± 95% CI over seeds (Student t); best per column in bold."
#: protocol fields that differ between the members of one family
_MEMBER_FIELDS = ("name", "key", "fingerprint", "family_column", "description", "params")


def family_boards(
    records: list[dict[str, Any]],
    group: str | None = None,
    stale: Staleness | None = None,
) -> list[Board]:
    """One board per family (and variant of it) and data set among ``records``.

    ``group`` keeps only the family called so (``name-vN``) and its variants; ``stale`` marks
    rows as ``aebench.report.build.build_boards`` does (their stale records left out of the cells).
    """
    by_family: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        family = r["protocol"].get("family")
        if not family:
            continue
        label = family if "~" not in r["group"] else f"{family}~{_shared(r)}"
        if group is not None and group != family and not label.startswith(group + "~"):
            continue
        by_family[(label, r["dataset"]["name"])].append(r)
    return [
        _board(label, dataset, recs, stale) for (label, dataset), recs in sorted(by_family.items())
    ]


def _shared(record: dict[str, Any]) -> str:
    """A short hash of what the members of one variant of a family have in common: the
    protocol but for what differs per member, and what the variant overrides."""
    common = {k: v for k, v in record["protocol"].items() if k not in _MEMBER_FIELDS}
    variant = {k: v for k, v in (record.get("variant") or {}).items() if k != "of"}
    blob = json.dumps([common, variant], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _natural(text: str) -> list[Any]:
    """Sort key that puts "c2" before "c10"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _board(label: str, dataset: str, recs: list[dict[str, Any]], stale: Staleness | None) -> Board:
    metric = HEADLINE[recs[0]["protocol"].get("task", "reconstruction")]
    spec = METRICS[metric]
    heads = {r["group"]: (r["protocol"]["name"], r["protocol"].get("family_column")) for r in recs}
    members = sorted(heads, key=lambda g: _natural(heads[g][0]))
    mean = metric_column(metric)
    mean.header = f"mean {mean.header}"
    columns = [Column(g, heads[g][1] or heads[g][0], spec.better, spec.digits) for g in members]
    columns.append(mean)  # keyed by the metric itself: the summary ranks families by it
    by_model = records_by_row(recs, by_config=stale is None)  # as the protocol boards'
    rows = [_row(name, rs, members, metric, stale) for name, rs in sorted(by_model.items())]
    rows.sort(key=lambda r: (r.reference, not r.ok, r.model))
    base, labels = gate.baselines(recs), {g: heads[g][1] or heads[g][0] for g in members}
    for row in rows:  # the learning gate of each member column (aebench.report.gate)
        gate.family_row(row, current_records(by_model[row.model], stale)[0], labels, base)
    mark_best(rows, columns)
    caption = _caption(label, recs, members, spec.label)
    caption += gate.caption(rows, gate.gate_ratio(recs), tuple(members))
    lacking = _lacking(by_model, members, heads)
    if lacking:
        caption.append(seeds_note(lacking))
    if any(r.stale for r in rows):
        caption.append(STALE_NOTE)
    return Board(
        label,
        dataset,
        f"{dataset} · {label}",
        caption,
        columns,
        rows,
        show_likelihood=False,
        members=tuple(members),
    )


def _lacking(
    by_model: dict[str, list[dict[str, Any]]],
    members: list[str],
    heads: dict[str, tuple[str, str | None]],
) -> dict[str, str]:
    """Row name -> the member columns it lacks protocol seeds in, and which ("c3: 2; c7: all");
    a row with no record in a column lacks all of that column's seeds."""
    out = {}
    for name, rs in by_model.items():
        parts = []
        for g in members:
            mine = [r for r in rs if r["group"] == g]
            lack = seeds_not_run(mine) if mine else None
            if lack is None or lack:
                seeds = "all" if lack is None else ", ".join(map(str, lack))
                parts.append(f"{heads[g][1] or heads[g][0]}: {seeds}")
        if parts:
            out[name] = "; ".join(parts)
    return out


def _row(
    name: str,
    rs: list[dict[str, Any]],
    members: list[str],
    metric: str,
    stale: Staleness | None,
) -> Row:
    row = build_row(name, rs, [], stale)  # status, code, reference and stale marks
    values: dict[str, dict[int, float]] = defaultdict(dict)
    for r in current_records(rs, stale)[0]:
        v = (r.get("metrics") or {}).get(metric)
        if r["status"] == "ok" and isinstance(v, (int, float)):
            values[r["group"]][r["seed"]] = float(v)
    for g in members:
        m, half, n = mean_ci(list(values[g].values()))
        row.cells[g] = Cell(m if n else None, half, n)
    seeds = set.intersection(*(set(values[g]) for g in members)) if members else set()
    per_seed = [sum(values[g][s] for g in members) / len(members) for s in sorted(seeds)]
    m, half, n = mean_ci(per_seed)
    row.cells[metric] = Cell(m if n else None, half, n)
    return row


def _caption(label: str, recs: list[dict[str, Any]], members: list[str], what: str) -> list[str]:
    p, d = recs[0]["protocol"], recs[0]["dataset"]
    common = (p.get("description") or "").split(";")[0]
    plural = "s" if len(members) > 1 else ""
    lines = [
        f"Protocol family {label}: {len(members)} protocol{plural}, one per column ({common}); "
        f"each column is one protocol's {what}, its own board has every metric; the mean column "
        "averages the columns per seed (only seeds every column has)"
        + (" — a VARIANT of the published protocols" if "~" in label else "")
        + f"; code size {p['code_size']}, budget {p['budget_samples']:,} samples, "
        f"batch {p['batch_size']}.",
    ]
    canonical = all(r["dataset"].get("canonical") for r in recs)
    notes = sorted({r["dataset"].get("canonical_note") or "" for r in recs} - {""})
    note = f" — {'; '.join(notes)}" if notes else ""
    lines.append(
        f"Data: {d['name']}, {'canonical' if canonical else 'NON-CANONICAL'} files{note}; "
        f"train {d.get('n_train', '?'):,}, test {d.get('n_test', '?'):,}."
    )
    devices = sorted({f"{r['device'].get('name')} ({r['device']['type']})" for r in recs})
    seeds = sorted({r["seed"] for r in recs})
    lines.append(f"Seeds {seeds}; device: {', '.join(devices)}.")
    lines.append(SEED_T_LINE)
    return lines
