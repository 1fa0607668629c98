"""Rich progress for a suite: one bar for the runs, one for the steps of the current run."""

from __future__ import annotations

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

from aebench.runner import Reporter, RunRequest, SuiteSummary

_STYLE = {"ok": "green", "failed": "red", "diverged": "magenta", "not-applicable": "yellow"}


class RichReporter(Reporter):
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.progress: Progress | None = None
        self.current: RunRequest | None = None

    def start(self, total: int) -> None:
        if self.quiet:
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.suite_task = self.progress.add_task("runs", total=total)
        self.run_task = self.progress.add_task("", total=1, visible=False)

    def begin(self, req: RunRequest, index: int) -> None:
        self.current = req
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
        self.current = None
        status = record["status"]
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

    def interrupted(self) -> None:
        cur = f" during {self.current.label}; that run was not recorded" if self.current else ""
        self.console.print(f"[yellow]interrupted[/]{cur}; every finished run is kept")

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
