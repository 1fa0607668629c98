"""Shared fixtures: fake installed distributions for plugin tests, and the shared data path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)  # tiny models: one thread is faster and not at the mercy of load
SHARED_DATA = REPO.parent / "shared" / "data"


def make_distribution(
    site: Path,
    dist: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
    version: str = "1.0",
) -> Path:
    """Write an installed distribution (dist-info + modules) into ``site``.

    importlib.metadata finds it like any pip-installed package once ``site`` is on sys.path.
    """
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "[aebench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(eps)
    for name, src in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(src))
    return site


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A directory on sys.path (and PYTHONPATH for subprocesses) for fake distributions."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    import importlib

    importlib.invalidate_caches()
    return site


def _cli_env(env: dict[str, str] | None) -> dict[str, str]:
    # one thread: the tests' models are tiny, and two threads thrash on a busy 2-core machine
    return {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", **(env or {})}


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    **popen: Any,
) -> subprocess.CompletedProcess:
    """``aebench ARGS`` in a subprocess, as a user would run it (``popen``: more for Popen)."""
    return subprocess.run(
        [sys.executable, "-m", "aebench.cli", *args],
        capture_output=True,
        text=True,
        env=_cli_env(env),
        cwd=cwd or REPO,
        timeout=timeout,
        **popen,
    )


def start_cli(*args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:
    """``aebench ARGS`` started in a subprocess and left running; its output goes to ``log``
    (``.out`` and ``.err``), so a test can signal it while it works."""
    return subprocess.Popen(
        [sys.executable, "-m", "aebench.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=open(log.with_suffix(".out"), "w"),  # noqa: SIM115 - the child holds it
        stderr=open(log.with_suffix(".err"), "w"),  # noqa: SIM115
        text=True,
        env=_cli_env(env),
        cwd=REPO,
        # as at a terminal: a test run started as a background job inherits SIGINT ignored,
        # and Python then installs no KeyboardInterrupt handler, so Ctrl-C could not be tried
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def install_faulty_plugins(site: Path) -> dict[str, str]:
    """Install ``faulty_plugin.py`` (distribution aebench-faulty) and a plugin whose import
    raises (aebench-broken) into ``site``; return the environment a subprocess needs."""
    source = (Path(__file__).parent / "faulty_plugin.py").read_text()
    make_distribution(
        site, "aebench-faulty", {"aebench_faulty": source}, {"faulty": "aebench_faulty"}
    )
    make_distribution(
        site,
        "aebench-broken",
        {"aebench_broken": "raise RuntimeError('injected fault: import fails')\n"},
        {"broken": "aebench_broken"},
    )
    return {"PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
