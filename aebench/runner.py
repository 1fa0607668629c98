"""One run, and a suite of runs: seed, device, fit under the budget, evaluate, record.

The runner turns (model, data set, protocol, seed) into a plain dict; storage writes it.
Nothing here knows any model or data set by name.
"""

from __future__ import annotations

import dataclasses
import math
import resource
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aebench import metrics as M
from aebench import provenance, storage
from aebench.dataset import Splits, carve_validation
from aebench.errors import AebenchError, Diverged
from aebench.model import DataSpec, EvalContext, FitContext, Model
from aebench.protocol import Protocol
from aebench.registry import DatasetEntry, ModelEntry, Registry


@dataclass(frozen=True)
class RunRequest:
    model: str
    dataset: str
    protocol: Protocol
    seed: int
    #: ``name-vN``, or ``name-vN~<fingerprint>`` for a variant with overridden fields
    group: str
    config_overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.model} on {self.dataset} ({self.group}, seed {self.seed})"

    def path(self, results_dir: Path) -> Path:
        return storage.record_path(results_dir, self.group, self.dataset, self.model, self.seed)


def plan(
    registry: Registry,
    models: Iterable[str] | None,
    datasets: Iterable[str] | None,
    protocol: str | None = None,
    seeds: Iterable[int] | None = None,
    protocol_overrides: dict[str, Any] | None = None,
    config_overrides: dict[str, dict[str, Any]] | None = None,
) -> list[RunRequest]:
    """The grid model × data set × seed, validated up front (unknown names fail here)."""
    dsets = [registry.dataset(d) for d in datasets] if datasets else [registry.default_dataset()]
    mods = [registry.model(m) for m in models] if models else list(registry.models.values())
    config_overrides = config_overrides or {}
    for name in config_overrides:
        registry.model(name).make_config(config_overrides[name])  # validate early
    requests = []
    for d in dsets:
        base = d.protocol(protocol)
        proto = base.with_overrides(**protocol_overrides) if protocol_overrides else base
        group = base.key if proto == base else f"{base.key}~{proto.fingerprint()}"
        for seed in seeds if seeds is not None else proto.seeds:
            for m in mods:
                ov = tuple(sorted(config_overrides.get(m.name, {}).items()))
                requests.append(RunRequest(m.name, d.name, proto, int(seed), group, ov))
    return requests


@dataclass
class Prepared:
    """A data set's tensors for one protocol, moved to the device once."""

    splits: Splits
    fit_x: Tensor
    val_x: Tensor
    test_x: Tensor
    test_bin: Tensor | None
    provenance: dict[str, Any]


class DataCache:
    def __init__(self, registry: Registry, data_dir: Path, download: bool, device: torch.device):
        self.registry, self.data_dir, self.download, self.device = registry, data_dir, download, device
        self._cache: dict[tuple[str, str], Prepared] = {}

    def get(self, dataset: str, protocol: Protocol) -> Prepared:
        key = (dataset, protocol.fingerprint())
        if key not in self._cache:
            entry: DatasetEntry = self.registry.dataset(dataset)
            splits = entry.factory().load(protocol, self.data_dir, download=self.download)
            self._cache[key] = prepare(splits, protocol, self.device)
        return self._cache[key]


def prepare(splits: Splits, protocol: Protocol, device: torch.device) -> Prepared:
    fit_idx, val_idx = carve_validation(
        splits.train_x.shape[0], protocol.val_fraction, protocol.split_seed
    )
    test_bin = None
    if protocol.binarization == "dynamic":
        g = torch.Generator().manual_seed(protocol.test_binarization_seed)
        test_bin = torch.bernoulli(splits.test_x, generator=g).to(device)
    prov = dict(splits.provenance)
    prov.update(n_fit=len(fit_idx), n_val=len(val_idx))
    return Prepared(
        splits=splits,
        fit_x=splits.train_x[fit_idx].to(device),
        val_x=splits.train_x[val_idx].to(device),
        test_x=splits.test_x.to(device),
        test_bin=test_bin,
        provenance=prov,
    )


def choose_view(model_inputs: tuple[str, ...], offered: frozenset[str]) -> str | None:
    for kind in model_inputs:
        if kind in offered:
            return kind
    return None


def _config_dict(config: Any) -> dict[str, Any] | None:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: store them as None (the record keeps a warning saying which)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def run_one(
    registry: Registry,
    req: RunRequest,
    device: torch.device,
    data: DataCache,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run one request and return its record (never raises for a model's failure)."""
    entry: ModelEntry = registry.model(req.model)
    proto = req.protocol
    started = datetime.now(timezone.utc)
    config = entry.make_config(dict(req.config_overrides))
    record: dict[str, Any] = {
        "format": storage.FORMAT_VERSION,
        "run_id": f"{req.group}/{req.dataset}/{req.model}/seed-{req.seed}",
        "group": req.group,
        "status": "failed",
        "reason": None,
        "protocol": {**proto.to_dict(), "key": proto.key, "fingerprint": proto.fingerprint()},
        "model": {
            "name": entry.name,
            "plugin": entry.origin.plugin,
            "distribution": entry.origin.dist,
            "version": entry.origin.version,
            "tags": list(entry.tags),
            "config": _config_dict(config),
            "capabilities": dataclasses.asdict(entry.capabilities) if entry.capabilities else None,
        },
        "dataset": {"name": req.dataset, "plugin": registry.dataset(req.dataset).origin.plugin},
        "seed": req.seed,
        "device": provenance.device_info(device),
        "software": provenance.software(),
        "started": started.isoformat(),
    }
    try:
        prepared = data.get(req.dataset, proto)
    except AebenchError:
        raise  # a data problem is the user's to fix, for every model alike: stop the suite
    record["dataset"].update(prepared.provenance)
    caps = entry.capabilities
    view = choose_view(caps.inputs, prepared.splits.kinds)
    if view is None:
        record["status"] = "not-applicable"
        record["reason"] = (
            f"{req.model} accepts {'/'.join(caps.inputs)} data; {req.dataset} offers "
            f"{'/'.join(sorted(prepared.splits.kinds))}"
        )
        return _finish(record)
    try:
        _train_and_evaluate(record, entry, config, req, prepared, view, device, progress)
    except Diverged as exc:
        record.update(status="diverged", reason=str(exc), diverged_step=exc.step)
    except torch.cuda.OutOfMemoryError:
        record.update(status="failed", reason=f"out of memory (batch size {proto.batch_size})")
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        record.update(status="failed", reason=_one_line(exc), traceback=traceback.format_exc())
    return _finish(record)


def _finish(record: dict[str, Any]) -> dict[str, Any]:
    record["finished"] = datetime.now(timezone.utc).isoformat()
    return _finite(record)


def _train_and_evaluate(record, entry, config, req, prepared, view, device, progress) -> None:
    proto, caps = req.protocol, entry.capabilities
    torch.manual_seed(req.seed)  # model initialisation draws from the global generator
    binary = caps.binary and proto.binarization == "dynamic"
    splits = prepared.splits
    spec = DataSpec(
        dim=splits.dim, shape=tuple(splits.shape), kind=view, hidden_size=proto.hidden_size,
        binary=binary, vocab_size=splits.extras.get("vocab_size"),
    )
    model: Model = entry.factory(spec, proto.code_size, config)
    model.to(device)
    gen = torch.Generator(device=device).manual_seed(req.seed)
    ctx = FitContext(
        budget_samples=proto.budget_samples, batch_size=proto.batch_size,
        lr=getattr(config, "lr", None) or proto.lr, optimizer=proto.optimizer,
        device=device, generator=gen, binarize=binary, progress=progress,
    )
    record["training"] = {
        "binarization": "dynamic (Bernoulli per epoch)" if binary else "none",
        "test_binarization": f"fixed, seed {proto.test_binarization_seed}" if binary else "none",
        "lr": ctx.lr, "optimizer": proto.optimizer, "view": view,
        "code_size": getattr(model, "code_size", proto.code_size),
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    M._sync(device)
    t0 = time.perf_counter()
    model.fit(prepared.fit_x, ctx)
    M._sync(device)
    fit_s = time.perf_counter() - t0
    record["training"].update(
        samples_seen=ctx.samples_seen, steps=ctx.step, epochs=ctx.epoch,
        loss_curve=ctx.epoch_losses,
    )
    eval_gen = torch.Generator(device=device).manual_seed(10_000 + req.seed)
    ectx = EvalContext(
        generator=eval_gen, device=device, batch_size=proto.eval_batch_size,
        iwae_k=proto.iwae_k, iwae_examples=proto.iwae_examples, ais_chains=proto.ais_chains,
        ais_betas=proto.ais_betas, ais_runs=proto.ais_runs, train_x=prepared.fit_x,
    )
    t1 = time.perf_counter()
    test_eval = prepared.test_bin if binary else prepared.test_x
    result = M.evaluate(model, prepared.test_x, test_eval, ectx)
    M._sync(device)
    metrics = result["metrics"]
    metrics["val_recon_mse"] = float(
        M.reconstruction_errors(model, prepared.val_x, proto.eval_batch_size).double().mean()
    ) if prepared.val_x.shape[0] else None
    metrics.update(
        fit_s=fit_s,
        eval_s=time.perf_counter() - t1,
        train_samples_per_s=ctx.samples_seen / fit_s if fit_s > 0 else None,
        params=model.parameter_count(),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if device.type == "cuda":
        metrics["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    bad = sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))
    if bad:
        record["warnings"] = [f"non-finite metric(s) stored as null: {', '.join(bad)}"]
    record["metrics"] = metrics
    record["likelihood"] = result["likelihood"]
    record["model"]["parameters"] = model.parameter_count()
    record["status"] = "ok"


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
) -> SuiteSummary:
    """Run every request not already complete; each finished record is written at once.

    A model's failure becomes its record; Ctrl-C stops after writing nothing for the run in
    progress (``summary.interrupted`` names it) and re-raises.
    """
    reporter = reporter or Reporter()
    storage.check_writable(results_dir)
    storage.sweep_temporaries(results_dir)
    summary = SuiteSummary()
    todo = []
    for req in requests:
        if not force and storage.is_complete(req.path(results_dir)):
            summary.skipped.append(req)
            reporter.skip(req)
        else:
            todo.append(req)
    reporter.start(len(todo))
    try:
        for i, req in enumerate(todo):
            reporter.begin(req, i)
            try:
                record = run_one(registry, req, device, data, progress=reporter.step)
            except KeyboardInterrupt:
                summary.interrupted = req
                raise
            storage.write_record(req.path(results_dir), record)
            summary.done.append(record)
            reporter.end(req, record)
    finally:
        reporter.stop()
    return summary
