"""``aebench tune``: its arguments and what the command does with them (light to import: the
CLI builds its parser from here; the work is imported when the command runs)."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="give every model the same number of trials, chosen on validation data, then "
        "run each model's best configuration as a tuned board",
    )
    common.common_options(p)
    p.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="NAME",
        help="model(s) to tune (repeatable or comma-separated; default: every model under "
        "comparison, not the reference rows)",
    )
    p.add_argument("-d", "--dataset", metavar="NAME", help="data set (default: the protocol's)")
    p.add_argument("-p", "--protocol", metavar="NAME", help="protocol name or name-vN")
    p.add_argument(
        "--trials",
        type=int,
        required=True,
        metavar="N",
        help="trials per model, the same for every model (a study continues up to N)",
    )
    p.add_argument(
        "--sampler",
        default="random",
        choices=["random", "tpe"],
        help="Optuna sampler (default random: its expected-best curve is exact)",
    )
    p.add_argument(
        "--criterion",
        metavar="NAME",
        help="validation figure to choose by (default: the task's label-free one, "
        "val-recon-mse or val-normal-recon; val-normal-score is a variant; val-auroc USES "
        "validation labels)",
    )
    p.add_argument(
        "--trial-budget",
        type=int,
        metavar="SAMPLES",
        help="train each trial on this many samples instead of the protocol's budget "
        "(the tuned board still uses the protocol's)",
    )
    p.add_argument(
        "--no-board", action="store_true", help="run the trials only, not the tuned board"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-trial lines")
    common.results_dir_option(p)
    common.execution_options(p)
    p.set_defaults(func=run)


class _Printer:
    """One line per study opened and per trial told (stderr, like the run progress)."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet, self.err = quiet, Console(stderr=True, highlight=False, soft_wrap=True)

    def opened(self, model: str, path, done: int, todo: int) -> None:
        if path is None:
            self.err.print(f"{model}: no search space: tuned over nothing (defaults)")
        else:
            self.err.print(f"{model}: study {path}: {done} trial(s) done, {todo} to run")

    def trial(self, model: str, trial: Any, attrs: dict[str, Any]) -> None:
        if self.quiet:
            return
        params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(trial.params.items()))
        if attrs["status"] == "ok":
            what = f"{attrs['value']:.6g}"
        else:
            what = f"[red]{attrs['status']}[/]: {attrs.get('reason')}"
        wall = (attrs.get("time") or {}).get("wall_s")
        secs = f" {wall:.1f} s" if wall else ""
        self.err.print(f"{model} trial {trial.number}: {what} ({params}){secs}")


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _parallel(args: argparse.Namespace, executor: Any) -> int:
    """How many trials can run at once (what a TPE round asks for)."""
    if args.jobs:
        return args.jobs
    if args.cluster and args.cluster.startswith("local:"):
        return int(args.cluster.partition(":")[2])
    client = getattr(executor, "client", None)
    return max(1, len(client.scheduler_info().get("workers", {}))) if client else 1


def run(args: argparse.Namespace) -> int:
    from aebench.cli.progress import RichReporter
    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.records import storage
    from aebench.run import runner
    from aebench.run.provenance import resolve_device
    from aebench.tuning import tune

    registry = common.load_plugins(args)
    common.set_threads(args)
    p = tune.plan(
        registry,
        common.split(args.model),
        args.dataset,
        args.protocol,
        args.trials,
        args.sampler,
        args.criterion,
        args.trial_budget,
    )
    device = resolve_device(args.device)
    results_dir = storage.default_results_dir(args.results_dir)
    storage.check_writable(results_dir)
    data = runner.DataCache(registry, default_data_dir(args.data_dir), not args.no_download, device)
    executor = common.make_executor(args, registry, device, data)
    printer = _Printer(args.quiet)
    try:
        with executor:
            tune.open_studies(p, results_dir, printer)
            tune.run_trials(p, executor, _parallel(args, executor), printer)
            if args.no_board:
                return 0
            reporter = RichReporter(quiet=args.quiet)
            summary = suite.run_suite(
                registry,
                tune.board_requests(p, results_dir),
                results_dir,
                device,
                data,
                reporter=reporter,
                executor=executor,
            )
    except KeyboardInterrupt:
        printer.err.print("[yellow]interrupted[/]: every finished trial is kept; run it again")
        return common.EXIT_INTERRUPTED
    finally:
        p.close()
    reporter.summary(summary, results_dir)
    _show(results_dir, [p.protocol.key, tune.tuned_group(p)], p.dataset, registry)
    return 0


def _show(results_dir, groups: list[str], dataset: str, registry) -> None:
    """The defaults board (when it was run) and the tuned board, one after the other, with
    the statistics ``aebench show`` gives them (bootstrap intervals, Holm marks, flags)."""
    from aebench.cli.show import print_boards

    print_boards(results_dir, groups, {dataset}, registry=registry)  # a group not run: no board
