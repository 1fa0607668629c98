"""The examples a board's NLL column covers: every row over the same test examples.

A protocol names the examples each run evaluates (:mod:`aebench.run.nll_examples`); records
written before it did, or by an estimator with its own limit, cover different ones. On a board,
:func:`align` finds the examples every row of a (split, seed) unit was evaluated on and
recomputes each row's NLL over those from its stored per-example values. That makes boards of
records written before the field existed honest too: on mnist-v1 the VAE's IWAE covers the
first 1,000 test images (``iwae_examples``), every other model all 10,000. :func:`caption` says
which examples the column covers.

The contract that makes the index of a value known: an estimator that evaluates fewer examples
than it is given (IWAE under ``iwae_examples``) evaluates the first ones.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aebench.records import artifacts

__all__ = ["Alignment", "align", "caption", "covered", "on_common"]


def _headline(record: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in (record.get("likelihood") or {}).values() if e.get("headline")), None)


def covered(record: dict[str, Any], arrays: dict[str, np.ndarray] | None = None):
    """Indices into the test split of the record's headline NLL values; None if they can only
    be read from arrays that are not given (or not there)."""
    head = _headline(record)
    if head is None:
        return None
    n, n_test = int(head["n_examples"]), record["dataset"].get("n_test")
    if n == n_test:
        return np.arange(n)
    if record.get("likelihood_examples") is None:
        # written before the harness recorded the set: its only source of fewer values was an
        # estimator's own limit, which takes the first examples
        return np.arange(n)
    if arrays is not None and "nll_index" in arrays:
        return np.asarray(arrays["nll_index"], dtype=np.int64)
    return None


def _unit(record: dict[str, Any]) -> int:
    """The test split a record was evaluated on (its split seed)."""
    return int(record["dataset"].get("split_seed", record["protocol"].get("split_seed", 0)))


@dataclass
class Alignment:
    """The examples a board's NLL column covers, per test split (keyed by split seed)."""

    common: dict[int, np.ndarray]
    n_test: dict[int, int]
    #: models whose NLL was recomputed over fewer examples than their record's own figure
    recomputed: list[str] = field(default_factory=list)
    #: models whose NLL is not shown: their values on the common examples are not stored
    missing: list[str] = field(default_factory=list)
    #: models whose own examples are exactly the common ones (what the caption names them by)
    limiting: list[str] = field(default_factory=list)

    def label(self) -> str:
        """What the column header says: how many test examples every model's NLL covers."""
        sizes = sorted({len(c) for c in self.common.values()})
        n = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,}–{sizes[-1]:,}"
        return f"{n} test examples"


def align(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Alignment | None]:
    """``records`` with every NLL over the examples all of its unit's rows cover.

    A record whose own examples are more than the common ones gets a copy whose ``nll`` is the
    mean of its stored per-example values there (``nll_own_examples`` keeps its own figure);
    one whose values cannot be read gets ``nll`` None. Returns the records and the alignment
    (None when no record has a likelihood).
    """
    like = [r for r in records if r["status"] == "ok" and _headline(r) is not None]
    if not like:
        return records, None
    arrays: dict[int, dict[str, np.ndarray] | None] = {}

    def stored(r: dict[str, Any]) -> dict[str, np.ndarray] | None:
        if id(r) not in arrays:
            arrays[id(r)] = artifacts.of_record(r)
        return arrays[id(r)]

    def own_set(r: dict[str, Any]) -> np.ndarray | None:
        idx = covered(r)
        return idx if idx is not None else covered(r, stored(r))

    sets = {id(r): own_set(r) for r in like}
    by_unit: dict[int, list[np.ndarray]] = {}
    n_test: dict[int, int] = {}
    for r in like:
        if sets[id(r)] is not None:
            by_unit.setdefault(_unit(r), []).append(sets[id(r)])
            n_test[_unit(r)] = int(r["dataset"].get("n_test") or len(sets[id(r)]))
    common = {u: functools.reduce(np.intersect1d, s) for u, s in by_unit.items()}
    result = Alignment(common, n_test)
    out = []
    for r in records:
        if id(r) not in sets:
            out.append(r)
            continue
        own, com = sets[id(r)], common.get(_unit(r))
        name = r["model"]["name"]
        if own is not None and com is not None and len(own) == len(com):
            if len(com) < n_test[_unit(r)] and name not in result.limiting:
                result.limiting.append(name)
            out.append(r)
            continue
        values = on_common(r, stored(r), result)
        r = copy.copy(r)
        r["metrics"] = dict(r["metrics"], nll_own_examples=r["metrics"].get("nll"))
        r["metrics"]["nll"] = None if values is None else float(values.mean())
        _note(result.missing if values is None else result.recomputed, name)
        out.append(r)
    return out, result


def on_common(
    record: dict[str, Any], arrays: dict[str, np.ndarray] | None, al: Alignment
) -> np.ndarray | None:
    """The record's per-example NLL (float64) over its test split's common examples, in index
    order, so two records' values pair example by example; None if they are not stored."""
    own, com = covered(record, arrays), al.common.get(_unit(record))
    values = (arrays or {}).get("nll")
    if own is None or com is None or values is None or len(values) != len(own):
        return None
    return values[np.isin(own, com)].astype(np.float64)


def _note(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def caption(al: Alignment | None) -> list[str]:
    """The caption line that says which examples the NLL column covers (none when all)."""
    if al is None or not al.common:
        return []
    if all(len(c) == al.n_test[u] for u, c in al.common.items()) and not al.missing:
        return [f"NLL: every model over all {al.label()} of the test split."]
    first = all(np.array_equal(c, np.arange(len(c))) for c in al.common.values())
    which = (
        f"the first ones of the test split, as {', '.join(sorted(al.limiting))} covered only those"
        if first and al.limiting
        else "the protocol's seeded stratified subset of the test split"
        if not al.recomputed
        else "those every model was evaluated on"
    )
    per = " per test split" if len(al.common) > 1 else ""
    line = f"NLL: every model over the same {al.label()}{per} ({which})."
    if al.recomputed:
        line += (
            f" {', '.join(sorted(al.recomputed))}: recomputed over these from the stored "
            "per-example values (the figure over the model's own examples is in its record)."
        )
    if al.missing:
        line += (
            f" {', '.join(sorted(al.missing))}: not shown, their values on these examples are "
            "not stored."
        )
    return [line]
