"""Reproduction check: re-run published records with today's code and compare every metric.

``aebench reproduce -p digits-v1 --seeds 0 --against results/records`` re-runs each
published record of the protocol (those seeds, every model) into a scratch directory, with the
record's thread count, and compares every non-timing metric:

- on the CPU kind that made the record (the same model, family and vector kernels, see
  :func:`aebench.run.provenance.cpu_kind`), exactly: runs are deterministic on CPU for a seed
  and thread count, so any difference is a change in what the code computes;
- across CPU kinds, or where the record predates kinds (it names only a brand, "AMD EPYC"):
  equal bits still pass; otherwise each model gets the tolerance measured for it between two
  kinds in the committed table (:mod:`aebench.run.reproducibility`). A model the table lacks
  is "unmeasured across CPU kinds" and fails where it differs, unless ``--rtol`` supplies a
  tolerance for such models (the line says it came from the command line).

A published record that today's code would not reproduce by construction (made by another
implementation, see ``aebench.run.implementation``) fails the check without being re-run.
Exit status 0 when everything matches, 1 otherwise; one line per record compared.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError
from aebench.run.metrics import is_timing

__all__ = ["compare", "reproduce", "verdict"]


def compare(published: dict[str, Any], fresh: dict[str, Any], rtol: float) -> list[str]:
    """Lines naming every non-timing metric that differs beyond ``rtol`` (0: exactly)."""
    problems = []
    if published["status"] != fresh["status"]:
        return [f"status {published['status']} → {fresh['status']} ({fresh.get('reason')})"]
    old, new = published.get("metrics") or {}, fresh.get("metrics") or {}
    for key in sorted(set(old) | set(new)):
        if is_timing(key):
            continue
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            if a != b:
                problems.append(f"{key}: {a} → {b}")
            continue
        same = a == b if rtol == 0 else math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)
        if not same:
            problems.append(f"{key}: {a!r} → {b!r} ({_rel(a, b)})")
    return problems


def verdict(
    published: dict[str, Any],
    fresh: dict[str, Any],
    here: str,
    table: dict[str, Any],
    rtol: float | None = None,
) -> tuple[bool, str]:
    """Whether ``fresh`` (made on CPU kind ``here``) reproduces ``published``, and the line's
    rest: exact on the record's kind; across kinds, equal bits or the table's tolerance."""
    from aebench.run import reproducibility

    kind = reproducibility.record_cpu_kind(published)
    n = sum(1 for k in published.get("metrics") or {} if not is_timing(k))
    diffs = compare(published, fresh, 0.0)
    if kind == here:
        if diffs:
            return False, "(same CPU kind: exact): " + "; ".join(diffs)
        return True, f"(same CPU kind: exact): {n} metrics equal"
    if kind == reproducibility.UNKNOWN_KIND:
        name = (published.get("device") or {}).get("name")
        kind = f"unknown (it names only {name!r})"
    where = f"record's CPU kind {kind}; here {here}"
    if not diffs:  # equal bits pass on any kind; only a difference needs a tolerance
        return True, f"({where}): {n} metrics equal bit for bit"
    model = published["model"]["name"]
    m = reproducibility.measurement(model, table)
    note = reproducibility.reproducibility_note(model, table)
    note = f"; {note}" if note else ""
    if m is not None:
        tol = float(m["tolerance"])
        how = (
            f"rtol {tol:g} measured for {model}: {float(m['max_rel_diff']):.2%} between "
            + " and ".join(m.get("kinds") or ["two kinds"])
            + note
        )
    elif rtol is not None:
        tol = rtol
        how = f"rtol {rtol:g} from --rtol; {model} is {reproducibility.UNMEASURED}{note}"
    else:
        unmeasured = f"{model} is {reproducibility.UNMEASURED}{note}"
        return False, f"({where}; {unmeasured}): " + "; ".join(diffs)
    problems = compare(published, fresh, tol)
    if problems:
        return False, f"({where}; {how}): " + "; ".join(problems)
    return True, f"({where}; {how}): {n} metrics within it"


def _rel(a: float, b: float) -> str:
    return f"{abs(b - a) / abs(a):.2%} relative" if a else "from zero"


def _published(against: Path, group: str, seeds: set[int] | None, models: set[str] | None):
    from aebench.records import storage

    records, problems = storage.load_records(against / group)
    if problems:
        raise AebenchError(f"{against / group}: unreadable records: " + "; ".join(problems))
    return [
        r
        for r in records
        if r["group"] == group
        and (seeds is None or r["seed"] in seeds)
        and (models is None or r["model"]["name"] in models)
    ]


def reproduce(
    against: Path,
    group: str,
    seeds: set[int] | None = None,
    models: set[str] | None = None,
    data_dir: Path | None = None,
    rtol: float | None = None,
    out=print,
    table_path: Path | None = None,
) -> bool:
    """Re-run and compare; print one line per record; return whether all matched.

    ``rtol`` is the tolerance for models unmeasured across CPU kinds (None: they must be
    equal); ``table_path`` the measured table (default: beside ``against``).
    """
    import torch

    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.registry.loading import load_registry
    from aebench.run import grid, implementation, provenance, reproducibility, runner

    registry = load_registry()
    published = _published(against, group, seeds, models)
    if not published:
        out(f"no published records of {group} in {against} for those seeds and models")
        return False
    device = torch.device("cpu")
    here = provenance.cpu_info()["kind"]
    table_path = table_path or reproducibility.default_table_path(against)
    table = reproducibility.load_table(table_path)
    measured = ", ".join(sorted(table["models"])) or "none"
    out(f"this CPU kind: {here}; models measured across CPU kinds ({table_path}): {measured}")
    data = runner.DataCache(registry, default_data_dir(data_dir), False, device)
    ok = True
    with tempfile.TemporaryDirectory(prefix="aebench-reproduce-") as scratch:
        for rec in sorted(published, key=lambda r: (r["model"]["name"], r["seed"])):
            label = f"{rec['model']['name']} seed {rec['seed']}"
            stale = implementation.staleness(rec, registry)
            if stale:
                out(f"FAIL {label}: {stale}")
                ok = False
                continue
            torch.set_num_threads(int(rec["device"].get("threads") or 1))
            req = grid.plan(
                registry,
                [rec["model"]["name"]],
                [rec["dataset"]["name"]],
                rec["protocol"]["key"],
                [rec["seed"]],
                config_overrides={rec["model"]["name"]: rec["model"].get("overrides") or {}},
            )[0]
            summary = suite.run_suite(registry, [req], Path(scratch), device, data)
            fresh = summary.done[0]
            passed, line = verdict(rec, fresh, here, table, rtol)
            ok = ok and passed
            out(f"{'ok  ' if passed else 'FAIL'} {label} {line}")
    return ok
