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
        help="give every model the same budget of training samples (successive halving, chosen "
        "at the protocol's budget on validation data), then run each model's choice as a "
        "tuned board",
    )
    common.common_options(p)
    p.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="NAME",
        help="model(s) to tune (repeatable or comma-separated; default: every model under "
        "comparison, not the reference rows nor the named variants)",
    )
    p.add_argument("-d", "--dataset", metavar="NAME", help="data set (default: the protocol's)")
    p.add_argument("-p", "--protocol", metavar="NAME", help="protocol name or name-vN")
    p.add_argument(
        "--budget",
        required=True,
        metavar="SAMPLES",
        help="training samples per model, every run of its study together (e.g. 600000, 600k, "
        "or 20x: twenty times the protocol's budget); the same for every model",
    )
    p.add_argument(
        "--eta",
        type=int,
        default=3,
        help="successive halving: each rung keeps the best 1/ETA (default 3)",
    )
    p.add_argument(
        "--rungs",
        type=int,
        default=3,
        help="budgets budget/ETA^(RUNGS-1), ..., budget/ETA, the protocol's budget (default 3)",
    )
    p.add_argument(
        "--top-seeds",
        type=int,
        default=2,
        metavar="N",
        help="validation seeds at the top rung, the protocol's first N (default 2)",
    )
    p.add_argument(
        "--sampler",
        default="random",
        choices=["random", "tpe"],
        help="Optuna sampler of new configurations (default random)",
    )
    p.add_argument(
        "--criterion",
        metavar="NAME",
        help="validation figure to choose by (default: the task's label-free one, "
        "val-recon-mse or val-normal-recon; val-normal-score is a variant; val-auroc USES "
        "validation labels)",
    )
    p.add_argument(
        "--seeds", metavar="LIST", help="the tuned board's seeds (default: the protocol's)"
    )
    p.add_argument(
        "--show-defaults",
        action="store_true",
        help="print the defaults board too (when it was run in this results directory)",
    )
    p.add_argument(
        "--no-board", action="store_true", help="run the studies only, not the tuned board"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-run lines")
    common.results_dir_option(p)
    common.execution_options(p)
    p.set_defaults(func=run)


class _Printer:
    """One line per study opened and per run told (stderr, like the run progress)."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet, self.err = quiet, Console(stderr=True, highlight=False, soft_wrap=True)

    def opened(self, model: str, path, state) -> None:
        if path is None:
            self.err.print(f"{model}: no search space: tuned over nothing (defaults)")
            return
        done = len(state.runs) + state.invalid
        what = "complete" if state.done else f"{len(state.todo)} run(s) next"
        self.err.print(f"{model}: study {path}: {done} run(s) done, {what}")

    def run(self, model: str, trial: Any, attrs: dict[str, Any]) -> None:
        if self.quiet:
            return
        a = trial.user_attrs
        params = ", ".join(f"{k}={_short(v)}" for k, v in a.get("overrides") or ())
        if attrs["status"] == "ok":
            what = f"{attrs['value']:.6g}"
        else:
            what = f"[red]{attrs['status']}[/]: {attrs.get('reason')}"
        wall = (attrs.get("time") or {}).get("wall_s")
        secs = f" {wall:.1f} s" if wall else ""
        where = f"rung {a['rung']} ({a['budget']:,} samples, seed {a['seed']})"
        config = params or "defaults"
        self.err.print(f"{model} config {a['config']} {where}: {what} ({config}){secs}")


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
    import time

    from aebench.cli.progress import RichReporter
    from aebench.cli.run import parse_seeds
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
        args.budget,
        args.sampler,
        args.criterion,
        args.eta,
        args.rungs,
        args.top_seeds,
        parse_seeds(args.seeds),
    )
    device = resolve_device(args.device)
    results_dir = storage.default_results_dir(args.results_dir)
    storage.check_writable(results_dir)
    data = runner.DataCache(registry, default_data_dir(args.data_dir), not args.no_download, device)
    executor = common.make_executor(args, registry, device, data)
    printer = _Printer(args.quiet)
    try:
        with executor:
            tune.open_studies(p, results_dir, printer)  # a file that is not this study: refused
            printer.err.print(
                f"{p.protocol.key}: {p.bracket.total:,} training samples per model; "
                f"{p.bracket.describe()}"
            )
            t0 = time.monotonic()
            tune.run_studies(p, executor, _parallel(args, executor), printer)
            studies_s = time.monotonic() - t0
            if args.no_board:
                printer.err.print(f"studies: {studies_s:.0f} s")
                return 0
            reporter = RichReporter(quiet=args.quiet)
            t0 = time.monotonic()
            summary = suite.run_suite(
                registry,
                tune.board_requests(p, results_dir),
                results_dir,
                device,
                data,
                reporter=reporter,
                executor=executor,
            )
            board_s = time.monotonic() - t0
    except KeyboardInterrupt:
        printer.err.print("[yellow]interrupted[/]: every finished run is kept; run it again")
        return common.EXIT_INTERRUPTED
    finally:
        p.close()
    reporter.summary(summary, results_dir)
    printer.err.print(f"wall time: studies {studies_s:.0f} s, tuned board {board_s:.0f} s")
    _show(results_dir, p, tune.tuned_group(p), registry, args.show_defaults)
    return 0


def _show(results_dir, p: Any, group: str, registry: Any, show_defaults: bool) -> None:
    """What the command was asked for: the tuned board of the models and seeds it ran (a row
    or seed it was not asked for is not "missing"), a defaults → tuned line per model, and the
    defaults board only with ``--show-defaults``."""
    from aebench.records import merge
    from aebench.records.groups import is_reference
    from aebench.report.build import build_boards
    from aebench.report.formats import to_rich
    from aebench.report.publication import mark_significance
    from aebench.report.tuning import comparison_lines

    records, problems = merge.load([results_dir])
    for line in problems:
        common.warn(f"skipped {line}")
    asked = {m.entry.name for m in p.models}
    defaults = p.protocol.key
    kept = []
    for r in records:
        if r["dataset"]["name"] != p.dataset or r.get("group") not in (group, defaults):
            continue
        if r["group"] == group:
            if r["model"]["name"] not in asked or r["seed"] not in p.board_seeds:
                continue
            r = {**r, "protocol": {**r["protocol"], "seeds": list(p.board_seeds)}}
        elif r["model"]["name"] not in asked and not is_reference(r):
            continue  # the defaults board's reference rows stay: the learning gate reads them
        kept.append(r)
    stale = common.stale(registry)
    out = common.wide_console()
    for g in ([defaults] if show_defaults else []) + [group]:
        for b in build_boards(kept, g, stale):
            if b.group != g:
                continue
            mark_significance(b, kept, stale=stale)
            out.print(to_rich(b))
    tuned = [r for r in kept if r["group"] == group]
    for line in comparison_lines(tuned, [r for r in records if r.get("group") == defaults]):
        out.print(line, highlight=False)
