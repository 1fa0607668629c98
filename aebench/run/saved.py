"""Trained models kept on request: ``aebench run --save-models`` and ``aebench.load_model``.

A run asked to keep its model stores the fitted state (:meth:`aebench.Model.state_arrays`) in
one safetensors file beside its record (``seed-N.safetensors``): tensors as they are, plain
numbers as 0-d float64 / int64 / bool tensors (so a float comes back bit for bit), and in the
file's metadata the model's name, config, implementation fingerprint, data spec and code size,
and its few non-tensor values (strings, None, tuples of them) as JSON. Reading it unpickles
nothing. The file is written like the arrays: before the record, atomically, and the record
holds its SHA-256, so a file that is not the record's own is refused.

:func:`load_model` rebuilds the model from the record's config with the installed plugin,
refusing a record whose implementation fingerprint today's code no longer has, and loads the
state. :func:`recomputed_metrics` evaluates a loaded model on the record's test split with the run's
own evaluation steps, so its figures can be compared with the record's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aebench.errors import AebenchError
from aebench.model import DataSpec, Model

__all__ = ["FORMAT", "capture", "load_model", "read", "sidecar", "recomputed_metrics"]

FORMAT = 1
_SCALARS = {"bool": (bool, torch.bool), "int": (int, torch.int64), "float": (float, torch.float64)}


def sidecar(record_path: Path) -> Path:
    """Where a record's saved model lives: ``seed-N.safetensors`` beside ``seed-N.json``."""
    return Path(record_path).with_suffix(".safetensors")


def capture(model: Model, spec: DataSpec, code_size: int, record: dict[str, Any]) -> bytes:
    """``model``'s fitted state as the bytes of a safetensors file, described by ``record``
    (as the run has it so far). :class:`NotImplementedError`: the model cannot be saved."""
    from safetensors.torch import save

    tensors: dict[str, Tensor] = {}
    scalars: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, value in model.state_arrays().items():
        if isinstance(value, Tensor):  # its own storage: safetensors refuses shared ones
            tensors[name] = value.detach().to("cpu").contiguous().clone()
        elif type(value).__name__ in _SCALARS:  # bool before int: a bool is an int too
            kind = type(value).__name__
            tensors[name] = torch.tensor(value, dtype=_SCALARS[kind][1])
            scalars[name] = kind
        else:
            values[name] = _tagged(value)
    meta = {
        "format": FORMAT,
        "run_id": record.get("run_id"),
        "model": record["model"]["name"],
        "config": record["model"].get("config"),
        "overrides": record["model"].get("overrides") or {},
        "implementation": record["model"].get("implementation"),
        "spec": dataclasses.asdict(spec),
        "code_size": code_size,
        "scalars": scalars,
        "values": values,
    }
    return save(tensors, metadata={"aebench": json.dumps(meta, sort_keys=True, default=str)})


def _tagged(value: Any) -> Any:
    """A plain value as JSON that says whether it was a tuple (JSON has lists only)."""
    if isinstance(value, tuple):
        return {"tuple": [_tagged(v) for v in value]}
    if isinstance(value, list):
        return {"list": [_tagged(v) for v in value]}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_untagged(v) for v in value["tuple"])
    if isinstance(value, dict) and "list" in value:
        return [_untagged(v) for v in value["list"]]
    return value


def read(path: Path, sha256: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state stored in ``path`` and its metadata; AebenchError (one line) if the file is
    not a saved model this aebench reads, or ``sha256`` is given and the file's differs."""
    from safetensors.torch import load

    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise AebenchError(f"{path}: cannot read the saved model ({exc.strerror or exc})") from None
    if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
        raise AebenchError(f"{path}: not the saved model its record was written with (SHA-256)")
    try:
        size = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + size])
        meta = json.loads(header["__metadata__"]["aebench"])
        tensors = load(blob)
        state: dict[str, Any] = dict(tensors)
        for name, kind in meta["scalars"].items():
            state[name] = _SCALARS[kind][0](state[name].item())
        state.update({k: _untagged(v) for k, v in meta["values"].items()})
    except Exception as exc:  # whatever a damaged or foreign file makes the readers say
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise AebenchError(
            f"{path}: not a saved aebench model ({type(exc).__name__}: {reason})"
        ) from None
    if meta.get("format") != FORMAT:
        raise AebenchError(f"{path}: saved-model format {meta.get('format')!r}; upgrade aebench")
    return state, meta


def load_model(
    record_path: str | Path, registry: Any = None, device: str | torch.device = "cpu"
) -> Model:
    """The model that made the record at ``record_path``, rebuilt and loaded, in eval mode.

    Needs the run to have been made with ``--save-models``. Refuses (one line) a record whose
    model is not installed, or whose implementation fingerprint (code and config) today's code
    no longer has: today's plugin would not be the model that made it.
    """
    from aebench.records import storage
    from aebench.run import implementation

    path = Path(record_path)
    record = storage.read_record(path)
    info = record.get("saved_model") or {}
    if not info.get("sha256"):
        why = f": {info['reason']}" if info.get("reason") else ""
        raise AebenchError(
            f"{path}: no saved model with this record{why or ' (run it with --save-models)'}"
        )
    registry = registry if registry is not None else _registry()
    stale = implementation.staleness(record, registry)
    if stale:
        raise AebenchError(
            f"{path}: {stale}; not loaded, as today's code would not rebuild the model that made "
            "it (rerun it with --save-models)"
        )
    state, meta = read(path.with_name(info["file"]), info["sha256"])
    fp = (record["model"].get("implementation") or {}).get("fingerprint")
    if (meta.get("implementation") or {}).get("fingerprint") != fp:
        raise AebenchError(f"{path}: its saved model names another implementation than it")
    entry = registry.model(record["model"]["name"])
    config = entry.make_config(dict(record["model"].get("overrides") or {}))
    spec = DataSpec(**{**meta["spec"], "shape": tuple(meta["spec"]["shape"])})
    model: Model = entry.factory(spec, meta["code_size"], config)
    model.load_state_arrays(state)
    model.to(torch.device(device))
    model.eval()
    return model


def _registry() -> Any:
    from aebench.registry.loading import load_registry

    return load_registry()


def recomputed_metrics(
    record_path: str | Path,
    model: Model | None = None,
    registry: Any = None,
    data_dir: str | Path | None = None,
) -> dict[str, float | None]:
    """The record's test metrics (reconstruction, likelihood, validation MSE, anomaly scores;
    no timing or cost figures) computed again from the saved model, with the run's evaluation
    steps, on the record's thread count: on the CPU kind that made the record they equal the
    record's bit for bit."""
    import threadpoolctl

    from aebench.dataset import default_data_dir, for_run
    from aebench.records import storage
    from aebench.run import determinism, grid, steps
    from aebench.run.data import DataCache, choose_view
    from aebench.run.metrics import TIMING_METRICS

    path = Path(record_path)
    record = storage.read_record(path)
    registry = registry if registry is not None else _registry()
    model = model if model is not None else load_model(path, registry)
    name, seed = record["model"]["name"], record["seed"]
    variant = record.get("variant") or {}
    (req,) = grid.plan(
        registry,
        [name],
        [record["dataset"]["name"]],
        record["protocol"]["key"],
        [seed],
        variant.get("protocol_overrides") or None,
        {name: record["model"].get("overrides") or {}},
    )
    proto = req.protocol
    if proto.fingerprint() != record["protocol"]["fingerprint"]:
        raise AebenchError(f"{path}: its protocol is not the installed {proto.key} any more")
    device = torch.device("cpu")
    entry = registry.model(name)
    caps = entry.capabilities_for(entry.make_config(dict(req.config_overrides)))
    data = DataCache(registry, default_data_dir(data_dir), False, device)
    prepared = data.get(req.dataset, for_run(proto, seed), False)
    view = choose_view(caps.inputs, prepared.splits.kinds)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(record["device"].get("threads") or threads))
    try:
        with (
            threadpoolctl.threadpool_limits(limits=torch.get_num_threads(), user_api="blas"),
            determinism.settings(device),
        ):
            inputs = steps.run_inputs(prepared, view, proto, caps, device)
            ectx = steps.eval_context(proto, seed, device, inputs.train_x)
            evald = steps.evaluated_inputs(prepared, inputs)
            metrics = dict(steps.evaluate_test(model, inputs, evald, prepared, proto, ectx).metrics)
            val_mse = steps.validation_recon_mse(model, inputs, proto)
            if val_mse is not None:
                metrics["val_recon_mse"] = val_mse
            if inputs.anomaly:
                scored = steps.score_anomalies(model, inputs, evald, prepared, proto, device)
                metrics.update(scored.metrics)
    finally:
        torch.set_num_threads(threads)
    # as the record stores them (JSON has no NaN or infinity); clock times are not the model's
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v
        for k, v in metrics.items()
        if k not in TIMING_METRICS
    }
