"""Stored records as a pandas DataFrame: one row per run, for your own analysis.

:func:`load_results` reads one or more results directories (merged as ``show`` merges them,
:mod:`aebench.records.merge`) and flattens each record into a row: which run it is (protocol,
data set, model, config fingerprint, seed), how it ended (status, reason), every metric the
record holds (one column each, ``NaN`` where a run has none), its timings and the provenance a
reader most often needs (versions, commit, device, implementation fingerprint). The record's
fields are described in ``docs/record-schema.md``; the full record stays available as a
dict in the ``record`` column when asked for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["ID_COLUMNS", "config_fingerprint", "load_results", "records_frame"]

#: the columns that say which run a row is, first in every frame
ID_COLUMNS = ("group", "protocol", "protocol_fingerprint", "dataset", "model", "config", "seed")


def config_fingerprint(config: Any) -> str:
    """A short hash of a model config as recorded (equal configs, equal fingerprints): the
    same hash a board appends to a model's row name when it ran with several configs."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:6]


def _row(r: dict[str, Any], with_record: bool) -> dict[str, Any]:
    p, d, m = r.get("protocol") or {}, r.get("dataset") or {}, r.get("model") or {}
    sw, dev, t = r.get("software") or {}, r.get("device") or {}, r.get("training") or {}
    row: dict[str, Any] = {
        "group": r.get("group"),
        "protocol": p.get("key"),
        "protocol_fingerprint": p.get("fingerprint"),
        "dataset": d.get("name"),
        "model": m.get("name"),
        "config": config_fingerprint(m.get("config")),
        "seed": r.get("seed"),
        "status": r.get("status"),
        "reason": r.get("reason"),
        "task": p.get("task", "reconstruction"),
        "variant": bool(r.get("variant")),
        "started": r.get("started"),
        "finished": r.get("finished"),
        "code_size": t.get("code_size"),
        "samples_seen": t.get("samples_seen"),
        "learned": (r.get("learning") or {}).get("learned"),
        "implementation": (m.get("implementation") or {}).get("fingerprint"),
        "aebench": sw.get("aebench"),
        "git_commit": sw.get("git_commit"),
        "torch": sw.get("torch"),
        "device": dev.get("name"),
        "device_type": dev.get("type"),
        "threads": dev.get("threads"),
        "run_id": r.get("run_id"),
    }
    for key, value in (r.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row[key] = float(value)
    if with_record:
        row["record"] = r
    return row


def records_frame(records: list[dict[str, Any]], with_record: bool = False) -> Any:
    """``records`` (as :func:`aebench.records.merge.load` gives them) as a DataFrame, one row
    per run in the order group, data set, model, seed; ``with_record``: the record itself in
    a last column."""
    import pandas as pd

    rows = [_row(r, with_record) for r in records]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*ID_COLUMNS, "status"])
    frame = frame.sort_values(["group", "dataset", "model", "config", "seed"], kind="stable")
    return frame.reset_index(drop=True)


def load_results(*results_dirs: str | Path, with_record: bool = False) -> Any:
    """Every run recorded in ``results_dirs`` (default: ``$AEBENCH_RESULTS`` or
    ``./aebench-runs``) as a pandas DataFrame, one row per run; files that are not readable
    records are skipped with a warning, as ``show`` skips them."""
    import warnings

    from aebench.errors import AebenchWarning
    from aebench.records import merge, storage

    dirs = [storage.default_results_dir(str(d)) for d in results_dirs] or [
        storage.default_results_dir(None)
    ]
    records, problems = merge.load(dirs)
    for problem in problems:
        warnings.warn(f"skipped {problem}", AebenchWarning, stacklevel=2)
    return records_frame(records, with_record)
