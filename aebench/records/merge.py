"""Several results directories read as one: a plugin author's runs beside the published ones.

``aebench show --results-dir results/records --results-dir my-runs -p sms-spam-v3`` puts the
author's model on the published board without retraining the built-ins. The records of all the
directories form one list, so every board, interval, mark and rank treats merged rows exactly as
if they had been run together (the per-example arrays are found beside each record, wherever it
lives). What makes that honest is checked here, before anything is shown:

- Rows share a board only when their protocol fingerprints are equal and their data files are
  the same bytes. A record of the same protocol key whose protocol or data differs from the
  board's is refused with one line naming the first field that differs (it is not what the
  board measured).
- A run (model, config, seed) present in two directories is refused rather than counted twice
  or silently dropped: keep one.

Speed is another matter: a throughput measured on another machine, thread count or software
version does not compare, while the quality columns do. ``foreign`` names, for each record, how
its environment differs from its board's reference (the environment most of the board's records
from the first directory holding that board share); boards mark those rows' speed cells.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError
from aebench.records import storage

__all__ = ["environment", "foreign", "load"]


def load(dirs: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable record of ``dirs`` (one line per skipped file), refused where a record
    cannot share its board with the others (see the module docstring). Each record's
    in-memory ``_foreign`` says how its environment differs from its board's reference."""
    if len(dirs) > 1:
        for d in dirs:
            if not d.is_dir():
                raise AebenchError(f"--results-dir {d}: no such directory; pass an existing one")
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, d in enumerate(dirs):
        recs, probs = storage.load_records(d)
        for r in recs:
            r["_source"] = i
        records += recs
        problems += probs
    if len(dirs) > 1:
        _check_boards(records)
    for r, why in zip(records, foreign(records)):
        r["_foreign"] = why
    return records, problems


def _board_key(r: dict[str, Any]) -> tuple[str, str]:
    return r["group"], r["dataset"]["name"]


def _check_boards(records: list[dict[str, Any]]) -> None:
    first: dict[tuple[str, str], dict[str, Any]] = {}
    runs: dict[tuple, dict[str, Any]] = {}
    for r in records:
        key = _board_key(r)
        ref = first.setdefault(key, r)
        if r["_source"] != ref["_source"]:
            field = _protocol_difference(ref, r) or _data_difference(ref, r)
            if field:
                raise AebenchError(
                    f"{r['_path']}: cannot share board {key[0]} ({key[1]}) with "
                    f"{ref['_path']}: {field} differs; rerun it under today's protocol or "
                    "leave its --results-dir out"
                )
        run = (*key, r["model"]["name"], _config(r), r["seed"])
        other = runs.setdefault(run, r)
        if other is not r and other["_source"] != r["_source"]:
            raise AebenchError(
                f"{r['_path']} and {other['_path']}: the same run ({run[2]} seed {run[4]} on "
                f"{key[0]}, {key[1]}) twice; keep one of them"
            )


def _config(r: dict[str, Any]) -> str:
    return json.dumps(r["model"].get("config"), sort_keys=True)


def _protocol_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    pa, pb = a["protocol"], b["protocol"]
    if pa.get("fingerprint") == pb.get("fingerprint"):
        return None
    for k in sorted(set(pa) | set(pb)):
        if k != "fingerprint" and pa.get(k) != pb.get(k):
            return f"protocol field {k!r} ({pb.get(k)!r}, not {pa.get(k)!r})"
    return f"protocol fingerprint ({pb.get('fingerprint')}, not {pa.get('fingerprint')})"


def _data_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    fa, fb = a["dataset"].get("files") or {}, b["dataset"].get("files") or {}
    for name in sorted(set(fa) | set(fb)):
        ha, hb = (fa.get(name) or {}).get("sha256"), (fb.get(name) or {}).get("sha256")
        if ha != hb:
            return f"data file {name!r} (sha256 {str(hb)[:12]}, not {str(ha)[:12]})"
    return None


def environment(r: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """What a speed figure depends on: the machine, its thread count, the software versions."""
    dev, sw = r.get("device") or {}, r.get("software") or {}
    return (
        ("device", f"{dev.get('type', '?')} {dev.get('name') or sw.get('cpu') or '?'}"),
        ("threads", str(dev.get("threads", "?"))),
        ("torch", str(sw.get("torch", "?"))),
        ("aebench", str(sw.get("aebench", "?"))),
    )


def foreign(records: list[dict[str, Any]]) -> list[str | None]:
    """For each record, how its environment differs from its board's reference ("device cpu
    Intel Xeon, not cpu AMD EPYC"), or None where it is the reference's."""
    by_board: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_board[_board_key(r)].append(r)
    reference = {}
    for key, recs in by_board.items():
        home = min(r.get("_source", 0) for r in recs)
        envs = Counter(environment(r) for r in recs if r.get("_source", 0) == home)
        # the most common environment; a tie goes to the one that sorts first (deterministic)
        reference[key] = max(sorted(envs), key=lambda e: envs[e])
    out: list[str | None] = []
    for r in records:
        ref, env = dict(reference[_board_key(r)]), environment(r)
        diff = [f"{k} {v}, not {ref[k]}" for k, v in env if ref[k] != v]
        out.append("; ".join(diff) or None)
    return out
