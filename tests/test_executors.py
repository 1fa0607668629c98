"""Executors for real: worker processes, a Dask LocalCluster on loopback, killed processes.

The test plugin is a fake installed distribution on PYTHONPATH, so run hosts and Dask workers
(which inherit the environment) load it through its entry point, as they load any plugin.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from importlib.metadata import entry_points

import pytest
import torch
from conftest import make_distribution

from aebench import cli
from aebench.execute import suite
from aebench.execute.executors import DaskExecutor, InlineExecutor, ProcessExecutor, make_executor
from aebench.execute.host import WorkerSetup
from aebench.records import storage
from aebench.registry.loading import load_registry
from aebench.run import runner

distributed = pytest.importorskip("distributed")

# every plugin but the digits data set, PCA, the mean row and the test plugin: hosts start faster
KEEP = {"digits", "pca", "mean", "faulty"}
BUDGET = 2000
PLUGIN = """
import os, signal, time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from aebench import Capabilities, TorchModel, hookimpl

MARKS = Path(os.environ["AEBENCH_TEST_MARKS"])


@dataclass(frozen=True)
class Cfg:
    @classmethod
    def tiny(cls):
        return cls()


class Lin(TorchModel):
    capabilities = Capabilities(inputs=("vector", "image"))

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        self.enc, self.dec = nn.Linear(spec.dim, code_size), nn.Linear(code_size, spec.dim)

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)

    def loss(self, batch):
        return ((self.decode(self.encode(batch)) - batch) ** 2).sum(1).mean()


class Sleeper(Lin):
    def fit(self, train, ctx):
        time.sleep(600)


class Crasher(Lin):
    def fit(self, train, ctx):
        os.kill(os.getpid(), signal.SIGKILL)


class Flaky(Lin):  # dies the first time it runs, trains the second time
    def fit(self, train, ctx):
        mark = MARKS / f"flaky-{ctx.generator.initial_seed()}"
        if not mark.exists():
            mark.write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        super().fit(train, ctx)


class Slow(Lin):  # says which process runs it (a host; its parent is the Dask worker)
    def fit(self, train, ctx):
        (MARKS / f"slow-{os.getpid()}").write_text(str(os.getppid()))
        time.sleep(1.5)
        super().fit(train, ctx)


@hookimpl
def aebench_register_models(register):
    for name, cls in [("lin", Lin), ("sleeper", Sleeper), ("crasher", Crasher),
                      ("flaky", Flaky), ("slow", Slow)]:
        register(name, cls, config=Cfg)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The test plugin installed on PYTHONPATH, for this process and every child it starts."""
    root = tmp_path_factory.mktemp("executors")
    site, marks = root / "site", root / "marks"
    marks.mkdir()
    make_distribution(
        site, "aebench-faulty", {"aebench_faulty": PLUGIN}, {"faulty": "aebench_faulty"}
    )
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "AEBENCH_TEST_MARKS", "OMP_NUM_THREADS")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved["PYTHONPATH"]]))
    os.environ["AEBENCH_TEST_MARKS"] = str(marks)
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(site))
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def registry(env):
    every = {ep.name for ep in entry_points(group="aebench")}
    return load_registry(disabled=every - KEEP)


@pytest.fixture(scope="module")
def setup(registry, env):
    every = {ep.name for ep in entry_points(group="aebench")}
    return WorkerSetup(
        device="cpu",
        threads=1,
        disabled=tuple(sorted(every - KEEP)),
        data_dir=str(env / "data"),
        download=False,
    )


@pytest.fixture(scope="module")
def cluster(registry, setup):
    """``--cluster local:2``: our own LocalCluster, two single-threaded worker processes."""
    ex = make_executor(registry, torch.device("cpu"), None, setup, cluster="local:2")
    assert isinstance(ex, DaskExecutor)
    yield ex
    ex.close()


def _plan(registry, models, seeds=(0,)):
    return runner.plan(
        registry, models, ["digits"], seeds=seeds, protocol_overrides={"budget_samples": BUDGET}
    )


def _suite(registry, models, results, executor=None, seeds=(0,), **kw):
    data = runner.DataCache(registry, results.parent, False, torch.device("cpu"))
    return suite.run_suite(
        registry,
        _plan(registry, models, seeds),
        results,
        torch.device("cpu"),
        data,
        executor=executor,
        **kw,
    )


VARIES = {
    "fit_s",
    "eval_s",
    "train_samples_per_s",
    "steady_train_samples_per_s",
    "infer_samples_per_s",
    "peak_rss_mb",
    "peak_cuda_mb",
}


def _comparable(records):
    """What must not depend on where a run executed: everything but time and provenance."""
    out = {}
    for r in records:
        metrics = {k: v for k, v in r["metrics"].items() if k not in VARIES}
        training = {k: v for k, v in r["training"].items() if k != "peak_rss"}
        out[r["run_id"]] = (
            r["status"],
            metrics,
            training,
            r["likelihood"],
            r["device"]["threads"],
            r["model"]["config"],
        )
    return out


@pytest.mark.cluster
def test_cluster_records_match_local_records(registry, cluster, tmp_path):
    torch.set_num_threads(1)
    local = _suite(registry, ["pca", "lin"], tmp_path / "local", seeds=(0, 1))
    remote = _suite(registry, ["pca", "lin"], tmp_path / "cluster", cluster, seeds=(0, 1))
    assert len(remote.done) == 4 and {r["status"] for r in remote.done} == {"ok"}
    assert _comparable(remote.done) == _comparable(local.done)
    # every record and its arrays are on disk, as a local run writes them
    for sub in ("local", "cluster"):
        files = sorted(p.relative_to(tmp_path / sub) for p in (tmp_path / sub).rglob("seed-*"))
        assert len(files) == 8, files


@pytest.mark.cluster
def test_an_existing_scheduler_by_address(registry, cluster, setup, tmp_path):
    address = cluster.cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    with make_executor(registry, torch.device("cpu"), None, setup, cluster=address) as ex:
        assert ex.cluster is None  # we connect; we do not start or stop that cluster
        summary = _suite(registry, ["pca"], tmp_path / "rec", ex)
    assert [r["status"] for r in summary.done] == ["ok"]
    assert cluster.client.status == "running"


@pytest.mark.cluster
def test_a_run_whose_process_dies_is_retried_once_then_failed(registry, cluster, tmp_path):
    summary = _suite(registry, ["crasher", "flaky"], tmp_path / "rec", cluster)
    by_model = {r["model"]["name"]: r for r in summary.done}
    assert by_model["flaky"]["status"] == "ok"  # died once, the retry trained
    crashed = by_model["crasher"]
    assert crashed["status"] == "failed"
    assert (
        crashed["reason"]
        == "the process running it died twice (killed by SIGKILL; killed by SIGKILL)"
    )
    assert crashed["dataset"]["n_fit"] > 0  # the record is as complete as a local failure's


@pytest.mark.cluster
def test_run_timeout_records_timeout_and_the_next_run_completes(registry, cluster, tmp_path):
    cluster.run_timeout = 2.0
    try:
        summary = _suite(registry, ["sleeper", "lin", "pca"], tmp_path / "rec", cluster)
        by_model = {r["model"]["name"]: r for r in summary.done}
        assert by_model["sleeper"]["status"] == "timeout"
        assert by_model["sleeper"]["reason"] == "stopped at the --run-timeout of 2 s"
        assert by_model["sleeper"]["run_timeout_s"] == 2.0
        assert by_model["lin"]["status"] == by_model["pca"]["status"] == "ok"
        # resumed under the same limit, a timeout is not rerun
        again = _suite(registry, ["sleeper", "lin", "pca"], tmp_path / "rec", cluster)
        assert not again.done and len(again.skipped) == 3
    finally:
        cluster.run_timeout = None
    path = tmp_path / "rec" / "x.json"
    storage.write_record(path, {**by_model["sleeper"]})
    assert suite._recorded(path, None)  # no limit given: kept (it might never end)
    assert suite._recorded(path, 2.0)
    assert not suite._recorded(path, 5.0)  # a larger limit reruns it


def test_run_timeout_alone_runs_in_a_worker_process(registry, setup):
    ex = make_executor(registry, torch.device("cpu"), None, setup, run_timeout=3)
    assert isinstance(ex, ProcessExecutor) and ex.jobs == 1 and ex.run_timeout == 3
    ex.close()
    assert isinstance(make_executor(registry, torch.device("cpu"), None, setup), InlineExecutor)


@pytest.mark.e2e  # two run hosts, each a new process
def test_interrupt_records_nothing_for_runs_in_flight(registry, setup, tmp_path):
    class CtrlC(suite.Reporter):
        def end(self, req, record):
            raise KeyboardInterrupt  # as if Ctrl-C arrived while the sleeper is still running

    ex = ProcessExecutor(registry, torch.device("cpu"), setup, jobs=2)
    with pytest.raises(KeyboardInterrupt), ex:
        _suite(registry, ["sleeper", "pca"], tmp_path / "rec", ex, reporter=CtrlC())
    files = sorted(p.name for p in (tmp_path / "rec").rglob("*") if p.is_file())
    assert files == ["seed-0.json", "seed-0.npz"]  # the finished pca run only
    assert all(slot.host is None for slot in ex._slots)  # every host was stopped


@pytest.mark.cluster
def test_killing_a_dask_worker_mid_grid_completes_the_grid(registry, cluster, env, tmp_path):
    marks = env / "marks"
    before = set(cluster.client.run(os.getpid).values())
    killed = []

    def kill_first_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for mark in marks.glob("slow-*"):
                pid = int(mark.read_text())
                if pid in before:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    summary = _suite(registry, ["slow", "pca"], tmp_path / "rec", cluster, seeds=(0, 1))
    killer.join()
    assert killed, "no worker was running a slow run"
    assert sorted(r["status"] for r in summary.done) == ["ok"] * 4
    assert killed[0] not in set(cluster.client.run(os.getpid).values())


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--jobs", "0"], "--jobs 0: give at least 1 worker process"),
        (["--cluster", "bogus"], "--cluster 'bogus': expected a scheduler address like tcp://"),
        (["--cluster", "local:0"], "--cluster 'local:0': expected"),
        (["--jobs", "2", "--cluster", "local:2"], "--jobs and --cluster exclude each other"),
        (["--run-timeout", "0"], "--run-timeout 0: give a positive number of seconds"),
        (["--run-timeout", "soon"], "argument --run-timeout: invalid float value: 'soon'"),
    ],
)
def test_bad_executor_flags_are_one_line(args, needle, tmp_path, capsys):
    code = cli.main(["run", "-m", "pca", "--results-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_unreachable_scheduler_and_missing_dask_are_one_line(tmp_path, capsys, monkeypatch):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = cli.main(
            ["run", "-m", "pca", "--results-dir", str(tmp_path), "--cluster", "tcp://127.0.0.1:9"]
        )
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert "--cluster tcp://127.0.0.1:9: cannot reach a Dask scheduler there" in err
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    code = cli.main(["run", "-m", "pca", "--results-dir", str(tmp_path), "--cluster", "local:2"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert "Dask distributed is not installed; install it with `pip install 'aebench[dask]'`" in err
