"""How far a model's results carry across CPU kinds: the committed table of measured
cross-kind differences (``results/reproducibility.json``) and what follows from it.

On one CPU kind (see :func:`aebench.run.provenance.cpu_kind`) a seed's run repeats bit for
bit. On another, sums run in another order and training amplifies the last bits, by an amount
that depends on the model; so the tolerance ``aebench reproduce`` allows across kinds is the
difference measured for that model between two kinds that both ran it, never a guess. A model
the table lacks is *unmeasured across CPU kinds*.

The table::

    {"useful_rtol": 0.05,
     "models": {"<model>": {"kinds": ["<kind A>", "<kind B>"], "protocol": "digits-v1",
                            "seeds": [0], "metric": "recon_mse", "max_rel_diff": 0.003,
                            "tolerance": 0.005}},
     "kernel_sensitivity": {"models": {"<model>": [{"protocol": ..., "seeds": [...],
                                                   "metric": ..., "max_rel_diff": ...}]}},
     ...}  (other keys are notes for people: what was checked, on which kinds)

``kernel_sensitivity`` is not a tolerance: one chip with only its vector kernels switched
(``ATEN_CPU_CAPABILITY`` and the like). It only feeds :func:`reproducibility_note`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aebench
from aebench.errors import AebenchError

__all__ = [
    "TABLE_NAME",
    "UNKNOWN_KIND",
    "UNMEASURED",
    "default_table_path",
    "load_table",
    "measurement",
    "record_cpu_kind",
    "reproducibility_note",
    "useful_rtol",
]

TABLE_NAME = "reproducibility.json"
UNKNOWN_KIND = "unknown"
UNMEASURED = "unmeasured across CPU kinds"
#: beyond this a re-run on another CPU kind cannot tell apart models that the boards separate
#: by a few percent; a table may set its own ``useful_rtol``
_USEFUL_RTOL = 0.05


def default_table_path(records_dir: Path | None = None) -> Path:
    """The table beside a records directory (``results/records`` → ``results/``), else the
    checkout's ``results/`` (an installed wheel has none: every model is then unmeasured)."""
    if records_dir is not None:
        return Path(records_dir).parent / TABLE_NAME
    return Path(aebench.__file__).resolve().parent.parent / "results" / TABLE_NAME


def load_table(path: Path | None = None) -> dict[str, Any]:
    """The table at ``path`` (default :func:`default_table_path`); a missing file is an empty
    table (every model unmeasured), an unreadable one an error."""
    path = Path(path) if path is not None else default_table_path()
    if not path.is_file():
        return {"models": {}}
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AebenchError(f"{path}: not a reproducibility table ({e})") from None
    if not isinstance(table.get("models"), dict):
        raise AebenchError(f"{path}: a reproducibility table needs a 'models' object")
    return table


def _table(table: Mapping[str, Any] | Path | None) -> Mapping[str, Any]:
    return table if isinstance(table, Mapping) else load_table(table)


def measurement(model: str, table: Mapping[str, Any] | Path | None = None) -> dict | None:
    """The model's measured cross-kind difference and tolerance, or None where unmeasured."""
    entry = _table(table)["models"].get(model)
    return dict(entry) if entry else None


def useful_rtol(table: Mapping[str, Any] | Path | None = None) -> float:
    return float(_table(table).get("useful_rtol", _USEFUL_RTOL))


def record_cpu_kind(record: Mapping[str, Any]) -> str:
    """The CPU kind a record was made on; records made before kinds were recorded (they name
    only a brand, such as "AMD EPYC") are ``unknown``. A CUDA record's kind is its GPU."""
    device = record.get("device") or {}
    if device.get("type") == "cuda":
        return f"CUDA {device.get('name') or '?'}"
    return device.get("cpu_kind") or UNKNOWN_KIND


def reproducibility_note(
    model_name: str, table: Mapping[str, Any] | Path | None = None
) -> str | None:
    """A line for the model's rows where it cannot be reproduced across CPU kinds within a
    useful tolerance, else None: measured between two kinds (``models``), or already by
    switching only the vector kernels on one chip (``kernel_sensitivity``: if that moves a
    metric beyond the useful tolerance, so can another CPU kind). A model with neither gets
    None: the table says nothing about it, and a board's caption says so once."""
    tab = _table(table)
    limit = useful_rtol(tab)
    m = measurement(model_name, tab)
    if m is not None and (float(m["tolerance"]) > limit or not m.get("reproducible", True)):
        kinds = " and ".join(m.get("kinds") or ["two CPU kinds"])
        return (
            f"not reproducible across CPU kinds within {limit:.0%}: "
            f"{m.get('metric', 'a metric')} differed by {float(m['max_rel_diff']):.1%} between "
            f"{kinds} ({m.get('protocol', '?')}, seed(s) {_seeds(m)})"
        )
    sensitive = [
        e
        for e in (tab.get("kernel_sensitivity") or {}).get("models", {}).get(model_name, [])
        if float(e["max_rel_diff"]) > limit
    ]
    if sensitive:
        e = max(sensitive, key=lambda e: float(e["max_rel_diff"]))
        return (
            f"not reproducible across CPU kinds within {limit:.0%}: switching only the vector "
            f"kernels on one CPU moved {e.get('metric', 'a metric')} by "
            f"{float(e['max_rel_diff']):.1%} ({e.get('protocol', '?')}, seed(s) {_seeds(e)})"
        )
    return None


def _seeds(entry: Mapping[str, Any]) -> str:
    return ", ".join(map(str, entry.get("seeds") or [])) or "?"
