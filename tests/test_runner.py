"""The runner's isolation of faulty models, and storage's atomicity, in-process."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from toy_models import Cfg
from toy_models import LinearAE as _Linear

from aebench import Capabilities, hookimpl
from aebench.execute import suite
from aebench.records import storage
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.testing import ToyPlugin


class Raises(_Linear):
    def fit(self, train, ctx):
        raise RuntimeError("fit exploded")


class NaNLoss(_Linear):
    def loss(self, batch):
        return super().loss(batch) * torch.tensor(float("nan"))


class TokensOnly(_Linear):
    capabilities = Capabilities(inputs=("tokens",))


class WrongShape(_Linear):
    def reconstruct(self, x):  # trains fine, returns the wrong shape at evaluation
        return super().reconstruct(x)[:, :-1]


class Interrupt(_Linear):
    def fit(self, train, ctx):
        raise KeyboardInterrupt


class Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        for name, cls in [
            ("good", _Linear),
            ("raises", Raises),
            ("nan", NaNLoss),
            ("tokens", TokensOnly),
            ("shape", WrongShape),
            ("interrupt", Interrupt),
        ]:
            register(name, cls, config=Cfg)


@pytest.fixture
def registry():
    return load_registry(
        disabled={"pca", "mean", "rbm", "vae", "sparse_ae", "denoising_ae", "conv_ae", "lstm_ae"},
        extra_plugins=[("toy", ToyPlugin), ("faulty", Plugin)],
    )


def _suite(registry, models, tmp_path, **kw):
    reqs = runner.plan(registry, models, ["toy"], seeds=[0])
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    return suite.run_suite(registry, reqs, tmp_path / "rec", torch.device("cpu"), data, **kw)


def test_each_fault_is_isolated_to_its_own_row(registry, tmp_path):
    summary = _suite(registry, ["raises", "nan", "tokens", "shape", "good"], tmp_path)
    by_model = {r["model"]["name"]: r for r in summary.done}
    assert by_model["good"]["status"] == "ok"
    assert by_model["raises"]["status"] == "failed"
    assert by_model["raises"]["reason"] == "RuntimeError: fit exploded"
    assert by_model["nan"]["status"] == "diverged" and by_model["nan"]["diverged_step"] == 0
    assert by_model["tokens"]["status"] == "not-applicable"
    assert "accepts tokens" in by_model["tokens"]["reason"]
    assert by_model["shape"]["status"] == "failed"
    assert "reconstruct returned shape (48, 63)" in by_model["shape"]["reason"]
    # every record is on disk and readable
    records, problems = storage.load_records(tmp_path / "rec")
    assert len(records) == 5 and not problems


def test_failed_runs_are_retried_complete_ones_are_not(registry, tmp_path):
    _suite(registry, ["raises", "good"], tmp_path)
    again = _suite(registry, ["raises", "good"], tmp_path)
    assert [r["model"]["name"] for r in again.done] == ["raises"]
    assert [r.model for r in again.skipped] == ["good"]


def test_interrupt_keeps_finished_records_and_writes_nothing_for_the_current_run(
    registry, tmp_path
):
    with pytest.raises(KeyboardInterrupt):
        _suite(registry, ["good", "interrupt"], tmp_path)
    files = sorted(
        p.relative_to(tmp_path / "rec").as_posix()
        for p in (tmp_path / "rec").rglob("*")
        if p.is_file()
    )
    assert files == ["toy-v1/toy/good/seed-0.json", "toy-v1/toy/good/seed-0.npz"]


def test_write_record_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "a" / "r.json"
    storage.write_record(path, {"format": 1, "status": "ok", "x": 1})
    before = path.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(OSError):
        storage.write_record(path, {"format": 1, "status": "ok", "x": 2})
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_unreadable_records_are_reported_and_skipped(tmp_path):
    good = {"format": 1, "status": "ok", "group": "g", "seed": 0, "metrics": {}, "protocol": {}}
    storage.write_record(
        tmp_path / "good.json", {**good, "model": {"name": "m"}, "dataset": {"name": "d"}}
    )
    (tmp_path / "partial.json").write_text(json.dumps({"format": 1, "status": "ok", "seed": "0"}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "future.json").write_text(json.dumps({"format": 99, "status": "ok"}))
    (tmp_path / "other.json").write_text(json.dumps([1, 2]))
    records, problems = storage.load_records(tmp_path)
    assert len(records) == 1
    assert len(problems) == 4
    assert any("broken.json: not a valid JSON record" in p for p in problems)
    assert any("format 99 is newer" in p for p in problems)
    assert any("partial.json: not a complete aebench record (no dataset, " in p for p in problems)


def test_temporaries_from_a_killed_run_are_swept(tmp_path):
    d = tmp_path / "g" / "d" / "m"
    d.mkdir(parents=True)
    (d / ".aebench-tmp-abc").write_text("{")
    assert storage.sweep_temporaries(tmp_path) == 1
    assert not list(tmp_path.rglob(".aebench-tmp-*"))


def test_a_sweep_spares_the_temporary_a_live_process_is_writing(tmp_path):
    """Two aebench processes on one results directory: one's start must not break the other."""
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    d = tmp_path / "g" / "d" / "m"
    d.mkdir(parents=True)
    live = d / f".aebench-tmp-{os.getpid()}-x1"
    gone = d / f".aebench-tmp-{int(dead.stdout)}-x2"
    live.write_text("{")
    gone.write_text("{")
    assert storage.sweep_temporaries(tmp_path) == 1
    assert live.exists() and not gone.exists()


def test_non_finite_metrics_become_null_with_a_warning():
    rec = runner._finite({"a": math.nan, "b": [1.0, math.inf], "c": {"d": 2.0}})
    assert rec == {"a": None, "b": [1.0, None], "c": {"d": 2.0}}
