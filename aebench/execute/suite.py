"""The suite: run every request not yet recorded, writing each record as it arrives.

Where runs execute is the executor's business (``aebench.execute.executors``); this module owns what
reaches the results directory, and in what order: arrays first, then the record, atomically.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aebench.errors import AebenchError, AebenchWarning, one_line
from aebench.records import artifacts, storage
from aebench.registry.entries import Registry
from aebench.run import implementation, saved
from aebench.run.runner import DataCache, RunRequest

__all__ = ["Reporter", "SuiteSummary", "run_suite"]


@dataclass
class SuiteSummary:
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[RunRequest] = field(default_factory=list)
    interrupted: RunRequest | None = None
    #: plugin name -> how many records its ``aebench_run_recorded`` raised on
    plugin_failures: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.done if r["status"] == status)


class Reporter:
    """What the suite tells its user; the CLI draws it with Rich, tests stay silent."""

    def start(self, total: int) -> None: ...
    def begin(self, req: RunRequest, index: int) -> None: ...
    def step(self, done: int, total: int, phase: str = "training") -> None: ...
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
    trackers: dict[str, str] | None = None,
) -> SuiteSummary:
    """Run every request not already complete; each finished record is written at once.

    ``executor`` (see ``aebench.execute.executors``) decides where runs execute; by default one
    after another in this process. A model's failure becomes its record; Ctrl-C stops after writing
    nothing for the runs in progress (``summary.interrupted`` names one) and re-raises.

    With ``trackers`` (``aebench run``: the tracker options of its command line, maybe none)
    each record written is handed to the plugins' ``aebench_run_recorded`` once it is on disk,
    and records whose plugins a killed suite did not finish telling are handed again first;
    without it (tuning trials, reproduction checks) no plugin hears of the runs.
    """
    from aebench.execute.executors import InlineExecutor

    executor = executor or InlineExecutor(registry, device, data)
    reporter = reporter or Reporter()
    storage.check_writable(results_dir)
    storage.sweep_temporaries(results_dir)
    summary = SuiteSummary()
    tell = _Teller(registry, trackers, summary) if trackers is not None else None
    if tell is not None:
        tell.pending(results_dir)
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
                if tell is not None:
                    tell.mark(path)
                if outcome.weights is not None:  # like the arrays: first, and in the record
                    _write_weights(path, record, outcome.weights)
                if arrays:  # written first: a record on disk always has its arrays beside it
                    record["arrays_sha256"] = artifacts.write(artifacts.sidecar(path), arrays)
                storage.write_record(path, record)
            except OSError as exc:  # a full disk, say: stop, keeping every record written
                if tell is not None:
                    tell.unmark(path)  # no record: nothing for a later suite to tell
                raise AebenchError(
                    f"cannot write the record {path} ({exc.strerror or exc}); the "
                    f"{len(summary.done)} run(s) recorded before it are kept"
                ) from None
            summary.done.append(record)
            reporter.end(req, record)
            if tell is not None:
                tell.recorded(path)
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
    for beside in (artifacts.sidecar(path), saved.sidecar(path)):
        if beside.exists():
            storage.set_aside(beside, f"superseded-{old}")
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


def _write_weights(path: Path, record: dict[str, Any], weights: bytes) -> None:
    target = saved.sidecar(path)
    storage.atomic_write(target, weights)
    record["saved_model"].update(file=target.name, sha256=hashlib.sha256(weights).hexdigest())


#: beside a record whose plugins are being told of it: ``.seed-N.hooks-pending``
_PENDING = ".hooks-pending"


class _Teller:
    """Hands each record written to the plugins' ``aebench_run_recorded``, reporting a plugin
    that raises once per suite (the record is on disk already and stays as it is).

    A marker (holding the writer's pid) is written before the record and removed once every
    plugin has been told, so a suite killed in between leaves it; the next suite on the
    directory tells the plugins of that record again before anything else, and the plugins
    (told to be idempotent) finish what they had begun instead of starting twice.
    """

    def __init__(self, registry: Registry, options: dict[str, str], summary: SuiteSummary):
        hooks = getattr(registry, "hooks", None)
        self.impls = list(reversed(hooks.aebench_run_recorded.get_hookimpls())) if hooks else []
        self.options, self.summary = dict(options), summary

    @staticmethod
    def _marker(path: Path) -> Path:
        return path.with_name(f".{path.stem}{_PENDING}")

    def mark(self, path: Path) -> None:
        if self.impls:
            storage.atomic_write(self._marker(path), str(os.getpid()))

    def unmark(self, path: Path) -> None:
        """Drop the marker of a record that could not be written (there is nothing to tell)."""
        try:
            self._marker(path).unlink(missing_ok=True)
        except OSError:
            pass  # an unwritable directory: the next suite finds no record and drops it then

    def pending(self, results_dir: Path) -> None:
        """Tell the plugins of each record a killed suite had not finished telling them of."""
        if not self.impls or not results_dir.exists():
            return  # the markers wait for a suite that has the plugins to tell
        for marker in sorted(results_dir.rglob(f".*{_PENDING}")):
            if _writer_alive(marker):
                continue  # another live suite is telling its plugins of it now
            path = marker.with_name(marker.name[1 : -len(_PENDING)] + ".json")
            if storage.is_complete(path):
                self.recorded(path)
            else:  # killed before its record was written: the run is repeated, then told
                marker.unlink(missing_ok=True)

    def recorded(self, path: Path) -> None:
        if not self.impls:
            return
        arrays = artifacts.sidecar(path)
        kwargs = {
            "record": storage.read_record(path),  # as stored: what a tracker should see
            "record_path": path,
            "arrays_path": arrays if arrays.exists() else None,
            "options": dict(self.options),
        }
        for impl in self.impls:
            try:
                impl.function(**{a: kwargs[a] for a in impl.argnames})
            except (Exception, SystemExit) as exc:
                failures = self.summary.plugin_failures
                failures[impl.plugin_name] = failures.get(impl.plugin_name, 0) + 1
                if failures[impl.plugin_name] == 1:
                    warnings.warn(
                        f"plugin {impl.plugin_name!r} failed on the record {path} "
                        f"({one_line(exc)}); the record is kept as written, and the plugin's "
                        "further failures in this suite are not reported",
                        AebenchWarning,
                        stacklevel=2,
                    )
        self._marker(path).unlink(missing_ok=True)


def _writer_alive(marker: Path) -> bool:
    try:
        pid = int(marker.read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False  # ours: a suite earlier in this process that was stopped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    return True
