"""The built-in MLflow adapter, end to end against a real local store (SQLite): after
``aebench run --mlflow-uri``, ``mlflow.search_runs`` finds one run per record with the
record's metrics, its protocol, config and seed as parameters, the loss and validation curves
as steps, and the record and arrays as artifacts; a resumed run logs nothing twice, and a run
half-logged by a killed suite is replaced, not duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

mlflow = pytest.importorskip(
    "mlflow", reason="MLflow is not installed (pip install 'aebench[mlflow]')"
)

PLUGINS = ("--plugin", "digits", "--plugin", "pca", "--plugin", "sparse_ae", "--plugin", "mlflow")
GRID = ("run", "-m", "pca,sparse_ae", "--seeds", "0", "--budget", "1000", "--threads", "1", "-q")
CURVE = ("--protocol-set", "val_curve_points=4")


def _records(rd: Path) -> dict[str, dict]:
    return {
        r["run_id"]: r for r in (json.loads(p.read_text()) for p in sorted(rd.rglob("seed-*.json")))
    }


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("aebench")
    return client, client.search_runs([exp.experiment_id])


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    uri, rd = f"sqlite:///{tmp / 'mlflow.db'}", tmp / "runs"
    res = run_cli(*GRID, *CURVE, *PLUGINS, "--mlflow-uri", uri, "--results-dir", str(rd), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return uri, rd, tmp


def test_search_runs_finds_each_record_with_its_metrics_and_params(logged):
    uri, rd, tmp = logged
    records = _records(rd)
    mlflow.set_tracking_uri(uri)
    table = mlflow.search_runs(experiment_names=["aebench"])
    assert sorted(table["tags.aebench.run_id"]) == sorted(records)
    assert set(table["status"]) == {"FINISHED"}
    for _, row in table.iterrows():
        rec = records[row["tags.aebench.run_id"]]
        for name, value in rec["metrics"].items():
            if value is not None:
                assert row[f"metrics.{name}"] == pytest.approx(value, rel=0, abs=0), name
        assert row["params.protocol"] == rec["protocol"]["key"]
        assert row["params.seed"] == str(rec["seed"])
        assert row["params.model"] == rec["model"]["name"]
        assert row["params.protocol.budget_samples"] == "1000"
        for field, value in rec["model"]["config"].items():
            assert row[f"params.model.config.{field}"] == (
                value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            )
    assert not (tmp / "mlruns").exists() or (tmp / "mlruns").is_dir()  # beside the database


def test_curves_are_steps_and_the_record_and_arrays_are_artifacts(logged):
    uri, rd, _ = logged
    records = _records(rd)
    client, runs = _runs(uri)
    for run in runs:
        rec = records[run.data.tags["aebench.run_id"]]
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"seed-0.json", "seed-0.npz"} <= files
        loss = client.get_metric_history(run.info.run_id, "train.loss")
        assert [m.value for m in sorted(loss, key=lambda m: m.step)] == pytest.approx(
            rec["training"]["loss_curve"], rel=0, abs=0
        )
        curve = rec["training"].get("val_curve")
        if rec["model"]["name"] == "sparse_ae":
            assert curve, "the protocol asked for a validation curve"
            steps = client.get_metric_history(run.info.run_id, "val.curve")
            assert sorted((m.step, m.value) for m in steps) == [(s, v) for s, v in curve]


def test_a_resumed_run_logs_nothing_twice(logged):
    uri, rd, tmp = logged
    before = {r.info.run_id for r in _runs(uri)[1]}
    res = run_cli(*GRID, *CURVE, *PLUGINS, "--mlflow-uri", uri, "--results-dir", str(rd), cwd=tmp)
    assert res.returncode == 0, res.stderr
    assert "2 already recorded" in res.stderr
    assert {r.info.run_id for r in _runs(uri)[1]} == before


def test_a_half_logged_run_is_replaced_once_the_suite_is_run_again(logged, tmp_path):
    """A suite killed while logging leaves its record, the marker and an unfinished MLflow run
    tagged with the record's digest; the next run deletes that and logs the record once."""
    import hashlib

    uri, rd, tmp = logged
    client, runs = _runs(uri)
    victim = runs[0]
    path = Path(victim.data.tags["aebench.record_path"])
    client.delete_run(victim.info.run_id)  # as if never finished: a RUNNING run instead
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    half = client.create_run(
        victim.info.experiment_id, tags={"aebench.record_sha256": digest}
    ).info.run_id
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    path.with_name(".seed-0.hooks-pending").write_text(dead.stdout.strip())

    res = run_cli(*GRID, *CURVE, *PLUGINS, "--mlflow-uri", uri, "--results-dir", str(rd), cwd=tmp)
    assert res.returncode == 0, res.stderr
    _, after = _runs(uri)
    assert half not in {r.info.run_id for r in after}
    ids = [r.data.tags["aebench.run_id"] for r in after]
    assert sorted(ids) == sorted(_records(rd)) and {r.info.status for r in after} == {"FINISHED"}


def test_mlflow_without_its_plugin_fails_before_training_in_one_line(tmp_path):
    res = run_cli(
        *GRID, "--plugin", "digits", "--plugin", "pca", "--mlflow", "--results-dir", str(tmp_path)
    )
    assert res.returncode == 2
    assert "--mlflow: the plugin 'mlflow' is not loaded; add --plugin mlflow" in res.stderr
    assert not list(tmp_path.rglob("*.json"))


def test_off_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("AEBENCH_MLFLOW", raising=False)
    res = run_cli(*GRID, *PLUGINS, "--results-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
