"""``aebench run``: models × data sets × seeds under a protocol, recorded, then the
leaderboard of what was run."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from aebench.cli import common
from aebench.errors import AebenchError
from aebench.protocol import PRECISIONS
from aebench.run.presets import PRESETS

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
        type=_budget,
        metavar="SAMPLES",
        help="override the training budget: the runs form a protocol VARIANT ('quick': --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: small training budget and small likelihood estimates (IWAE k, AIS "
        "chains), a VARIANT marked QUICK on its board (README: --quick)",
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
    research_options(p)
    p.set_defaults(func=run, run_parser=p)


def research_options(p: argparse.ArgumentParser) -> None:
    """Run files, saved models and experiment trackers (README: Research workflow)."""
    p.add_argument("--config", metavar="FILE", help="read the run's options from a TOML run file")
    p.add_argument(
        "--print-config", action="store_true", help="print this command's run file; run nothing"
    )
    p.add_argument(
        "--save-models",
        action="store_true",
        help="keep each run's trained model beside its record (safetensors; aebench.load_model)",
    )
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="log each run to MLflow (or $AEBENCH_MLFLOW=1); pip install 'aebench[mlflow]'",
    )
    p.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking URI (implies --mlflow)")


def _budget(text: str) -> int | str:
    """``--budget``: a number of training samples, or ``quick`` (the ``--quick`` preset)."""
    if text.strip().lower() == "quick":
        return "quick"
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of training samples: give one (e.g. 5000), or use "
            "--quick (or --budget quick) for a smoke test with small evaluation settings too"
        ) from None


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
    from aebench.cli import config
    from aebench.cli.progress import RichReporter
    from aebench.cli.show import print_boards
    from aebench.dataset import default_data_dir
    from aebench.execute import suite
    from aebench.records import storage
    from aebench.run import grid, runner
    from aebench.run.provenance import resolve_device

    if args.config:
        config.apply(args, args.run_parser, args.config)
    if args.print_config:
        print(config.render(args, args.run_parser), end="")
        return 0
    registry = common.load_plugins(args)
    trackers = _trackers(args, registry)
    common.set_threads(args)
    seeds = parse_seeds(args.seeds)
    if args.budget == "quick":  # --budget quick is --quick
        args.budget, args.quick = None, True
    overrides = dict(PRESETS["quick"]) if getattr(args, "quick", False) else {}
    if args.budget:  # given with --quick, the budget asked for wins
        overrides["budget_samples"] = args.budget
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
    if args.save_models:
        requests = [dataclasses.replace(r, save_model=True) for r in requests]
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
                trackers=trackers,
            )
    except KeyboardInterrupt:
        reporter.interrupted(results_dir)
        return common.EXIT_INTERRUPTED
    reporter.summary(summary, results_dir)
    groups = sorted({r.group for r in requests} | {r.protocol.family for r in requests} - {""})
    print_boards(
        results_dir,
        groups,
        datasets={r.dataset for r in requests},
        registry=registry,
        asked_seeds=seeds,
    )
    return 0


def _trackers(args: argparse.Namespace, registry: Any) -> dict[str, str]:
    """What the command line asks of tracker plugins (``aebench_run_recorded``'s options);
    ``--mlflow`` fails here, before any training, where its plugin or MLflow is missing."""
    import importlib.util

    options = {}
    if args.mlflow or args.mlflow_uri:
        options["mlflow"] = "1"
        if args.mlflow_uri:
            options["mlflow_uri"] = args.mlflow_uri
        if "mlflow" not in registry.plugins:
            raise AebenchError(
                "--mlflow: the plugin 'mlflow' is not loaded; add --plugin mlflow to the "
                "--plugin list, or drop it from --disable-plugin / $AEBENCH_DISABLE_PLUGINS"
            )
        if importlib.util.find_spec("mlflow") is None:
            raise AebenchError("--mlflow: MLflow is not installed; pip install 'aebench[mlflow]'")
    return options
