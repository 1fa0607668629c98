"""Rich progress for a suite: one bar for the runs, one for the steps of the current run."""

from __future__ import annotations

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

    def start(self, total: int) -> None:
        self.total = total
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
        if self.progress:
            self.progress.reset(
                self.run_task,
                total=1,
                visible=True,
                description=f"  {req.model} · {req.dataset} · seed {req.seed}",
            )

    def step(self, done: int, total: int) -> None:
        if self.progress:
            self.progress.update(self.run_task, completed=done, total=total)

    def end(self, req: RunRequest, record: dict[str, Any]) -> None:
        if req in self.running:
            self.running.remove(req)
        status = record["status"]
        self.finished.append((req, status))
        reason = f": {record['reason']}" if record.get("reason") else ""
        line = f"[{_STYLE.get(status, 'white')}]{status}[/] {req.label}{reason}"
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
