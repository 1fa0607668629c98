"""The suite: run every request not yet recorded, writing each record as it arrives.

Where runs execute is the executor's business (``aebench.execute.executors``); this module owns what
reaches the results directory, and in what order: arrays first, then the record, atomically.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aebench.errors import AebenchError, AebenchWarning
from aebench.records import artifacts, storage
from aebench.registry.entries import Registry
from aebench.run import implementation
from aebench.run.runner import DataCache, RunRequest

__all__ = ["Reporter", "SuiteSummary", "run_suite"]


@dataclass
class SuiteSummary:
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[RunRequest] = field(default_factory=list)
    interrupted: RunRequest | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.done if r["status"] == status)


class Reporter:
    """What the suite tells its user; the CLI draws it with Rich, tests stay silent."""

    def start(self, total: int) -> None: ...
    def begin(self, req: RunRequest, index: int) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def end(self, req: RunRequest, record: dict[str, Any]) -> None: ...
    def skip(self, req: RunRequest) -> None: ...
    def stop(self) -> None: ...


def run_suite(
    registry: Registry,
    requests: list[RunRequest],
    results_dir: Path,
    device: torch.device,
    data: DataCache,
    force: bool = False,
    reporter: Reporter | None = None,
    executor: Any = None,
) -> SuiteSummary:
    """Run every request not already complete; each finished record is written at once.

    ``executor`` (see ``aebench.execute.executors``) decides where runs execute; by default one
    after another in this process. A model's failure becomes its record; Ctrl-C stops after writing
    nothing for the runs in progress (``summary.interrupted`` names one) and re-raises.
    """
    from aebench.execute.executors import InlineExecutor

    executor = executor or InlineExecutor(registry, device, data)
    reporter = reporter or Reporter()
    storage.check_writable(results_dir)
    storage.sweep_temporaries(results_dir)
    summary = SuiteSummary()
    todo = []
    for req in requests:
        path = req.path(results_dir)
        if storage.left_alone(path):
            summary.skipped.append(req)
            reporter.skip(req)
        elif not force and _recorded(path, executor.run_timeout):
            if _supersede_stale(registry, path):
                todo.append(req)
            else:
                summary.skipped.append(req)
                reporter.skip(req)
        else:
            todo.append(req)
    storage.check_writable(results_dir, [req.path(results_dir) for req in todo])
    storage.set_aside_unreadable([req.path(results_dir) for req in todo])
    reporter.start(len(todo))
    order = iter(range(len(todo)))
    runs = executor.run(todo, lambda req: reporter.begin(req, next(order)), reporter.step)
    try:
        for req, outcome in runs:
            path, record, arrays = req.path(results_dir), outcome.record, outcome.arrays
            try:
                if arrays:  # written first: a record on disk always has its arrays beside it
                    record["arrays_sha256"] = artifacts.write(artifacts.sidecar(path), arrays)
                storage.write_record(path, record)
            except OSError as exc:  # a full disk, say: stop, keeping every record written
                raise AebenchError(
                    f"cannot write the record {path} ({exc.strerror or exc}); the "
                    f"{len(summary.done)} run(s) recorded before it are kept"
                ) from None
            summary.done.append(record)
            reporter.end(req, record)
    except KeyboardInterrupt:
        summary.interrupted = executor.in_flight[0] if executor.in_flight else None
        raise
    finally:
        runs.close()
        reporter.stop()
    return summary


def _supersede_stale(registry: Registry, path: Path) -> bool:
    """A complete record made by another implementation of the model than today's is not
    done: it is kept aside (``seed-N.json.superseded-<fingerprint>``, its arrays likewise),
    never overwritten, and the run is repeated. Returns whether it was set aside."""
    rec = storage.read_record(path)
    reason = implementation.staleness(rec, registry)
    if reason is None or rec["model"].get("name") not in registry.models:
        return False
    old = (rec["model"].get("implementation") or {}).get("fingerprint", "unrecorded")
    kept = storage.set_aside(path, f"superseded-{old}")
    arrays = artifacts.sidecar(path)
    if arrays.exists():
        storage.set_aside(arrays, f"superseded-{old}")
    warnings.warn(
        f"{path}: {reason}; kept as {kept.name} and rerun",
        AebenchWarning,
        stacklevel=3,
    )
    return True


def _recorded(path: Path, run_timeout: float | None) -> bool:
    """Whether a resumed suite skips this run: complete, or stopped at a limit no larger."""
    if storage.is_complete(path):
        return True
    if not path.exists():
        return False
    try:
        rec = storage.read_record(path)
    except AebenchError:
        return False
    if rec["status"] != "timeout":
        return False
    # a timeout is rerun only under a larger limit (or --force): no limit would never end
    return run_timeout is None or run_timeout <= (rec.get("run_timeout_s") or 0)
