"""Progress for a suite: on a terminal, one bar for the runs and one for the current run's
phase (training steps, then validation, the likelihood estimate with its settings, anomaly
scoring, pictures: each named as it begins); piped to a file or another program, one line per
finished run with a count and an estimate of the time left.

Updates come from the training loop once an epoch (outside the step) and from a run host at
most five times a second, so drawing them never slows training."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from aebench.execute.suite import Reporter, SuiteSummary
from aebench.run.runner import RunRequest

#: finished runs named one by one in the message after Ctrl-C (then a count)
_NAMED = 10
_STYLE = {
    "ok": "green",
    "failed": "red",
    "diverged": "magenta",
    "not-applicable": "yellow",
    "timeout": "red",
}


class RichReporter(Reporter):
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.progress: Progress | None = None
        #: runs begun and not yet ended, runs ended, and how many runs this suite has to do
        self.running: list[RunRequest] = []
        self.finished: list[tuple[RunRequest, str]] = []
        self.total = 0
        self.started = time.monotonic()
        self.begun: dict[int, float] = {}  # by id(): a request holds dicts, so no hash
        self.phase = ""

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        if self.quiet or not self.console.is_terminal:  # a log gets the lines, not the bars
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,  # what stays: a line per finished run, then the summary
        )
        self.progress.start()
        self.suite_task = self.progress.add_task("runs", total=total)
        self.run_task = self.progress.add_task("", total=1, visible=False)

    def begin(self, req: RunRequest, index: int) -> None:
        self.running.append(req)
        self.begun[id(req)] = time.monotonic()
        self.phase = ""
        if self.progress:
            self.progress.reset(
                self.run_task,
                total=1,
                visible=True,
                description=self._label(req, "starting"),
            )

    def _label(self, req: RunRequest | None, phase: str) -> str:
        who = f"{req.model} · {req.dataset} · seed {req.seed}" if req else "run"
        return f"  {who} · {phase}"

    def step(self, done: int, total: int, phase: str = "training") -> None:
        """A run's progress: ``done`` of ``total`` steps of ``phase`` (0 of 0: a phase whose
        length is not known, shown as a pulsing bar)."""
        if not self.progress:
            return
        req = self.running[-1] if len(self.running) == 1 else None
        if phase != self.phase:  # a new bar: its own length, or none known (a pulsing bar)
            self.phase = phase
            self.progress.remove_task(self.run_task)
            self.run_task = self.progress.add_task(
                self._label(req, phase), total=total or None, completed=done
            )
        else:
            self.progress.update(self.run_task, completed=done, total=total or None)

    def eta(self) -> str:
        """The time left at the pace so far (runs finished / time since the first began)."""
        n = len(self.finished)
        left = self.total - n
        if not n or left <= 0:
            return ""
        per_run = (time.monotonic() - self.started) / n
        return f"; about {_duration(per_run * left)} left"

    def end(self, req: RunRequest, record: dict[str, Any]) -> None:
        if req in self.running:
            self.running.remove(req)
        status = record["status"]
        self.finished.append((req, status))
        reason = f": {record['reason']}" if record.get("reason") else ""
        took = time.monotonic() - self.begun.pop(id(req), time.monotonic())
        count = f"[{len(self.finished)}/{self.total}] "
        line = f"{count}[{_STYLE.get(status, 'white')}]{status}[/] {req.label}{reason}"
        line += f" · {_duration(took)}{self.eta()}"
        if self.progress:
            self.progress.advance(self.suite_task)
            self.progress.console.print(line, highlight=False, soft_wrap=True)
        elif not self.quiet or status != "ok":
            self.console.print(line, highlight=False, soft_wrap=True)

    def skip(self, req: RunRequest) -> None:
        pass

    def stop(self) -> None:
        if self.progress:
            self.progress.update(self.run_task, visible=False)
            self.progress.stop()
            self.progress = None

    def interrupted(self, results_dir: Path) -> None:
        """What Ctrl-C stopped, what had finished (its records are kept), and what is left."""
        for req in self.running:
            self.console.print(
                f"[yellow]interrupted[/] during {req.label}: not recorded; it runs again next time",
                highlight=False,
                soft_wrap=True,
            )
        if not self.running:
            self.console.print("[yellow]interrupted[/]", highlight=False)
        statuses = Counter(status for _, status in self.finished)
        counts = ", ".join(f"{n} {st}" for st, n in statuses.items())
        names = ", ".join(
            f"{r.model} on {r.dataset} seed {r.seed}" for r, _ in self.finished[:_NAMED]
        )
        more = f" and {len(self.finished) - _NAMED} more" if len(self.finished) > _NAMED else ""
        self.console.print(
            f"{len(self.finished)} run(s) finished before the interrupt"
            f"{f' ({counts}): {names}{more}' if self.finished else ''}; records in {results_dir}; "
            f"{self.total - len(self.finished)} run(s) left: the same command runs them and "
            "skips what is recorded",
            highlight=False,
            soft_wrap=True,
        )

    def summary(self, s: SuiteSummary, results_dir: Path) -> None:
        counts = ", ".join(
            f"{n} {st}"
            for st in ("ok", "failed", "diverged", "not-applicable", "timeout")
            if (n := s.count(st))
        )
        skipped = (
            f"; {len(s.skipped)} already recorded (skipped; --force reruns)" if s.skipped else ""
        )
        self.console.print(
            f"{len(s.done)} run(s): {counts or 'none'}{skipped}; records in {results_dir}",
            highlight=False,
        )


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min``, ``1 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
