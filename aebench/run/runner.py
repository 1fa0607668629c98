"""One run -> one record: seed, device, fit under the budget, evaluate, record.

The runner turns (model, data set, protocol, seed) into a ``RunOutcome``: the record, a plain
dict that storage writes, and the arrays stored beside it. The run goes in named steps
(``aebench.run.steps``), each recorded as it completes, so a run that fails part way keeps in
its record what it got to. Nothing here knows any model or data set by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import threadpoolctl
import torch

from aebench.dataset import for_run, split_info
from aebench.errors import AebenchError, Diverged, one_line
from aebench.model import Capabilities
from aebench.records import storage
from aebench.registry.entries import ModelEntry, Registry
from aebench.run import determinism, implementation, provenance, saved, steps
from aebench.run.data import DataCache, Prepared, choose_view
from aebench.run.evaluation import on_validation
from aebench.run.grid import RunRequest, plan, variant_record

__all__ = ["DataCache", "RunOutcome", "RunRequest", "new_record", "plan", "run_one"]


@dataclass
class RunOutcome:
    """What one run hands back: its record (plain data, as stored) and the arrays stored
    beside it (per-example values and pictures; none for a run that did not finish, nor for
    a tuning trial)."""

    record: dict[str, Any]
    arrays: dict[str, Any] = field(default_factory=dict)
    #: the trained model as a safetensors file (``aebench.run.saved``), for a request that
    #: asked to keep it (``RunRequest.save_model``) and finished ``ok``; else None
    weights: bytes | None = None


def _config_dict(config: Any) -> dict[str, Any] | None:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None


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
) -> RunOutcome:
    """Run one request: its record and arrays (never raises for a model's failure).

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
        return RunOutcome(_finish(record))
    if view is None:
        record["status"] = "not-applicable"
        record["reason"] = (
            f"{req.model} accepts {'/'.join(caps.inputs)} data; {req.dataset} offers "
            f"{'/'.join(sorted(prepared.splits.kinds))}"
        )
        return RunOutcome(_finish(record))
    arrays: dict[str, Any] = {}
    weights = None
    phase = "training"  # what an out-of-memory error names
    try:
        with _torch_state_kept(record), determinism.settings(device) as det:
            record["device"]["determinism"] = det
            trained = _train(record, entry, config, req, prepared, view, device, progress)
            if req.save_model:  # as fitted: what the evaluation below sees
                weights = _keep(record, trained, proto.code_size)
            phase = "evaluation"
            arrays = _evaluate(record, trained, caps, req, prepared, device, progress)
    except Diverged as exc:
        record.update(status="diverged", reason=str(exc), diverged_step=exc.step)
    except torch.cuda.OutOfMemoryError:
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
        record.update(status="failed", reason=one_line(exc), traceback=traceback.format_exc())
    if record["status"] != "ok":
        record.pop("saved_model", None)
        weights = None
    return RunOutcome(_finish(record), arrays, weights)


def _keep(record: dict[str, Any], trained: steps.Trained, code_size: int) -> bytes | None:
    """The fitted model as a safetensors file; None, with the reason in the record, for a
    model that cannot be saved (one holding a scikit-learn estimator, say)."""
    try:
        blob = saved.capture(trained.model, trained.inputs.spec, code_size, record)
    except NotImplementedError as exc:
        record["saved_model"] = {"saved": False, "reason": f"cannot be saved: {exc}"}
        return None
    record["saved_model"] = {"saved": True, "format": "safetensors", "bytes": len(blob)}
    return blob


def _train(
    record: dict[str, Any],
    entry: ModelEntry,
    config: Any,
    req: RunRequest,
    prepared: Prepared,
    view: str,
    device: torch.device,
    progress: Callable[[int, int], None] | None,
) -> steps.Trained:
    """Inputs, model and fit. The record's ``training`` is written before the fit (a run that
    fails or diverges in it keeps it) and completed after."""
    proto, caps = req.protocol, entry.capabilities_for(config)
    inputs = steps.run_inputs(prepared, view, proto, caps, device)
    model = steps.build_model(entry, config, inputs.spec, proto, req.seed, device)
    ctx = steps.fit_context(entry, config, proto, req.seed, inputs, device, progress, model)
    record["training"] = steps.describe_training(proto, inputs, ctx, model, caps)
    record["training"]["peak_rss"] = steps.reset_peaks(device)
    fitted = steps.fit(model, inputs.train_x, ctx, device)
    record["training"].update(fitted.training_fields())
    return steps.Trained(model, inputs, fitted)


def _evaluate(
    record: dict[str, Any],
    trained: steps.Trained,
    caps: Capabilities,
    req: RunRequest,
    prepared: Prepared,
    device: torch.device,
    progress: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Evaluate the fitted model into the record (status ``ok`` once all is done); returns
    the arrays stored beside the record. ``progress`` hears each phase as it begins."""
    proto = req.protocol
    model, inputs, fitted = trained.model, trained.inputs, trained.fitted
    ectx = steps.eval_context(proto, req.seed, device, inputs.train_x)
    t1 = time.perf_counter()
    evald = steps.evaluated_inputs(prepared, inputs)
    if req.evaluate == "validation":  # a tuning trial: figures on the validation slice only
        metrics = on_validation(
            model, prepared, inputs.data, evald, inputs.train_x, inputs.has_recon
        )
        record["metrics"] = {**metrics, "fit_s": fitted.fit_s, "eval_s": time.perf_counter() - t1}
        record["status"] = "ok"
        return {}
    _phase(progress, steps.test_phase(proto, caps))
    test = steps.evaluate_test(model, inputs, evald, prepared, proto, ectx)
    record["likelihood_examples"] = test.likelihood_examples
    if test.likelihood_note is not None:
        record["likelihood_note"] = test.likelihood_note
    metrics, per_example = test.metrics, test.per_example
    _phase(progress, "validation")
    val_mse = steps.validation_recon_mse(model, inputs, proto)
    if val_mse is not None:
        metrics["val_recon_mse"] = val_mse
    record["learning"] = steps.learning_record(model, inputs, proto, fitted, val_mse)
    if inputs.anomaly:
        _phase(progress, "anomaly scoring")
        scored = steps.score_anomalies(model, inputs, evald, prepared, proto, device)
        per_example.update(test_scores=scored.test_scores, test_anomalous=scored.test_anomalous)
        metrics.update(scored.metrics)
        record["anomaly"] = scored.description
    metrics.update(steps.cost_metrics(model, fitted, t1, device))
    warning = steps.non_finite_warning(metrics)
    if warning is not None:
        record["warnings"] = [warning]
    record["metrics"] = metrics
    record["likelihood"] = test.likelihood
    _phase(progress, "pictures")
    pictures = steps.pictures(model, inputs, prepared, req.seed, proto, caps, device)
    record["model"]["parameters"] = model.parameter_count()
    record["status"] = "ok"
    # per-example values (paired tests, curves) and pictures go beside the record (.npz)
    return {**per_example, **pictures}


def _phase(progress: Callable[..., None] | None, phase: str) -> None:
    """Tell ``progress`` that the run's next phase begins (done 0 of 0: a phase without steps
    of its own); a callback that takes only (done, total) hears the training steps only."""
    if progress is not None:
        with contextlib.suppress(TypeError):
            progress(0, 0, phase)


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
