"""The ``aebench_run_recorded`` hook: plugins hear of each record once it is on disk; one that
raises is reported once and loses no record; a suite killed while telling them tells them
again on the next run, and never tells them of a record it skips."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch

from aebench import AebenchWarning, hookimpl
from aebench.execute import suite
from aebench.records import artifacts, storage
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.testing import ToyPlugin


class Listener:
    """A tracker plugin that writes down what it is told, checking the files as it is."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    @hookimpl
    def aebench_run_recorded(self, record, record_path, arrays_path, options):
        on_disk = json.loads(record_path.read_text())
        assert on_disk == record  # the record as stored, already safely written
        assert arrays_path is None or arrays_path == artifacts.sidecar(record_path)
        assert arrays_path is None or arrays_path.exists()
        self.calls.append({"run_id": record["run_id"], "options": options})


class Failing:
    @hookimpl
    def aebench_run_recorded(self, record):  # a plugin may take fewer arguments
        raise RuntimeError(f"tracker down for {record['run_id']}")


def _registry(*plugins):
    return load_registry(allowed=["pca", "mean"], extra_plugins=[("toy", ToyPlugin), *plugins])


def _suite(registry, tmp_path, trackers=None, models=("pca", "mean")):
    reqs = runner.plan(registry, list(models), ["toy"], seeds=[0])
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    rd = tmp_path / "rec"
    return suite.run_suite(registry, reqs, rd, torch.device("cpu"), data, trackers=trackers), rd


def test_each_record_written_is_told_once_with_its_paths_and_options(tmp_path):
    listener = Listener()
    registry = _registry(("listener", listener))
    summary, rd = _suite(registry, tmp_path, trackers={"mlflow": "1"})
    assert sorted(c["run_id"] for c in listener.calls) == sorted(r["run_id"] for r in summary.done)
    assert all(c["options"] == {"mlflow": "1"} for c in listener.calls)
    assert not list(rd.rglob(".*.hooks-pending"))  # every plugin was told: no marker left

    _suite(registry, tmp_path, trackers={})  # resumed: both records are skipped
    assert len(listener.calls) == 2


def test_without_trackers_no_plugin_hears_of_the_runs(tmp_path):
    listener = Listener()
    _suite(_registry(("listener", listener)), tmp_path, trackers=None)  # tuning, reproduce
    assert listener.calls == []


def test_a_plugin_that_raises_is_reported_once_and_loses_no_record(tmp_path):
    listener = Listener()
    registry = _registry(("failing", Failing()), ("listener", listener))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary, rd = _suite(registry, tmp_path, trackers={})
    lines = [str(w.message) for w in caught if issubclass(w.category, AebenchWarning)]
    assert len(lines) == 1, lines
    assert "plugin 'failing' failed on the record" in lines[0]
    assert "RuntimeError: tracker down for" in lines[0] and "\n" not in lines[0]
    assert summary.plugin_failures == {"failing": 2}
    assert len(listener.calls) == 2  # the other plugin still heard of both
    for rec in summary.done:
        assert storage.is_complete(
            storage.record_path(rd, rec["group"], "toy", rec["model"]["name"], 0)
        )


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_a_record_whose_plugins_a_killed_suite_had_not_told_is_told_on_the_next_run(tmp_path):
    """What a kill between writing a record and telling the plugins leaves: the record and the
    marker (with the dead writer's pid). The next suite tells the plugins of that record only,
    then removes the marker; a marker whose record was never written is just removed."""
    listener = Listener()
    registry = _registry(("listener", listener))
    summary, rd = _suite(registry, tmp_path, trackers={})
    pca = next(r for r in summary.done if r["model"]["name"] == "pca")
    path = storage.record_path(rd, pca["group"], "toy", "pca", 0)
    told = path.with_name(".seed-0.hooks-pending")
    told.write_text(str(_dead_pid()))
    never = path.parent.parent / "gone" / ".seed-0.hooks-pending"  # its record never written
    never.parent.mkdir()
    never.write_text(str(_dead_pid()))
    listener.calls.clear()

    _suite(registry, tmp_path, trackers={})
    assert [c["run_id"] for c in listener.calls] == [pca["run_id"]]
    assert not told.exists() and not never.exists()


def test_a_live_suites_marker_is_left_to_it(tmp_path):
    listener = Listener()
    registry = _registry(("listener", listener))
    summary, rd = _suite(registry, tmp_path, trackers={})
    rec = summary.done[0]
    marker = storage.record_path(rd, rec["group"], "toy", rec["model"]["name"], 0)
    marker = marker.with_name(".seed-0.hooks-pending")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            marker.write_text(str(other.pid))
            listener.calls.clear()
            _suite(registry, tmp_path, trackers={})
            assert listener.calls == [] and marker.exists()
        finally:
            other.kill()


@pytest.mark.parametrize("hook", ["aebench_run_recorded"])
def test_the_hook_is_a_registered_spec(hook):
    from aebench.registry.loading import make_manager

    assert getattr(make_manager().hook, hook).spec is not None
