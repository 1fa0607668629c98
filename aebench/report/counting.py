"""What a ranking across boards counts: one board per data set and task, and the rows ranked.

Ranks across boards treat each board as one independent observation of how the rows compare
(Demšar 2006). A data set counted twice, or a row counted twice, inflates the Friedman test:
the same evidence is seen as more of it. The rules here decide, from the boards and their
records alone (no model and no data set known by name, nothing read from the ranks):

Boards (:func:`counted_boards`). Of each protocol the newest version is a candidate (its
superseded versions and ``~`` variants are not: :func:`newest_versions`; a family's members
are not, the family board is). Then

1. a candidate whose scores duplicate an earlier one's (in rule 2's order) is not counted:
   two boards duplicate each other when, of the unsupervised rows with a result on both, at
   least two and more than half have the same headline value on both boards for every seed
   (and family member), to 1e-9 relative. Equal values on every seed do not happen by chance
   on different data: they mean the two protocols hand those models the same examples; a
   protocol change that reaches most models (another budget, other data) leaves at most the
   models it does not reach (a closed-form fit, a constant score) equal, fewer than half.
   Supervised rows are not compared: they are never ranked, and a protocol may change only
   what they train on;
2. of what is left, one board per data set and task: the first in this order — a protocol that
   trains on normal examples only before one that trains on contaminated data
   (``anomaly_train``: the task's usual setting; contamination is a robustness variant of it);
   a family board before a single protocol (its mean takes every class in turn, no class is
   picked); then the shorter protocol name (a longer one qualifies a shorter one), then the
   name. The order is fixed by the protocols, never by the results.

Rows (:func:`unranked_rows`): shown in the summary, not ranked, with the reason —

- supervised rows (trained with labels: an upper reference, not a competitor);
- a reference row whose headline value on every counted board equals another row's (to 1e-9
  relative): a second implementation of the same method would count that method twice. Of a
  set of equal rows a non-reference row is kept, else the first by name.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

from aebench.report.board import Board
from aebench.report.build import records_of

__all__ = ["board_name", "counted_boards", "newest_versions", "unranked_rows"]

#: relative tolerance of "the same value" (float rounding between two runs of the same thing)
_SAME = 1e-9


def board_name(b: Board) -> str:
    return f"{b.dataset}/{b.group}"


def newest_versions(boards: list[Board]) -> list[Board]:
    """One board per data set and protocol name: its newest version. Superseded versions and
    variants (``--budget`` and the like) would count a data set more than once."""
    newest: dict[tuple[str, str], tuple[int, Board]] = {}
    for b in boards:
        m = re.fullmatch(r"(.+)-v(\d+)", b.group)
        if m is None or b.family:  # a variant ("name-vN~fingerprint"); a family's member
            continue
        key, version = (b.dataset, m.group(1)), int(m.group(2))
        if key not in newest or version > newest[key][0]:
            newest[key] = (version, b)
    return [b for _, b in sorted(newest.values(), key=lambda vb: (vb[1].dataset, vb[1].group))]


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_SAME, abs_tol=_SAME)


def _protocol(b: Board, records: list[dict[str, Any]]) -> dict[str, Any]:
    recs = records_of(b, records)
    return recs[0]["protocol"] if recs else {}


def _preference(b: Board, records: list[dict[str, Any]]) -> tuple:
    """Sort key of rule 2: normal-only training, family, shorter name, name."""
    p = _protocol(b, records)
    name = re.sub(r"-v\d+$", "", b.group)
    return (p.get("anomaly_train", "normal") != "normal", not b.members, len(name), name)


def _headline_values(
    b: Board, records: list[dict[str, Any]], metric: str
) -> dict[str, dict[tuple, float]]:
    """Model -> {(member column, seed): headline value} of the unsupervised rows on ``b``."""
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for r in records_of(b, records):
        caps = r["model"].get("capabilities") or {}
        v = (r.get("metrics") or {}).get(metric)
        if not caps.get("supervised") and r["status"] == "ok" and isinstance(v, (int, float)):
            out[r["model"]["name"]][(r["protocol"].get("family_column", ""), r["seed"])] = v
    return dict(out)


def _duplicates(a: dict[str, dict], b: dict[str, dict]) -> bool:
    common = [m for m in a if m in b]
    equal = [
        m
        for m in common
        if a[m].keys() == b[m].keys() and all(_same(a[m][k], b[m][k]) for k in a[m])
    ]
    return len(equal) >= 2 and 2 * len(equal) > len(common)


def counted_boards(
    cands: list[Board], records: list[dict[str, Any]], metric: str
) -> tuple[list[Board], dict[str, str]]:
    """(the boards counted, sorted by name; board name -> why not counted) among ``cands``
    (the newest version of each protocol, :func:`newest_versions`)."""
    order = sorted(cands, key=lambda b: (b.dataset, _preference(b, records)))
    values = {board_name(b): _headline_values(b, records, metric) for b in order}
    used: list[Board] = []
    seen: list[Board] = []
    left: dict[str, str] = {}
    for b in order:
        twin = next(
            (s for s in seen if _duplicates(values[board_name(b)], values[board_name(s)])), None
        )
        seen.append(b)
        if twin is not None:
            left[board_name(b)] = (
                f"most rows' scores equal {board_name(twin)}'s on every seed: a duplicate"
            )
        elif any(u.dataset == b.dataset for u in used):
            first = next(u for u in used if u.dataset == b.dataset)
            left[board_name(b)] = f"{board_name(first)} counts data set {b.dataset}"
        else:
            used.append(b)
    return sorted(used, key=board_name), left


def unranked_rows(
    values: dict[str, dict[str, float]],
    models: list[str],
    references: set[str],
    supervised: set[str],
) -> dict[str, str]:
    """Row -> why it is shown but not ranked, among ``models`` (``values``: board name -> row
    -> headline value on the counted boards). The one place that decides which rows are
    rankable beyond having a value on every board."""
    out = {m: "supervised: trained with labels" for m in models if m in supervised}
    boards = sorted(values)
    kept: list[str] = []
    for m in sorted(models, key=lambda m: (m in references, m)):
        if m in out:
            continue
        twin = next(
            (k for k in kept if all(_same(values[b][m], values[b][k]) for b in boards)), None
        )
        if twin is not None and m in references:
            out[m] = f"the same value as {twin} on every board (a duplicate reference)"
        else:
            kept.append(m)
    return out
