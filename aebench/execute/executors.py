"""Where runs execute: in this process, in N local worker processes, or on a Dask cluster.

An executor takes the suite's run requests and yields ``(request, outcome)`` as each run
finishes (``aebench.run.runner.RunOutcome``: the record and its arrays); the suite writes every
record atomically as it arrives, so resume works the same wherever the runs executed. Outside
this process each run executes in a run host (``aebench.execute.host``), which loads plugins
and data itself; only the request travels to a worker and only plain data (the record, numpy
arrays) comes back.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone

import torch

from aebench.errors import AebenchError, one_line
from aebench.execute.host import Outcome, Slot, WorkerSetup, dask_task
from aebench.registry.entries import Registry
from aebench.run import runner
from aebench.run.runner import DataCache, RunOutcome, RunRequest

__all__ = [
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "WorkerSetup",
    "make_executor",
]

Begin = Callable[[RunRequest], None]
Step = Callable[[int, int], None]


class Executor:
    """Runs requests and yields ``(request, outcome)`` in the order they finish."""

    run_timeout: float | None = None
    #: whether runs execute outside this process (a run host's limits apply)
    isolated = False

    def __init__(self) -> None:
        self.in_flight: list[RunRequest] = []

    def run(
        self, requests: Sequence[RunRequest], begin: Begin, step: Step
    ) -> Iterator[tuple[RunRequest, RunOutcome]]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop whatever is still running and release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(Executor):
    """One run after another in this process (the default: progress bars, no isolation)."""

    def __init__(self, registry: Registry, device: torch.device, data: DataCache) -> None:
        super().__init__()
        self.registry, self.device, self.data = registry, device, data

    def run(self, requests, begin, step):
        for req in requests:
            self.in_flight = [req]
            begin(req)
            outcome = runner.run_one(self.registry, req, self.device, self.data, progress=step)
            self.in_flight = []
            yield req, outcome


class _Completing(Executor):
    """Shared by executors whose runs come back as outcomes from run hosts."""

    isolated = True

    def __init__(self, registry: Registry, device: torch.device, setup: WorkerSetup):
        super().__init__()
        self.registry, self.device, self.setup = registry, device, setup

    def _complete(self, req: RunRequest, out: Outcome) -> RunOutcome:
        if out.status is None and out.record is not None:
            return RunOutcome(out.record, out.arrays, out.weights)
        record = out.record or runner.new_record(self.registry, req, self.device)
        record.update(status=out.status, reason=out.reason, **out.extra)
        record["finished"] = datetime.now(timezone.utc).isoformat()
        return RunOutcome(record)


class ProcessExecutor(_Completing):
    """``jobs`` runs at once on this machine, each in a run host of its own."""

    def __init__(self, registry, device, setup, jobs: int, run_timeout: float | None = None):
        super().__init__(registry, device, setup)
        self.jobs, self.run_timeout = jobs, run_timeout
        self._stop = threading.Event()
        self._slots = [Slot(setup, self._stop) for _ in range(jobs)]
        self._pool = ThreadPoolExecutor(jobs, thread_name_prefix="aebench-run")

    def run(self, requests, begin, step):
        free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        for slot in self._slots:
            free.put(slot)
        lock = threading.Lock()

        def task(req: RunRequest) -> Outcome | None:
            slot = free.get()
            try:
                if self._stop.is_set():
                    return None
                with lock:
                    self.in_flight.append(req)
                begin(req)
                # one run at a time: its steps can drive the progress bar
                return slot.run(req, self.run_timeout, step if self.jobs == 1 else None)
            finally:
                with lock:
                    if req in self.in_flight:
                        self.in_flight.remove(req)
                free.put(slot)

        futures = {self._pool.submit(task, req): req for req in requests}
        for fut in as_completed(futures):
            req = futures[fut]
            out = fut.result()  # an AebenchError from a host stops the suite here
            if out is not None:
                yield req, self._complete(req, out)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for slot in self._slots:
            slot.close()
        self._pool.shutdown(wait=True)


class DaskExecutor(_Completing):
    """Each run one Dask task; a CUDA run asks for the worker resource ``GPU``."""

    def __init__(self, registry, device, setup, address: str, run_timeout: float | None = None):
        super().__init__(registry, device, setup)
        self.address, self.run_timeout = address, run_timeout
        self.cluster, self.client = _connect(address, device)
        self.resources = {"GPU": 1} if device.type == "cuda" else None
        if self.resources:
            _check_gpu_workers(self.client, address)

    def run(self, requests, begin, step):
        from distributed import KilledWorker
        from distributed import as_completed as dask_completed

        futures = {}
        for req in requests:
            key = f"aebench-run-{req.group}/{req.dataset}/{req.model}/seed-{req.seed}"
            fut = self.client.submit(
                dask_task,
                self.setup,
                req,
                self.run_timeout,
                key=f"{key}-{os.urandom(4).hex()}",
                pure=False,
                resources=self.resources,
            )
            futures[fut] = req
        self.in_flight = list(requests)
        try:
            for fut in dask_completed(futures):
                req = futures[fut]
                try:
                    out = fut.result()
                except KilledWorker as exc:
                    reason = f"the Dask worker running it died ({one_line(exc)})"
                    out = Outcome(None, "failed", reason)
                except AebenchError:
                    raise
                except Exception as exc:
                    raise AebenchError(
                        f"the cluster at {self.address} could not run {req.label}: "
                        f"{one_line(exc)} (do its workers have this aebench and the plugins?)"
                    ) from None
                self.in_flight.remove(req)
                yield req, self._complete(req, out)
        finally:
            self.client.cancel(list(futures))

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.close()


def _connect(address: str, device: torch.device):
    try:
        import dask
        from dask.utils import parse_timedelta
        from distributed import Client, LocalCluster
    except ImportError:
        raise AebenchError(
            f"--cluster {address}: Dask distributed is not installed; "
            "install it with `pip install 'aebench[dask]'`"
        ) from None
    import logging

    if address.startswith("local:"):
        n = int(address.partition(":")[2])
        # our own cluster: a run whose worker dies is retried once, then reported
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
                resources={"GPU": 1} if device.type == "cuda" else None,
            )
        return cluster, Client(cluster)
    # an address with a typo should fail in seconds, not after the default half minute
    connect = min(10.0, parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))
    try:
        return None, Client(address, timeout=connect)
    except (OSError, TimeoutError) as exc:
        raise AebenchError(
            f"--cluster {address}: cannot reach a Dask scheduler there ({one_line(exc)}); "
            "start one with `dask scheduler` or check the address"
        ) from None


def _check_gpu_workers(client, address: str) -> None:
    workers = client.scheduler_info().get("workers", {})
    if workers and not any("GPU" in w.get("resources", {}) for w in workers.values()):
        raise AebenchError(
            f"--cluster {address}: the runs ask for a GPU but no worker offers the resource; "
            "start workers with `dask worker ADDRESS --resources GPU=1`, or pass --device cpu"
        )


# --- choosing one --------------------------------------------------------------------------

_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://", "inproc://")


def make_executor(
    registry: Registry,
    device: torch.device,
    data: DataCache,
    setup: WorkerSetup,
    jobs: int | None = None,
    cluster: str | None = None,
    run_timeout: float | None = None,
) -> Executor:
    """The executor the CLI's ``--jobs`` / ``--cluster`` / ``--run-timeout`` ask for.

    A time limit needs a run host, so ``--run-timeout`` alone means one worker process.
    """
    if run_timeout is not None and not run_timeout > 0:
        raise AebenchError(f"--run-timeout {run_timeout:g}: give a positive number of seconds")
    if jobs is not None and jobs < 1:
        raise AebenchError(f"--jobs {jobs}: give at least 1 worker process")
    if jobs is not None and cluster:
        raise AebenchError(
            "--jobs and --cluster exclude each other; --cluster local:N starts N Dask workers"
        )
    if cluster:
        _check_address(cluster)
        return DaskExecutor(registry, device, setup, cluster, run_timeout)
    if jobs is None and run_timeout is None:
        return InlineExecutor(registry, device, data)
    return ProcessExecutor(registry, device, setup, jobs or 1, run_timeout)


def _check_address(address: str) -> None:
    if address.startswith("local:"):
        n = address.partition(":")[2]
        if n.isdigit() and int(n) >= 1:
            return
    elif address.startswith(_SCHEMES) and address.split("://", 1)[1]:
        return
    raise AebenchError(
        f"--cluster {address!r}: expected a scheduler address like tcp://HOST:8786, "
        "or local:N to start N Dask workers on this machine"
    )
