"""Wall time of one small grid: sequential vs ``--jobs 2`` vs ``--cluster local:2``.

Run with ``python -m pytest -m benchmark tests/benchmarks/test_executor_speed.py``; each mode
is the whole ``aebench run`` command in a subprocess (start-up of the workers included), one
round each, torch on one thread per run. The speed-up is sequential time / parallel time; on
a 2-core machine it is at most 2, less the workers' start-up (each imports torch once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.benchmark
GRID = ["-m", "pca,denoising_ae,sparse_ae,vae", "--seeds", "0,1,2", "--budget", "60000"]
MODES = {"sequential": [], "jobs-2": ["--jobs", "2"], "cluster-local-2": ["--cluster", "local:2"]}
_WALL: dict[str, float] = {}


def _run(mode: str, results) -> None:
    cmd = [sys.executable, "-m", "aebench.cli", "run", *GRID, "--threads", "1", "-q"]
    cmd += ["--results-dir", str(results), "--force", *MODES[mode]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert res.returncode == 0, res.stderr
    assert "12 run(s): 12 ok" in res.stderr, res.stderr


@pytest.mark.parametrize("mode", list(MODES))
def test_grid_wall_time(benchmark, mode, tmp_path):
    pytest.importorskip("distributed")
    t0 = time.perf_counter()
    benchmark.pedantic(_run, args=(mode, tmp_path / mode), rounds=1, iterations=1)
    _WALL[mode] = time.perf_counter() - t0
    if mode != "sequential" and "sequential" in _WALL:
        print(f"\n{mode}: {_WALL['sequential'] / _WALL[mode]:.2f}x the sequential run")
