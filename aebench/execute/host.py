"""Run hosts: the child processes that execute runs for the process and Dask executors.

A host is started with ``python -c`` (so it works under a daemonic Dask worker, too), loads
the plugins through their entry points and the data by path or by download into its own cache,
keeps both for the runs that follow, and answers each request with plain data: the record and
its numpy arrays. Messages are length-prefixed pickles on the host's stdin and (real) stdout.

The host is what makes a run's limits enforceable from outside: a run over its time limit is
stopped by killing the host (status ``timeout``), and a host that dies mid-run (a crash, the
OOM killer, a signal) is replaced and the run retried once, then recorded ``failed``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from aebench.errors import AebenchError
from aebench.registry.entries import Registry
from aebench.run import runner
from aebench.run.runner import DataCache, RunRequest

__all__ = ["Outcome", "Slot", "WorkerSetup", "dask_task"]

Step = Callable[[int, int], None]


@dataclass(frozen=True)
class WorkerSetup:
    """What a run host needs to rebuild the client's environment (plain data, picklable)."""

    device: str = "cpu"
    threads: int | None = None  #: torch threads in the host (None: torch's default there)
    disabled: tuple[str, ...] = ()  #: plugins left out, by entry-point or distribution name
    allowed: tuple[str, ...] | None = None  #: the only plugins loaded (None: every one)
    data_dir: str | None = None  #: None: the worker's own data cache
    download: bool = True


@dataclass
class Outcome:
    """A host's answer: a finished record, or what to record for a run it had to give up."""

    record: dict[str, Any] | None  #: finished; or as begun (None: it never began)
    status: str | None = None  #: None: ``record`` is final; else the status to record
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: a finished run's arrays (numpy), stored beside its record
    arrays: dict[str, Any] = field(default_factory=dict)
    #: its saved model (safetensors bytes), where the request asked to keep it
    weights: bytes | None = None


# --- messages ------------------------------------------------------------------------

_HEADER = 8
_PENDING = object()  # nothing arrived in time


def _send(stream, obj: Any) -> None:
    blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(blob).to_bytes(_HEADER, "big") + blob)
    while view:
        view = view[stream.write(view) or 0 :]
    stream.flush()


def _read_exactly(stream, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(stream, timeout: float | None = None) -> Any:
    """The next message; None at end of stream; _PENDING when ``timeout`` passes first."""
    if timeout is not None and not select.select([stream], [], [], timeout)[0]:
        return _PENDING
    head = _read_exactly(stream, _HEADER)
    body = head and _read_exactly(stream, int.from_bytes(head, "big"))
    return None if body is None else pickle.loads(body)


class _Host:
    """A child process that executes runs for one worker slot, one at a time."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from aebench.execute.host import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: select() on the pipe sees every byte that arrived
            start_new_session=True,  # Ctrl-C reaches the client, which stops the hosts
        )
        with contextlib.suppress(OSError):  # a host that dies at once is found dead in run()
            _send(self.proc.stdin, setup)

    def run(self, req: RunRequest, timeout: float | None, step: Step | None):
        """``("done", (record, arrays, weights), None)``, ``("timeout", None, begun)`` or
        ``("died", why, begun)``."""
        try:
            _send(self.proc.stdin, (req, step is not None))
        except OSError:
            return "died", self._death(), None
        begun, deadline = None, None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = _recv(self.proc.stdout, wait)
            if msg is _PENDING:
                return "timeout", None, begun
            if msg is None:
                return "died", self._death(), begun
            kind, body = msg
            if kind == "begin":  # data loaded: the time limit counts from here
                begun = body
                deadline = None if timeout is None else time.monotonic() + timeout
            elif kind == "step" and step is not None:
                step(*body)
            elif kind == "done":
                return "done", body, None
            elif kind == "error":
                raise AebenchError(body)
            elif kind == "crash":
                raise RuntimeError(f"run host failed on {req.label}:\n{body}")

    def _death(self) -> str:
        rc = self.proc.wait()
        if rc < 0:
            return f"killed by {signal.Signals(-rc).name}"
        return f"exited with code {rc}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class Slot:
    """One run host at a time for one worker thread; a fresh one after a kill or a death."""

    def __init__(self, setup: WorkerSetup, stop: threading.Event | None = None) -> None:
        self.setup, self.stop = setup, stop or threading.Event()
        self.host: _Host | None = None

    def run(self, req: RunRequest, timeout: float | None, step: Step | None) -> Outcome | None:
        deaths: list[str] = []
        begun = None
        for _attempt in range(2):  # a run whose host dies is retried once
            if self.stop.is_set():
                return None
            if self.host is None:
                self.host = _Host(self.setup)
                if self.stop.is_set():  # stopped while the host was starting
                    self.close()
                    return None
            kind, body, begun_now = self.host.run(req, timeout, step)
            begun = begun_now or begun
            if kind == "done":
                record, arrays, weights = body
                return Outcome(record, arrays=arrays, weights=weights)
            self.close()
            if self.stop.is_set():  # the client stopped the host: nothing to record
                return None
            if kind == "timeout":
                return Outcome(
                    begun,
                    "timeout",
                    f"stopped at the --run-timeout of {timeout:g} s",
                    {"run_timeout_s": timeout},
                )
            deaths.append(body)
        return Outcome(begun, "failed", f"the process running it died twice ({'; '.join(deaths)})")

    def close(self) -> None:
        host, self.host = self.host, None
        if host is not None:
            host.kill()


def _exit_with_parent(parent: int) -> None:
    while True:  # an orphaned host (its client or Dask worker was killed) stops at once
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main() -> None:
    """Entry point of a run host: read requests on stdin, send messages on (the real) stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a plugin's print() goes to stderr, never into the message stream
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    inp = sys.stdin.buffer
    setup: WorkerSetup = _recv(inp)
    problem = None
    try:
        registry, device, data = _build(setup)
    except AebenchError as exc:  # e.g. two plugins register one name: every run says so
        problem = ("error", str(exc))
    while (msg := _recv(inp)) is not None:
        if problem is not None:
            _send(out, problem)
            continue
        req, want_steps = msg
        try:
            outcome = runner.run_one(
                registry,
                req,
                device,
                data,
                progress=_StepSender(out) if want_steps else None,
                on_start=lambda rec: _send(out, ("begin", rec)),
            )
        except AebenchError as exc:
            _send(out, ("error", str(exc)))
            continue
        except Exception:
            _send(out, ("crash", traceback.format_exc()))
            continue
        arrays = {  # plain numpy to the client, never torch tensors
            k: v.detach().cpu().numpy() if isinstance(v, Tensor) else v
            for k, v in outcome.arrays.items()
        }
        _send(out, ("done", (outcome.record, arrays, outcome.weights)))


class _StepSender:
    """Forwards a run's progress to the client: a new phase at once, training steps at most
    five times a second."""

    def __init__(self, out) -> None:
        self.out, self.last, self.phase = out, 0.0, "training"

    def __call__(self, done: int, total: int, phase: str = "training") -> None:
        now = time.monotonic()
        if now - self.last > 0.2 or done == total or phase != self.phase:
            self.last, self.phase = now, phase
            _send(self.out, ("step", (done, total, phase)))


def _build(setup: WorkerSetup) -> tuple[Registry, torch.device, DataCache]:
    from aebench.dataset import default_data_dir
    from aebench.registry.loading import load_registry
    from aebench.run.provenance import resolve_device

    if setup.threads:
        torch.set_num_threads(setup.threads)
    registry = load_registry(disabled=setup.disabled, allowed=setup.allowed)
    device = resolve_device(setup.device)
    data = DataCache(registry, default_data_dir(setup.data_dir), setup.download, device)
    return registry, device, data


_worker_slots: dict[int, Slot] = {}
_worker_lock = threading.Lock()


def dask_task(setup: WorkerSetup, req: RunRequest, run_timeout: float | None) -> Outcome:
    """One run on a Dask worker: in this worker thread's run host, started on first use."""
    ident = threading.get_ident()
    with _worker_lock:
        slot = _worker_slots.get(ident)
        if slot is None or slot.setup != setup:
            if slot is not None:
                slot.close()
            slot = _worker_slots[ident] = Slot(setup)
    out = slot.run(req, run_timeout, None)
    assert out is not None  # a worker's slot is never stopped from outside
    return out
