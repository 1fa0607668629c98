"""``aebench run``: models × data sets × seeds under a protocol, recorded, then the
leaderboard of what was run."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError
from aebench.protocol import PRECISIONS

__all__ = ["add_parser", "parse_protocol_sets", "parse_seeds", "parse_sets", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run models × data sets × seeds and show the leaderboard")
    common.common_options(p)
    p.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="NAME",
        help="model(s) to run (repeatable or comma-separated; default: all)",
    )
    p.add_argument(
        "-d",
        "--dataset",
        action="append",
        metavar="NAME",
        help="data set(s) (default: the offline default data set), or a path to your own files",
    )
    p.add_argument("--data-option", action="append", metavar="K=V", help="for -d PATH (README)")
    p.add_argument("-p", "--protocol", metavar="NAME", help=common.PROTOCOL_HELP)
    p.add_argument("--seeds", metavar="LIST", help="comma-separated seeds (default: protocol's)")
    common.results_dir_option(p)
    common.execution_options(p)
    p.add_argument("--force", action="store_true", help="rerun runs that already have a record")
    p.add_argument(
        "--budget",
        type=int,
        metavar="SAMPLES",
        help="override the training budget: the runs form a protocol VARIANT",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="training precision (bf16 autocast, meant for CUDA): the runs form a VARIANT",
    )
    p.add_argument(
        "--protocol-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a protocol field (repeatable), e.g. val_curve_points=10: a VARIANT",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help="override a model config field (repeatable); recorded in the run",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` as a list; None when not given (the protocol's seeds)."""
    if not text:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise AebenchError(f"--seeds {text!r}: expected integers like 0,1,2") from None
    if any(s < 0 for s in seeds):  # a seed seeds NumPy too, which takes none below zero
        raise AebenchError(f"--seeds {text!r}: seeds are non-negative integers, e.g. 0,1,2")
    return seeds


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set MODEL.FIELD=VALUE`` items as {model: {field: value}} (values as Python literals
    where they parse, else strings)."""
    import ast

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, fld = key.partition(".")
        if not sep or not dot or not model or not fld:
            raise AebenchError(f"--set {item!r}: expected MODEL.FIELD=VALUE, e.g. rbm.k=5")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(model, {})[fld] = value
    return out


#: a protocol field's annotation -> the Python types a command-line value may take
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "int | None": (int, type(None)),
}
#: what names the protocol a variant is of: changed, it would be another protocol
_IDENTITY = ("name", "version", "dataset")


def parse_protocol_sets(items: list[str]) -> dict[str, Any]:
    """``--protocol-set FIELD=VALUE`` items as {field: value}, each value checked against the
    field's type (Python literals where they parse, else strings); the protocol's own checks
    see the values when the variant is made."""
    import ast
    import dataclasses

    from aebench.protocol import Protocol

    fields = {f.name: f.type for f in dataclasses.fields(Protocol)}
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise AebenchError(f"--protocol-set {item!r}: expected FIELD=VALUE, e.g. lr=3e-4")
        if name not in fields or name in _IDENTITY:
            raise AebenchError(f"--protocol-set {item!r}: no protocol field {name!r} to set")
        allowed = _FIELD_TYPES.get(str(fields[name]))
        if allowed is None:
            raise AebenchError(f"--protocol-set {item!r}: {name} is not set from the command line")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        if isinstance(value, bool) != (bool in allowed) or not isinstance(value, allowed):
            want = " or ".join(t.__name__ for t in allowed)
            raise AebenchError(f"--protocol-set {item!r}: {name} takes {want} values")
        out[name] = float(value) if float in allowed else value
    return out


def run(args: argparse.Namespace) -> int:
    from aebench.cli.progress import RichReporter
    from aebench.cli.show import print_boards
    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.records import storage
    from aebench.run import grid, runner
    from aebench.run.provenance import resolve_device

    registry = common.load_plugins(args)
    common.set_threads(args)
    seeds = parse_seeds(args.seeds)
    overrides = {"budget_samples": args.budget} if args.budget else {}
    if args.precision:
        overrides["precision"] = args.precision
    overrides.update(parse_protocol_sets(args.protocol_set))
    if args.budget is not None and args.budget <= 0:
        raise AebenchError("--budget must be a positive number of training samples")
    datasets, protocol = registry.resolve(
        common.split(args.dataset), args.protocol, args.data_option
    )
    requests = grid.plan(
        registry,
        common.split(args.model),
        datasets,
        protocol,
        seeds,
        overrides,
        parse_sets(args.set),
    )
    device = resolve_device(args.device)
    results_dir = storage.default_results_dir(args.results_dir)
    data = runner.DataCache(registry, default_data_dir(args.data_dir), not args.no_download, device)
    executor = common.make_executor(args, registry, device, data)
    reporter = RichReporter(quiet=args.quiet)
    try:
        with executor:
            summary = suite.run_suite(
                registry,
                requests,
                results_dir,
                device,
                data,
                force=args.force,
                reporter=reporter,
                executor=executor,
            )
    except KeyboardInterrupt:
        reporter.interrupted(results_dir)
        return common.EXIT_INTERRUPTED
    reporter.summary(summary, results_dir)
    groups = sorted({r.group for r in requests} | {r.protocol.family for r in requests} - {""})
    print_boards(results_dir, groups, datasets={r.dataset for r in requests}, registry=registry)
    return 0
