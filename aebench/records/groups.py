"""Record groups: which protocol versions a newer one supersedes, and which rows are references.

A record's ``group`` is its protocol's ``name-vN`` (a variant adds ``~fingerprint``). These rules
read records alone; the boards (:mod:`aebench.report.build`), the storage rule for arrays
(:func:`aebench.records.artifacts.drop_superseded`) and tuning all apply the same ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["Staleness", "is_reference", "superseded"]

#: why a record is not what today's code computes (None: it is); see aebench.run.implementation
Staleness = Callable[[dict[str, Any]], "str | None"]


def is_reference(record: dict[str, Any]) -> bool:
    """A reference row (tagged so, or trained with labels), not a model under comparison."""
    caps = record["model"].get("capabilities") or {}
    return "reference" in record["model"].get("tags", []) or bool(caps.get("supervised"))


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
    only the first seed's (the figures) are stored
    (:func:`aebench.records.artifacts.drop_superseded`)."""
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
