"""``scripts/gpu-check`` where there is no GPU: a clear one-line refusal, a dry run, and (slow)
its phases run end to end on the CPU, so the first minutes on a CUDA machine are not spent on
a broken script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

SCRIPT = REPO / "scripts" / "gpu-check"


def _check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_the_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.e2e
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_no_cuda_is_one_clear_line_and_exit_2_before_anything_runs(tmp_path):
    summary = tmp_path / "summary.json"
    res = _check(str(summary))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("gpu-check: no CUDA here (torch ")
    assert lines[0].endswith("; run this on a CUDA machine")
    assert not list(tmp_path.iterdir())  # nothing written


def test_dry_run_names_every_phase_and_writes_nothing(tmp_path):
    summary = tmp_path / "out" / "summary.json"
    res = _check(str(summary), "--dry-run")
    assert res.returncode == 0, res.stderr
    phases = [line.split(":", 1)[0] for line in res.stdout.splitlines()]
    assert phases == ["tests", "benchmark", "dask", "summary"]
    assert "-m 'cuda and not benchmark'" in res.stdout
    assert "--cluster local:1 --device cuda" in res.stdout
    assert not summary.parent.exists()


@pytest.mark.slow
def test_every_phase_runs_on_the_cpu_and_the_summary_says_so(tmp_path):
    summary = tmp_path / "gpu-check.json"
    res = _check(str(summary), "--device", "cpu", "--budget", "640", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(summary.read_text())
    assert data["ok"] and data["environment"]["device"] == "cpu"
    assert "not a GPU check" in data["note"]
    phases = data["phases"]
    assert set(phases) == {"tests", "benchmark", "dask"}
    assert phases["tests"]["skipped"] > 0 and phases["tests"]["failed"] == 0
    assert phases["dask"]["status"] == "ok" and phases["dask"]["device"] == "cpu"
    assert (tmp_path / "gpu-check-pytest.log").exists()


@pytest.mark.e2e  # pytest itself, in a new process
def test_the_summary_reads_failures_and_skips_from_a_real_junit_report(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2, 'one is not two'\n"
        "@pytest.mark.skip(reason='no device')\n"
        "def test_skipped(): pass\n"
    )
    xml = tmp_path / "r.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    got = gpu_check._junit(xml)
    assert (got["passed"], got["failed"], got["skipped"]) == (1, 1, 1)
    assert got["failures"][0].startswith("test_x::test_bad: AssertionError: one is not two")
    assert got["skip_reasons"] == ["no device"]
    assert not gpu_check._phase_ok("tests", 1, got, cuda=True)
    assert gpu_check._junit(tmp_path / "missing.xml")["failures"] == ["no JUnit report written"]
