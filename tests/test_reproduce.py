"""The reproduction check: a fresh run of a stored record matches it, a changed metric fails."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, run_cli

from aebench.execute.reproduce import compare


def _rec(**metrics):
    return {"status": "ok", "metrics": {"fit_s": 1.0, **metrics}}


def test_compare_exact_and_with_tolerance_and_ignores_timings():
    a, b = _rec(recon_mse=0.01919), _rec(recon_mse=0.01913)
    b["metrics"]["fit_s"] = 99.0  # a timing: never compared
    assert compare(a, a, 0.0) == []
    assert compare(a, b, 0.0) and "recon_mse" in compare(a, b, 0.0)[0]
    assert compare(a, b, 0.05) == []  # 0.3 %: within a 5 % tolerance
    assert compare(a, _rec(recon_mse=0.03), 0.05)
    assert compare(a, _rec(), 0.05) == ["recon_mse: 0.01919 → None"]
    assert compare(a, {"status": "failed", "reason": "x"}, 0.05)[0].startswith("status")


def test_reproduce_passes_on_a_fresh_record_and_fails_on_a_tampered_one(tmp_path):
    results = tmp_path / "r"
    args = ("run", "-p", "digits-v1", "-m", "pca,mean", "--seeds", "0", "--threads", "1", "-q")
    assert run_cli(*args, "--results-dir", str(results)).returncode == 0
    cmd = [
        sys.executable,
        "-m",
        "aebench.execute.reproduce",
        "-p",
        "digits-v1",
        "--against",
        str(results),
    ]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("same machine kind: exact") == 2
    path = results / "digits-v1" / "digits" / "pca" / "seed-0.json"
    rec = json.loads(path.read_text())
    rec["metrics"]["recon_mse"] *= 1.001
    path.write_text(json.dumps(rec))
    bad = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 1 and "FAIL pca seed 0" in bad.stdout and "recon_mse" in bad.stdout
