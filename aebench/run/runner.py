"""One run, and a suite of runs: seed, device, fit under the budget, evaluate, record.

The runner turns (model, data set, protocol, seed) into a plain dict; storage writes it.
Nothing here knows any model or data set by name.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import threadpoolctl
import torch
from torch import Tensor

from aebench.dataset import Splits, carve_validation, for_run, split_info
from aebench.errors import AebenchError, Diverged
from aebench.model import DataSpec, EvalContext, FitContext, Model
from aebench.protocol import OPTIMIZER_IMPLS, PRECISIONS, Protocol
from aebench.records import artifacts, storage
from aebench.registry.entries import DatasetEntry, ModelEntry, Registry
from aebench.run import determinism, implementation, nll_examples, provenance, resources, thresholds
from aebench.run import metrics as M
from aebench.run.evaluation import has_own_score as _has_own_score
from aebench.run.evaluation import on_validation, without_test
from aebench.run.evaluation import score_name as _score_name
from aebench.run.grid import RunRequest, variant_record


@dataclass
class View:
    """One view of a data set on the device: fit / validation / test inputs."""

    fit: Tensor
    val: Tensor
    test: Tensor

    def copy(self) -> View:
        """Tensors of one run's own, so a model writing into its inputs changes no other run."""
        return View(self.fit.clone(), self.val.clone(), self.test.clone())


@dataclass
class Prepared:
    """A data set's tensors for one protocol; each view is moved to the device once."""

    splits: Splits
    protocol: Protocol
    device: torch.device
    fit_idx: Tensor
    val_idx: Tensor
    provenance: dict[str, Any]
    _views: dict[tuple[str, bool], View] = field(default_factory=dict)

    def view(self, kind: str, binarized_eval: bool = False) -> View:
        """``kind``'s tensors; with ``binarized_eval`` the validation and test inputs are one
        fixed-seed Bernoulli draw (what binary models are evaluated on)."""
        key = (kind, binarized_eval)
        if key not in self._views:
            if kind == "tokens":
                train, test = self.splits.extras["train_tokens"], self.splits.extras["test_tokens"]
            else:
                train, test = self.splits.train_x, self.splits.test_x
            val = train[self.val_idx]
            if binarized_eval:
                g = torch.Generator().manual_seed(self.protocol.test_binarization_seed)
                test = torch.bernoulli(test, generator=g)
                val = torch.bernoulli(val, generator=g)
            self._views[key] = View(
                train[self.fit_idx].to(self.device), val.to(self.device), test.to(self.device)
            )
        return self._views[key]

    def mask(self, name: str) -> tuple[Tensor, Tensor, Tensor]:
        """(fit, validation, test) boolean masks: "normal" over train splits, anomalous on test."""
        a = self.splits.anomaly
        if a is None:
            raise AebenchError(f"data set offers no anomaly task for protocol {self.protocol.key}")
        return a.train_normal[self.fit_idx], a.train_normal[self.val_idx], a.test_anomalous


class DataCache:
    """Prepared data by (data set, protocol fingerprint): a per-seed split is a protocol with
    its own split seed, so each split is its own entry; past ``keep`` entries the least
    recently used goes."""

    def __init__(self, registry: Registry, data_dir: Path, download: bool, device: torch.device):
        self.registry, self.data_dir, self.download, self.device = (
            registry,
            data_dir,
            download,
            device,
        )
        self._cache: collections.OrderedDict[tuple[str, str], Prepared] = collections.OrderedDict()

    #: data sets kept loaded: runs come protocol by protocol (a family's ten members, say)
    keep = 2

    def get(self, dataset: str, protocol: Protocol, validation_only: bool = False) -> Prepared:
        key = (dataset, protocol.fingerprint(), validation_only)
        if key not in self._cache:
            entry: DatasetEntry = self.registry.dataset(dataset)
            splits = entry.factory().load(protocol, self.data_dir, download=self.download)
            if validation_only:  # dropped before anything is moved to the device
                splits = without_test(splits)
            while len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = prepare(splits, protocol, self.device)
        self._cache.move_to_end(key)
        return self._cache[key]


def prepare(splits: Splits, protocol: Protocol, device: torch.device) -> Prepared:
    fit_idx, val_idx = carve_validation(
        splits.train_x.shape[0], protocol.val_fraction, protocol.split_seed
    )
    prov = dict(splits.provenance)
    prov.update(n_fit=len(fit_idx), n_val=len(val_idx))
    for name, known in (
        ("anomaly_score_weighting", M.SCORE_WEIGHTINGS),
        ("precision", PRECISIONS),
        ("optimizer_impl", OPTIMIZER_IMPLS),
    ):
        value = getattr(protocol, name)
        if value not in known:
            raise AebenchError(f"protocol {protocol.key}: {name} {value!r} is not one of {known}")
    nll_examples.check(protocol)
    thresholds.check(protocol)
    if protocol.task == "anomaly" and splits.anomaly is None:
        raise AebenchError(
            f"protocol {protocol.key} is an anomaly task but the data set defines no anomalies"
        )
    return Prepared(splits, protocol, device, fit_idx, val_idx, prov)


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


def new_record(registry: Registry, req: RunRequest, device: torch.device) -> dict[str, Any]:
    """The record of ``req`` as it starts (status ``failed`` until the run says otherwise)."""
    entry: ModelEntry = registry.model(req.model)
    proto = req.protocol
    started = datetime.now(timezone.utc)
    config = entry.make_config(dict(req.config_overrides))
    return {
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
            "overrides": dict(req.config_overrides),
            "implementation": implementation.fingerprint(entry, config),
            "capabilities": dataclasses.asdict(entry.capabilities_for(config))
            if entry.capabilities
            else None,
        },
        "dataset": {"name": req.dataset, "plugin": registry.dataset(req.dataset).origin.plugin},
        "seed": req.seed,
        **(variant_record(req) if "~" in req.group else {}),
        "device": provenance.device_info(device),
        "software": provenance.software(),
        "started": started.isoformat(),
        **({"tuning": dict(req.tuning)} if req.tuning else {}),
    }


def run_one(
    registry: Registry,
    req: RunRequest,
    device: torch.device,
    data: DataCache,
    progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one request and return its record (never raises for a model's failure).

    ``on_start`` sees the record once the data is loaded, before training (a run host sends it
    ahead, so a run it has to stop still gets a full record).
    """
    entry: ModelEntry = registry.model(req.model)
    proto = req.protocol
    config = entry.make_config(dict(req.config_overrides))
    record = new_record(registry, req, device)
    try:
        prepared = data.get(req.dataset, for_run(proto, req.seed), req.evaluate == "validation")
    except AebenchError:
        raise  # a data problem is the user's to fix, for every model alike: stop the suite
    record["dataset"].update(prepared.provenance, **split_info(proto, req.seed))
    record["dataset"]["shape"] = list(prepared.splits.shape)
    if on_start is not None:
        on_start(record)
    caps = entry.capabilities_for(config)
    view = choose_view(caps.inputs, prepared.splits.kinds)
    if proto.task not in caps.tasks:
        record["status"] = "not-applicable"
        record["reason"] = f"{req.model} takes part in {'/'.join(caps.tasks)} protocols only"
        return _finish(record)
    if view is None:
        record["status"] = "not-applicable"
        record["reason"] = (
            f"{req.model} accepts {'/'.join(caps.inputs)} data; {req.dataset} offers "
            f"{'/'.join(sorted(prepared.splits.kinds))}"
        )
        return _finish(record)
    try:
        with _torch_state_kept(record), determinism.settings(device) as det:
            record["device"]["determinism"] = det
            _train_and_evaluate(record, entry, config, req, prepared, view, device, progress)
    except Diverged as exc:
        record.update(status="diverged", reason=str(exc), diverged_step=exc.step)
    except torch.cuda.OutOfMemoryError:
        phase = record.get("_phase", "training")
        batch = proto.batch_size if phase == "training" else proto.eval_batch_size
        record.update(status="failed", reason=f"out of memory during {phase} (batch size {batch})")
        if device.type == "cuda":  # what the failed run held goes back to the next run
            torch.cuda.empty_cache()
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # e.g. a library in the plugin parsing aebench's sys.argv
        record.update(
            status="failed",
            reason=f"the model called sys.exit({exc.code!r})",
            traceback=traceback.format_exc(),
        )
    except Exception as exc:
        record.update(status="failed", reason=_one_line(exc), traceback=traceback.format_exc())
    finally:
        record.pop("_phase", None)
    return _finish(record)


@contextlib.contextmanager
def _torch_state_kept(record: dict[str, Any]) -> Iterator[None]:
    """Restore torch's process-wide switches after a run, so one plugin that turns autograd
    off or changes the default dtype cannot break the runs after it; the record says so.

    NumPy's and SciPy's BLAS run on as many threads as torch for the run (the record's
    ``device.threads``): a closed-form fit (PCA's eigensolver) sums in a thread-dependent
    order, so the same run in a Dask worker (one BLAS thread) and in the CLI's process (one
    per core) differed in the last bits."""
    grad, dtype, threads = (
        torch.is_grad_enabled(),
        torch.get_default_dtype(),
        torch.get_num_threads(),
    )
    try:
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        changed = []
        if torch.is_grad_enabled() != grad:
            changed.append(f"grad mode {'on' if torch.is_grad_enabled() else 'off'}")
            torch.set_grad_enabled(grad)
        if torch.get_default_dtype() != dtype:
            changed.append(f"default dtype {torch.get_default_dtype()}")
            torch.set_default_dtype(dtype)
        if torch.get_num_threads() != threads:
            changed.append(f"{torch.get_num_threads()} threads")
            torch.set_num_threads(threads)
        if changed:
            record.setdefault("warnings", []).append(
                f"the model left torch's global state changed ({', '.join(changed)}); "
                "restored after the run"
            )


def _finish(record: dict[str, Any]) -> dict[str, Any]:
    record["finished"] = datetime.now(timezone.utc).isoformat()
    return _finite(record)


def _train_and_evaluate(record, entry, config, req, prepared, view, device, progress) -> None:
    proto, caps = req.protocol, entry.capabilities_for(config)
    torch.manual_seed(req.seed)  # model initialisation draws from the global generator
    binary = caps.binary and proto.binarization == "dynamic"
    splits = prepared.splits
    data = prepared.view(view).copy()  # the run's own: a model may write into its inputs
    # a token view is (N, L) ids: L steps, whatever the vector view's width
    shape = tuple(data.fit.shape[1:]) if view == "tokens" else tuple(splits.shape)
    spec = DataSpec(
        dim=math.prod(shape),
        shape=shape,
        kind=view,
        hidden_size=proto.hidden_size,
        binary=binary,
        vocab_size=splits.extras.get("vocab_size"),
    )
    anomaly = proto.task == "anomaly"
    train_x, labels = data.fit, None
    if anomaly:
        fit_normal, _, _ = prepared.mask("normal")
        if caps.supervised:  # reference rows trained with labels see every training example
            labels = (~fit_normal).long().to(device)
        elif proto.anomaly_train == "normal":
            train_x = data.fit[fit_normal.to(device)]
    model: Model = entry.factory(spec, proto.code_size, config)
    model.to(device)
    gen = torch.Generator(device=device).manual_seed(req.seed)
    ctx = FitContext(
        budget_samples=proto.budget_samples,
        batch_size=proto.batch_size,
        lr=getattr(config, "lr", None) or proto.lr,
        optimizer=proto.optimizer,
        device=device,
        generator=gen,
        binarize=binary,
        progress=progress,
        labels=labels,
        precision=proto.precision,
        optimizer_impl=proto.optimizer_impl,
    )
    record["training"] = {
        "binarization": "dynamic (Bernoulli per epoch)" if binary else "none",
        "test_binarization": f"fixed, seed {proto.test_binarization_seed}" if binary else "none",
        "lr": ctx.lr,
        "optimizer": proto.optimizer,
        "optimizer_impl": proto.optimizer_impl,
        "precision": proto.precision,
        "view": view,
        "code_size": getattr(model, "code_size", proto.code_size),
        "n_train": int(train_x.shape[0]),
        "supervised": caps.supervised,
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    record["training"]["peak_rss"] = resources.reset_peak_rss()
    M._sync(device)
    t0 = time.perf_counter()
    model.fit(train_x, ctx)
    M._sync(device)
    fit_s = time.perf_counter() - t0
    record["training"].update(
        samples_seen=ctx.samples_seen,
        steps=ctx.step,
        epochs=ctx.epoch,
        fit=ctx.fit_kind(),
        loss_curve=ctx.epoch_losses,
    )
    eval_gen = torch.Generator(device=device).manual_seed(10_000 + req.seed)
    ectx = EvalContext(
        generator=eval_gen,
        device=device,
        batch_size=proto.eval_batch_size,
        iwae_k=proto.iwae_k,
        iwae_examples=proto.iwae_examples,
        ais_chains=proto.ais_chains,
        ais_betas=proto.ais_betas,
        ais_runs=proto.ais_runs,
        train_x=train_x,
    )
    record["_phase"] = "evaluation"  # what an out-of-memory error names
    t1 = time.perf_counter()
    has_recon = view != "tokens" and "reconstruction" in caps.tasks
    evald = prepared.view(view, binarized_eval=True).copy() if binary else data
    if req.evaluate == "validation":  # a tuning trial: figures on the validation slice only
        metrics = on_validation(model, prepared, data, evald, train_x, has_recon)
        record["metrics"] = {**metrics, "fit_s": fit_s, "eval_s": time.perf_counter() - t1}
        record["status"] = "ok"
        return
    likelihoods = proto.estimates_likelihoods  # no estimator runs for boards that omit it
    n_test, split_seed = int(data.test.shape[0]), prepared.protocol.split_seed
    nll_index = nll_examples.select(proto, splits.test_y, n_test, split_seed)
    result = M.evaluate(model, data.test, evald.test, ectx, has_recon, likelihoods, nll_index)
    record["likelihood_examples"] = nll_examples.describe(
        result["per_example"], proto, nll_index, n_test, split_seed
    )
    if not likelihoods:
        record["likelihood_note"] = f"not estimated (likelihoods={proto.likelihoods!r})"
    metrics = result["metrics"]
    if has_recon and data.val.shape[0]:
        metrics["val_recon_mse"] = float(
            M.reconstruction_errors(model, data.val, proto.eval_batch_size).double().mean()
        )
    if anomaly:
        _, val_normal, test_anomalous = prepared.mask("normal")
        cal = evald.val if proto.anomaly_train == "all" else evald.val[val_normal.to(device)]
        own_score = _has_own_score(model, cal)
        weights = None  # the same weighting for every model scored by reconstruction error
        if proto.anomaly_score_weighting == "inverse-variance" and not own_score:
            weights = M.inverse_variance_weights(train_x)
        cal_scores = M.anomaly_scores(model, cal, proto.eval_batch_size, has_recon, weights)
        test_scores = M.anomaly_scores(model, evald.test, proto.eval_batch_size, has_recon, weights)
        n_cal_anomalous = int((~val_normal).sum()) if proto.anomaly_train == "all" else 0
        q = thresholds.quantile(proto, int(cal.shape[0]), n_cal_anomalous)
        threshold = M.label_free_threshold(cal_scores.cpu().numpy(), q)
        result["per_example"].update(test_scores=test_scores, test_anomalous=test_anomalous)
        metrics.update(
            M.anomaly_metrics(threshold, test_scores.cpu().numpy(), test_anomalous.numpy())
        )
        record["anomaly"] = {
            "threshold_rule": thresholds.rule(proto, q, n_cal_anomalous / max(1, cal.shape[0])),
            "threshold_quantile": q,
            "n_calibration": int(cal.shape[0]),
            "n_calibration_anomalous": n_cal_anomalous,
            "n_test_anomalous": int(test_anomalous.sum()),
            "n_test": int(test_anomalous.numel()),
            "score": _score_name(own_score, weights is not None),
        }
    M._sync(device)
    metrics.update(
        fit_s=fit_s,
        eval_s=time.perf_counter() - t1,
        # a fit that reports no examples seen has no throughput: unmeasured, not zero
        train_samples_per_s=ctx.samples_seen / fit_s if fit_s > 0 and ctx.samples_seen else None,
        params=model.parameter_count(),
        steady_train_samples_per_s=ctx.steady_throughput(),
        peak_rss_mb=resources.peak_rss_mb(),
    )
    if device.type == "cuda":
        metrics["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    bad = sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))
    if bad:
        record["warnings"] = [f"non-finite metric(s) stored as null: {', '.join(bad)}"]
    record["metrics"] = metrics
    record["likelihood"] = result["likelihood"]
    test_y = splits.test_y.to(device) if splits.test_y is not None else None
    pictures = {}
    if artifacts.keeps_figures(req.seed, proto.seeds):  # figures draw on the first seed's run
        image = artifacts.is_image(splits.shape)
        pictures = artifacts.picture_arrays(
            model, data.test, test_y, req.seed, caps.generative, has_recon, image
        )
    # per-example values (paired tests, curves) and pictures go beside the record (.npz)
    record["_arrays"] = {**result["per_example"], **pictures}
    record["model"]["parameters"] = model.parameter_count()
    record["status"] = "ok"
