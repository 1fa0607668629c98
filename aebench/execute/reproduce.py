"""Reproduction check: re-run published records with today's code and compare every metric.

``python -m aebench.execute.reproduce -p digits-v1 --seeds 0 --against results/records`` re-runs each
published record of the protocol (those seeds, every model) into a scratch directory, with the
record's thread count, and compares every non-timing metric:

- on the machine kind that made the record (the same CPU or GPU model name), exactly: runs are
  deterministic on CPU for a seed, so any difference is a change in what the code computes;
- across machine kinds, within a relative tolerance (``--rtol``, default 5 %): floating-point
  sums run in another order on another CPU, and training amplifies the last bits. Observed:
  conv_ae on digits-v1, seed 0, recon. MSE 0.01919 on an Intel Xeon and 0.01913 on an AMD EPYC
  (0.3 %); the default leaves a margin over that.

A published record that today's code would not reproduce by construction (made by another
implementation, see ``aebench.run.implementation``) fails the check without being re-run.
Exit status 0 when everything matches, 1 otherwise; one line per metric compared.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from aebench.run.metrics import TIMING_METRICS

__all__ = ["compare", "main", "reproduce"]

DEFAULT_RTOL = 0.05


def compare(published: dict[str, Any], fresh: dict[str, Any], rtol: float) -> list[str]:
    """Lines naming every non-timing metric that differs beyond ``rtol`` (0: exactly)."""
    problems = []
    if published["status"] != fresh["status"]:
        return [f"status {published['status']} → {fresh['status']} ({fresh.get('reason')})"]
    old, new = published.get("metrics") or {}, fresh.get("metrics") or {}
    for key in sorted(set(old) | set(new)):
        if key in TIMING_METRICS:
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


def _rel(a: float, b: float) -> str:
    return f"{abs(b - a) / abs(a):.2%} relative" if a else "from zero"


def _published(against: Path, group: str, seeds: set[int] | None, models: set[str] | None):
    from aebench.records import storage

    records, problems = storage.load_records(against / group)
    if problems:
        raise SystemExit("\n".join(problems))
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
    rtol: float = DEFAULT_RTOL,
    out=print,
) -> bool:
    """Re-run and compare; print one line per record; return whether all matched."""
    import torch

    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.registry.loading import load_registry
    from aebench.run import implementation, provenance, runner

    registry = load_registry()
    published = _published(against, group, seeds, models)
    if not published:
        out(f"no published records of {group} in {against} for those seeds and models")
        return False
    device = torch.device("cpu")
    here = provenance.cpu_model()
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
            req = runner.plan(
                registry,
                [rec["model"]["name"]],
                [rec["dataset"]["name"]],
                rec["protocol"]["key"],
                [rec["seed"]],
                config_overrides={rec["model"]["name"]: rec["model"].get("overrides") or {}},
            )[0]
            summary = suite.run_suite(registry, [req], Path(scratch), device, data)
            fresh = summary.done[0]
            same_kind = rec["device"].get("name") == here
            tol = 0.0 if same_kind else rtol
            problems = compare(rec, fresh, tol)
            where = "same machine kind: exact" if same_kind else f"other CPU kind: rtol {tol:g}"
            if problems:
                ok = False
                out(f"FAIL {label} ({where}): " + "; ".join(problems))
            else:
                n = sum(1 for k in rec.get("metrics") or {} if k not in TIMING_METRICS)
                out(f"ok   {label} ({where}): {n} metrics equal")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aebench.execute.reproduce", description=__doc__)
    p.add_argument("-p", "--protocol", required=True, help="the published group, e.g. digits-v1")
    p.add_argument("--against", default="results/records", help="published records directory")
    p.add_argument("--seeds", help="comma-separated seeds (default: every published one)")
    p.add_argument("-m", "--model", help="comma-separated models (default: every published one)")
    p.add_argument("--data-dir", help="data files (default $AEBENCH_DATA or the user cache)")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="across machine kinds")
    args = p.parse_args(argv)
    seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    models = set(args.model.split(",")) if args.model else None
    ok = reproduce(
        Path(args.against),
        args.protocol,
        seeds,
        models,
        Path(args.data_dir) if args.data_dir else None,
        args.rtol,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
