"""Trained models kept on request (``--save-models``): safetensors beside the record, never
pickle; ``aebench.load_model`` rebuilds the model, refuses one today's code no longer has, and
reproduces the record's test metrics exactly on this CPU; nothing saved by default, and no
weights in the published results. A kill mid-suite leaves nothing half-written (e2e)."""

from __future__ import annotations

import hashlib
import json
import pickle
import signal
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, install_faulty_plugins, run_cli, start_cli

import aebench
from aebench import AebenchError
from aebench.registry.loading import load_registry
from aebench.run import saved

PLUGINS = ("--plugin", "digits", "--plugin", "pca", "--plugin", "mean", "--plugin", "sparse_ae")
GRID = ("run", "-m", "pca,mean,sparse_ae", "--seeds", "0", "--budget", "2000", "--threads", "1")


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> Path:
    rd = tmp_path_factory.mktemp("saved") / "runs"
    res = run_cli(*GRID, "-q", *PLUGINS, "--save-models", "--results-dir", str(rd))
    assert res.returncode == 0, res.stderr
    return rd


def _record(rd: Path, model: str) -> Path:
    (path,) = rd.rglob(f"{model}/seed-0.json")
    return path


@pytest.mark.parametrize("model", ["pca", "mean", "sparse_ae"])
def test_a_reloaded_model_reproduces_its_records_test_metrics_exactly(kept, model):
    path = _record(kept, model)
    record = json.loads(path.read_text())
    info = record["saved_model"]
    weights = path.with_name(info["file"])
    assert weights.name == "seed-0.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == info["sha256"]
    registry = load_registry(allowed=["digits", "pca", "mean", "sparse_ae"])
    loaded = aebench.load_model(path, registry)
    assert type(loaded).__name__ == {"pca": "PCA", "mean": "MeanBaseline"}.get(model, "SparseAE")
    fresh = saved.recomputed_metrics(path, loaded, registry)
    assert len(fresh) >= 4
    assert fresh == {k: record["metrics"][k] for k in fresh}  # bit for bit


def test_the_file_is_safetensors_with_config_and_fingerprint_and_no_pickle(kept):
    path = _record(kept, "sparse_ae")
    record = json.loads(path.read_text())
    state, meta = saved.read(path.with_suffix(".safetensors"))
    assert meta["implementation"] == record["model"]["implementation"]
    assert meta["config"] == record["model"]["config"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    blob = path.with_suffix(".safetensors").read_bytes()
    assert not blob.startswith(b"\x80")  # no pickle protocol header
    # a pickle in its place is refused without being unpickled
    evil = path.parent / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"w": [1.0]}))
    with pytest.raises(AebenchError, match="not a saved aebench model"):
        saved.read(evil)


def test_pca_keeps_its_float64_noise_variance_exactly(kept):
    state, meta = saved.read(_record(kept, "pca").with_suffix(".safetensors"))
    assert meta["scalars"]["noise_var"] == "float" and isinstance(state["noise_var"], float)
    assert isinstance(state["method"], tuple)


def test_a_stale_or_swapped_model_is_refused_in_one_line(kept, tmp_path):
    path = _record(kept, "pca")
    copy = tmp_path / "seed-0.json"
    record = json.loads(path.read_text())
    record["model"]["implementation"]["code"] = "0" * 12
    record["model"]["implementation"]["fingerprint"] = "0" * 12
    copy.write_text(json.dumps(record))
    copy.with_suffix(".safetensors").write_bytes(path.with_suffix(".safetensors").read_bytes())
    registry = load_registry(allowed=["digits", "pca"])
    with pytest.raises(AebenchError, match="made by another implementation") as exc:
        aebench.load_model(copy, registry)
    assert "\n" not in str(exc.value)

    record = json.loads(path.read_text())
    copy.write_text(json.dumps(record))
    other = _record(kept, "mean").with_suffix(".safetensors")
    copy.with_suffix(".safetensors").write_bytes(other.read_bytes())
    with pytest.raises(AebenchError, match="not the saved model its record was written with"):
        aebench.load_model(copy, registry)


def test_nothing_is_saved_by_default_and_load_model_says_how(tmp_path):
    rd = tmp_path / "runs"
    grid = ("run", "-m", "pca", "--seeds", "0", "--budget", "2000", "--threads", "1", "-q")
    res = run_cli(*grid, *PLUGINS, "--results-dir", str(rd))
    assert res.returncode == 0, res.stderr
    assert not list(rd.rglob("*.safetensors"))
    with pytest.raises(AebenchError, match="run it with --save-models"):
        aebench.load_model(_record(rd, "pca"))


def test_a_model_holding_a_foreign_object_says_it_cannot_be_saved():
    from aebench import DataSpec

    registry = load_registry(allowed=["isolation_forest"])
    entry = registry.model("isolation-forest")
    model = entry.factory(DataSpec(4, (4,), "vector"), 2, entry.make_config(tiny=True))
    model.forest = object()  # what its fit leaves: a scikit-learn estimator
    record = {"model": {"name": "isolation-forest"}}
    with pytest.raises(NotImplementedError, match="IsolationForest.forest holds a object"):
        saved.capture(model, model.spec, 2, record)


def test_a_worker_process_saves_the_same_model_as_this_process(kept, tmp_path):
    """``--jobs``: the weights come back from the run host as bytes, and are the same."""
    rd = tmp_path / "runs"
    grid = ("run", "-m", "pca", "--seeds", "0", "--budget", "2000", "--threads", "1", "-q")
    res = run_cli(*grid, *PLUGINS, "--save-models", "--jobs", "1", "--results-dir", str(rd))
    assert res.returncode == 0, res.stderr
    mine = _record(rd, "pca").with_suffix(".safetensors").read_bytes()
    assert mine == _record(kept, "pca").with_suffix(".safetensors").read_bytes()


def test_published_results_commit_no_weights():
    assert not list((REPO / "results").rglob("*.safetensors"))


@pytest.mark.e2e
def test_sigkill_while_writing_leaves_no_half_saved_model_and_a_rerun_completes(tmp_path):
    """Killed between a record's temporary file and its rename (its weights and arrays are
    written by then): the rerun writes each record once, each with its own weights, and MLflow
    holds one finished run per record."""
    mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed")
    env = install_faulty_plugins(tmp_path / "site")
    rd, marker, log = tmp_path / "runs", tmp_path / "paused", tmp_path / "killed"
    grid = ("run", "-m", "pca,tiny-ae,mean", "--seeds", "0", "--budget", "2000", "--threads", "1")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = (*grid, "-q", "--save-models", "--mlflow-uri", uri, "--results-dir", str(rd))
    proc = start_cli(*args, env={**env, "FAULTY_PAUSE_WRITE": f"2:{marker}"}, log=log)
    end = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, log.with_suffix(".err").read_text()
        assert time.monotonic() < end
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert len(list(rd.rglob("seed-0.json"))) == 1

    res = run_cli(*args, env=env)
    assert res.returncode == 0, res.stderr
    records = list(rd.rglob("seed-0.json"))
    assert len(records) == 3
    for path in records:
        info = json.loads(path.read_text())["saved_model"]
        blob = path.with_name(info["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == info["sha256"]
    names = sorted(p.name for p in rd.rglob("*") if p.is_file())
    assert names == sorted(["seed-0.json", "seed-0.npz", "seed-0.safetensors"] * 3)
    mlflow.set_tracking_uri(uri)
    table = mlflow.search_runs(experiment_names=["aebench"])
    assert sorted(table["tags.aebench.run_id"]) == sorted(
        json.loads(p.read_text())["run_id"] for p in records
    )
    assert set(table["status"]) == {"FINISHED"}
