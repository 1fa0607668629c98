"""The GPU check's phases (``scripts/gpu-check`` installs what is missing, then runs this).

1. the CUDA-marked tests (tests/test_cuda.py, ``-m "cuda and not benchmark"``), read from JUnit;
2. the throughput benchmark of every gradient-trained model (tests/benchmarks/test_cuda_speed.py);
3. one ``aebench run`` on a Dask LocalCluster whose worker offers the ``GPU`` resource;

then a JSON summary at the path given (default results/benchmarks/cuda-gpu-check.json), with
the pytest output beside it, rewritten after each phase (a check cut short still leaves
what it found). The phases share a 270 s deadline. ``--device cpu``
runs the same phases on the CPU (the CUDA tests skip), to test this script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT = "results/benchmarks/cuda-gpu-check.json"
DEADLINE_S = 270.0  # and about 20 s of installing before: under 5 minutes in all
#: (phase, share of the time left when it starts)
SHARES = {"tests": 0.55, "benchmark": 0.7, "dask": 1.0}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/gpu-check", description=__doc__.splitlines()[0])
    p.add_argument("summary", nargs="?", help=f"the JSON summary's path (default {DEFAULT})")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (tests the script)")
    p.add_argument("--dry-run", action="store_true", help="print the phases; run nothing")
    p.add_argument("--budget", type=int, default=3000, help="training samples of the Dask run")
    return p.parse_args(argv)


def _commands(args: argparse.Namespace, tmp: Path) -> dict[str, list[str]]:
    py = [sys.executable, "-m"]
    pytest = [*py, "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"]
    return {
        "tests": [
            *pytest,
            "tests/test_cuda.py",
            "-m",
            "cuda and not benchmark",
            f"--junitxml={tmp / 'tests.xml'}",
        ],
        "benchmark": [
            *pytest,
            "tests/benchmarks/test_cuda_speed.py",
            "-m",
            "benchmark and cuda",
            f"--benchmark-json={tmp / 'benchmark.json'}",
            f"--junitxml={tmp / 'benchmark.xml'}",
        ],
        "dask": [
            *py,
            "aebench.cli",
            "run",
            *("--cluster", "local:1", "--device", args.device, "-d", "digits", "-m", "vae"),
            *("--seeds", "0", "--budget", str(args.budget), "--threads", "1", "-q"),
            *("--results-dir", str(tmp / "dask-runs"), "--no-download"),
        ],
    }


def _run(cmd: list[str], timeout: float, log) -> tuple[int | None, float]:
    """(exit status or None on timeout, seconds); output goes to ``log``."""
    t0 = time.perf_counter()
    log.write(f"\n$ {shlex.join(cmd)}\n")
    log.flush()
    try:
        rc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        return rc.returncode, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0


def _junit(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"passed": 0, "failed": 0, "skipped": 0, "failures": ["no JUnit report written"]}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failures, skips = [], set()
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            counts["failed"] += 1
            first = (bad.get("message") or "").strip().splitlines()[:1]
            failures.append(f"{name}: {first[0] if first else bad.tag}"[:400])
        elif skip is not None:
            counts["skipped"] += 1
            skips.add((skip.get("message") or "")[:200])
        else:
            counts["passed"] += 1
    return {**counts, "failures": failures, "skip_reasons": sorted(skips)}


def _throughput(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for b in json.loads(path.read_text())["benchmarks"]:
        info, median = b.get("extra_info", {}), b["stats"]["median"]
        rows.append(
            {
                "model": info.get("model"),
                "precision": info.get("precision"),
                "optimizer_impl": info.get("impl"),
                "deterministic": info.get("deterministic"),
                "median_round_s": median,
                "train_samples_per_s": info.get("samples_per_round", 0) / median,
            }
        )
    return rows


def _dask_record(runs: Path) -> dict[str, Any]:
    found = sorted(runs.rglob("seed-0.json"))
    if not found:
        return {"record": None}
    rec = json.loads(found[0].read_text())
    return {
        "status": rec.get("status"),
        "reason": rec.get("reason"),
        "device": rec.get("device", {}).get("type"),
        "determinism": rec.get("device", {}).get("determinism"),
        "test_recon_mse": rec.get("metrics", {}).get("recon_mse"),
    }


def _environment(device: str) -> dict[str, Any]:
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": device,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = list(torch.cuda.get_device_capability(0))
        try:
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            env["driver"] = subprocess.run(query, capture_output=True, text=True).stdout.strip()
        except OSError:
            env["driver"] = None
    try:
        from aebench.run.provenance import git_commit

        env["git_commit"] = git_commit()
    except ImportError as exc:
        env["git_commit"] = f"aebench not importable: {exc}"
    return env


def _phase_ok(name: str, rc: int | None, detail: dict[str, Any], cuda: bool) -> bool:
    if rc != 0:
        return False
    if name == "dask":
        return detail.get("status") == "ok"
    if not cuda:  # the CUDA tests skip on a CPU
        return not detail.get("failed")
    # on a CUDA machine a skipped CUDA test means a CUDA path did not run
    return not detail.get("failed") and not detail.get("skipped") and detail.get("passed", 0) > 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # a path given is the caller's (scripts/gpu-check changes into the repo); the default, ours
    caller = Path(os.environ.get("AEBENCH_CALLER_PWD", Path.cwd()))
    summary_path = caller / args.summary if args.summary else REPO / DEFAULT
    with tempfile.TemporaryDirectory(prefix="aebench-gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        commands = _commands(args, tmp)
        if args.dry_run:
            for name, cmd in commands.items():
                print(f"{name}: {shlex.join(cmd)}")
            print(f"summary: {summary_path}")
            return 0
        return _check(args, commands, tmp, summary_path)


def _write(summary: dict[str, Any], path: Path, start: float, done: bool) -> None:
    summary["seconds"] = round(time.perf_counter() - start, 1)
    summary["complete"] = done
    summary["ok"] = done and all(p["ok"] for p in summary["phases"].values())
    part = path.with_suffix(".json.part")
    part.write_text(json.dumps(summary, indent=2) + "\n")
    part.replace(path)


def _check(args, commands, tmp: Path, summary_path: Path) -> int:
    cuda = args.device.startswith("cuda")
    start = time.perf_counter()
    summary: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": _environment(args.device),
        "phases": {},
    }
    if not cuda:
        summary["note"] = "run with --device cpu: a test of the script, not a GPU check"
    log_path = summary_path.with_name(summary_path.stem + "-pytest.log")
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        for name, cmd in commands.items():
            left = DEADLINE_S - (time.perf_counter() - start)
            rc, took = _run(cmd, max(5.0, left * SHARES[name]), log)
            if name == "tests":
                detail = _junit(tmp / "tests.xml")
            elif name == "benchmark":
                rows = _throughput(tmp / "benchmark.json")
                detail = {**_junit(tmp / "benchmark.xml"), "rows": rows}
            else:
                detail = _dask_record(tmp / "dask-runs")
            ok = _phase_ok(name, rc, detail, cuda)
            took = round(took, 1)
            summary["phases"][name] = {"ok": ok, "exit": rc, "timed_out": rc is None, **detail}
            summary["phases"][name]["seconds"] = took
            print(f"gpu-check: {name}: {'ok' if ok else 'FAILED'} ({took:.0f} s)", flush=True)
            _write(summary, summary_path, start, done=name == list(commands)[-1])
    print(f"gpu-check: {'all ok' if summary['ok'] else 'FAILED'}; summary {summary_path}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
