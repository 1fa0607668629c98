"""MLflow: each run ``aebench run`` records becomes an MLflow run (``aebench[mlflow]``).

On with ``aebench run --mlflow`` (or ``--mlflow-uri URI``, or ``$AEBENCH_MLFLOW=1``); off
otherwise. The runs go to the tracking URI given by ``--mlflow-uri``, else MLflow's own
(``$MLFLOW_TRACKING_URI``, else its local store: ``sqlite:///mlflow.db`` in the working
directory with the artifacts in ``./mlruns``), into the experiment ``$MLFLOW_EXPERIMENT_NAME``
or ``aebench``. Each MLflow run has as parameters the protocol (its key, fingerprint and
fields), the model (name and config), the data set and the seed; every metric of the record;
the loss (per epoch) and the validation curve (per examples seen) as metric steps; and the
record, its arrays and any saved model as artifacts.

A record is logged once: the run is tagged with the record's ``run_id`` and its file's SHA-256,
a record already logged (a FINISHED run with that digest) is skipped, and an unfinished one (a
suite killed while logging it, which the next suite tells again) is deleted and logged anew.
MLflow is imported only when the adapter is on; this module is a plugin like any other.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from aebench import hookimpl

ENV = "AEBENCH_MLFLOW"
EXPERIMENT = "aebench"
#: MLflow's limit on a parameter's value (characters)
_PARAM_CHARS = 6000
_OFF = ("", "0", "false", "no", "off")


def enabled(options: dict[str, str]) -> bool:
    """Whether the command line (``--mlflow``, ``--mlflow-uri``) or ``$AEBENCH_MLFLOW`` asks."""
    if options.get("mlflow") or options.get("mlflow_uri"):
        return True
    return os.environ.get(ENV, "").strip().lower() not in _OFF


@hookimpl
def aebench_run_recorded(record, record_path, arrays_path, options):
    if not enabled(options):
        return
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise RuntimeError(
            "MLflow is not installed; install it with `pip install 'aebench[mlflow]'`"
        ) from None
    client = MlflowClient(tracking_uri=options.get("mlflow_uri") or None)
    experiment = _experiment(client)
    digest = hashlib.sha256(Path(record_path).read_bytes()).hexdigest()
    found = client.search_runs(
        [experiment], filter_string=f"tags.`aebench.record_sha256` = '{digest}'"
    )
    if any(run.info.status == "FINISHED" for run in found):
        return  # logged before: never twice
    for run in found:  # begun by a suite that was killed while logging it
        client.delete_run(run.info.run_id)
    tags = {
        "aebench.run_id": record["run_id"],
        "aebench.record_sha256": digest,
        "aebench.record_path": str(Path(record_path).resolve()),
        "aebench.status": record["status"],
        "aebench.group": record["group"],
    }
    run_id = client.create_run(experiment, run_name=record["run_id"], tags=tags).info.run_id
    stamp = _millis(record)
    metrics = [Metric(k, v, stamp, 0) for k, v in _metrics(record)]
    metrics += [Metric(k, v, stamp, step) for k, step, v in _curves(record)]
    params = [Param(k, v) for k, v in _params(record)]
    for i in range(0, len(params), 100):  # MLflow's limits on one batch
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    for path in (record_path, arrays_path, _weights(record, record_path)):
        if path is not None:
            client.log_artifact(run_id, str(path))
    # last: a run a kill interrupted stays RUNNING, and is deleted and logged again
    client.set_terminated(run_id, "FINISHED")


def _experiment(client) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = client.tracking_uri
    location = None
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        # the artifacts beside the database, not in whatever directory the command ran in
        location = (Path(uri[len("sqlite:///") :]).resolve().parent / "mlruns").as_uri()
    return client.create_experiment(name, artifact_location=location)


def _millis(record: dict[str, Any]) -> int:
    from datetime import datetime

    when = record.get("finished") or record.get("started")
    return int(datetime.fromisoformat(when).timestamp() * 1000) if when else 0


def _key(name: str) -> str:
    """A metric or parameter name MLflow takes (letters, digits, ``_-. /``)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


def _metrics(record: dict[str, Any]):
    for name, value in sorted((record.get("metrics") or {}).items()):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and math.isfinite(value):
            yield _key(name), float(value)


def _curves(record: dict[str, Any]):
    training = record.get("training") or {}
    for epoch, loss in enumerate(training.get("loss_curve") or []):
        if loss is not None:
            yield "train.loss", epoch, float(loss)
    for seen, value in training.get("val_curve") or []:
        if value is not None:
            yield "val.curve", int(seen), float(value)


def _params(record: dict[str, Any]):
    protocol, model = record["protocol"], record["model"]
    yield "protocol", protocol["key"]
    yield "group", record["group"]
    yield "dataset", record["dataset"]["name"]
    yield "seed", str(record["seed"])
    yield "model", model["name"]
    for name, value in sorted(protocol.items()):
        if name not in ("key", "description"):
            yield _key(f"protocol.{name}"), _text(value)
    for name, value in sorted((model.get("config") or {}).items()):
        yield _key(f"model.config.{name}"), _text(value)
    fingerprint = (model.get("implementation") or {}).get("fingerprint")
    if fingerprint:
        yield "model.implementation", fingerprint


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _PARAM_CHARS else text[: _PARAM_CHARS - 1] + "…"


def _weights(record: dict[str, Any], record_path) -> Path | None:
    name = (record.get("saved_model") or {}).get("file")
    return Path(record_path).with_name(name) if name else None
