"""Faults during a suite, each provoked for real on ``aebench run``.

A process killed with SIGKILL in the middle of a run and in the middle of writing a record,
Ctrl-C (SIGINT), plugins that break in every way we know (import, fit, shapes, NaN, sys.exit,
writing into their inputs, leaving torch's global switches changed, CUDA out of memory), and
results directories that are broken or read-only. Each test checks what the user sees and that
nothing that had finished is lost. The command runs in this process (``run_cli``) unless the
fault is done to the process itself (a signal, a file-size limit, dropped privileges): those
tests start a real one and are marked ``e2e``. The models that fail on purpose are in
faulty_plugin.py, installed as a third-party distribution and loaded through its entry point.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import install_faulty_plugins, run_cli, run_cli_subprocess, start_cli

from aebench.cli import main

#: a small grid: 3 models × 2 seeds, with a budget small enough for seconds per run
SMALL = ("--budget", "2000", "--threads", "1", "-q")
GRID = ("run", "-m", "pca,tiny-ae,mean", "--seeds", "0,1", *SMALL)
RECORD_NAME = re.compile(r"seed-\d+\.(json|npz)")


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    return install_faulty_plugins(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, plugin_env) -> Path:
    """The grid run once, uninterrupted: what every resumed suite must end up with."""
    rd = tmp_path_factory.mktemp("reference") / "runs"
    res = run_cli(*GRID, "--results-dir", str(rd), env=plugin_env)
    assert res.returncode == 0, res.stderr
    return rd


def files(rd: Path) -> dict[str, bytes]:
    return {p.relative_to(rd).as_posix(): p.read_bytes() for p in rd.rglob("*") if p.is_file()}


def records(rd: Path) -> dict[str, bytes]:
    """Each record and its arrays, by relative path: the files a finished run leaves."""
    out = files(rd)
    done = {k[: -len(".json")] for k in out if k.endswith(".json")}
    return {k: v for k, v in out.items() if k.rsplit(".", 1)[0] in done}


def comparable(rd: Path) -> dict[str, dict]:
    """Records without what differs between two identical runs (clock times, speeds, memory)."""
    out = {}
    for p in sorted(rd.rglob("seed-*.json")):
        rec = json.loads(p.read_text())
        for key in ("started", "finished"):
            rec.pop(key)
        rec["metrics"] = {
            k: v
            for k, v in rec.get("metrics", {}).items()
            if not k.endswith(("_s", "per_s", "_mb"))
        }
        out[p.relative_to(rd).as_posix()] = rec
    return out


def same_arrays(a: Path, b: Path) -> bool:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        return set(x.files) == set(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


def wait_for(marker: Path, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    """Until the faulty plugin says the process reached the moment a test wants it at."""
    end = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"aebench exited ({proc.returncode}) early: {log.with_suffix('.err')}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("the run never reached the point where the test stops it")
        time.sleep(0.05)


def assert_resumed_to_reference(rd: Path, before: dict[str, bytes], reference: Path) -> None:
    """Records from before the fault are byte for byte the same, nothing else is left, and
    the finished grid equals the uninterrupted one."""
    after = files(rd)
    changed = [name for name, blob in before.items() if after.get(name) != blob]
    assert not changed, f"records rewritten: {changed}"
    assert all(RECORD_NAME.fullmatch(Path(name).name) for name in after), sorted(after)
    assert sorted(after) == sorted(files(reference))
    assert comparable(rd) == comparable(reference)
    for npz in reference.rglob("*.npz"):
        assert same_arrays(rd / npz.relative_to(reference), npz), npz


# -- crash and Ctrl-C ------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    "moment, pause, n_before, n_temporary",
    [
        # the 2nd tiny-ae fit is seed 1's: pca, tiny-ae and mean of seed 0 and pca of seed 1 done
        ("in training", "FAULTY_PAUSE_FIT=2", 4, 0),
        # the 3rd record rename is mean seed 0's: its arrays and its full temporary file exist
        ("while writing a record", "FAULTY_PAUSE_WRITE=3", 2, 1),
    ],
)
def test_sigkill_mid_suite_loses_nothing_and_a_rerun_completes_the_grid(
    moment, pause, n_before, n_temporary, tmp_path, plugin_env, reference
):
    rd, marker, log = tmp_path / "runs", tmp_path / "paused", tmp_path / "killed"
    var, n = pause.split("=")
    proc = start_cli(
        *GRID, "--results-dir", str(rd), env={**plugin_env, var: f"{n}:{marker}"}, log=log
    )
    wait_for(marker, proc, log)
    before = records(rd)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL

    assert len([k for k in before if k.endswith(".json")]) == n_before
    for name in before:  # what the kill left is whole: every record reads, with its arrays
        if name.endswith(".json"):
            assert json.loads(before[name])["status"] == "ok"
            assert name.replace(".json", ".npz") in before
    temporaries = [p for p in rd.rglob("*") if p.name.startswith(".aebench-tmp-")]
    assert len(temporaries) == n_temporary  # the kill did land between write and rename

    res = run_cli(*GRID, "--results-dir", str(rd), env=plugin_env)
    assert res.returncode == 0, res.stderr
    assert f"{n_before} already recorded" in res.stderr
    assert_resumed_to_reference(rd, before, reference)


@pytest.mark.e2e
def test_ctrl_c_stops_the_run_records_nothing_partial_and_says_what_finished(
    tmp_path, plugin_env, reference
):
    rd, marker, log = tmp_path / "runs", tmp_path / "paused", tmp_path / "interrupted"
    grid = ("run", "-m", "pca,tiny-ae,mean", "--seeds", "0", *SMALL)
    env = {**plugin_env, "FAULTY_PAUSE_FIT": f"1:{marker}"}
    proc = start_cli(*grid, "--results-dir", str(rd), env=env, log=log)
    wait_for(marker, proc, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err = log.with_suffix(".err").read_text()
    assert "Traceback" not in err
    assert re.search(
        r"interrupted during tiny-ae on digits \(digits-v2~\w+, seed 0\): not recorded", err
    )
    assert "1 run(s) finished before the interrupt (1 ok): pca on digits seed 0; " in err
    assert f"records in {rd}; 2 run(s) left" in err
    before = records(rd)
    assert sorted(Path(k).parent.name for k in before) == ["pca", "pca"]  # json and npz
    assert not [
        p
        for p in rd.rglob("*")
        if p.is_file() and p.as_posix() not in {(rd / k).as_posix() for k in before}
    ]

    res = run_cli(*grid, "--results-dir", str(rd), env=plugin_env)
    assert res.returncode == 0, res.stderr
    assert "1 already recorded" in res.stderr
    ours = comparable(rd)
    assert ours == {k: v for k, v in comparable(reference).items() if k.endswith("seed-0.json")}


# -- broken plugins --------------------------------------------------------------------------

FAULTY = (
    # first, so that whatever they leave behind would reach the models after them
    "mutates-input",
    "leaves-global-state",
    "exits",
    "raises-in-fit",
    "wrong-shape",
    "nan-output",
    "out-of-memory",
)


def test_each_broken_plugin_is_isolated_to_its_own_row(tmp_path, plugin_env, reference):
    rd = tmp_path / "runs"
    models = ",".join((*FAULTY, "pca", "tiny-ae", "mean"))
    wide = {**plugin_env, "COLUMNS": "400"}  # every status on one line, whatever the columns
    res = run_cli("run", "-m", models, "--seeds", "0", *SMALL, "--results-dir", str(rd), env=wide)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        "warning: plugin 'broken' skipped: RuntimeError: injected fault: import fails"
    ]
    recs = {p.parent.name: json.loads(p.read_text()) for p in rd.rglob("seed-0.json")}
    outcome = {name: (r["status"], r["reason"]) for name, r in recs.items()}
    assert outcome["raises-in-fit"] == ("failed", "RuntimeError: injected fault: fit raises")
    assert outcome["exits"] == ("failed", "the model called sys.exit(3)")
    assert outcome["wrong-shape"][0] == "failed"
    assert "reconstruct returned shape (" in outcome["wrong-shape"][1]
    assert outcome["nan-output"] == (
        "failed",
        "ValueError: reconstruct gave NaN or infinite values for 540 of 540 inputs",
    )
    assert outcome["out-of-memory"] == ("failed", "out of memory during training (batch size 64)")
    assert outcome["mutates-input"][0] == outcome["leaves-global-state"][0] == "ok"
    assert recs["leaves-global-state"]["warnings"] == [
        "the model left torch's global state changed (grad mode off, default dtype "
        "torch.float64); restored after the run"
    ]
    for name in ("raises-in-fit", "exits", "wrong-shape"):
        assert recs[name]["traceback"].startswith("Traceback")
    # each row says what happened to it, and every other model's results are untouched
    for name, (status, reason) in outcome.items():
        if status == "failed":
            assert re.search(rf"^{name} .* failed: {re.escape(reason[:20])}", res.stdout, re.M)
    ours = {k: v for k, v in comparable(rd).items() if k.split("/")[-2] not in FAULTY}
    assert ours == {k: v for k, v in comparable(reference).items() if k.endswith("seed-0.json")}


def test_nan_anomaly_scores_fail_their_run_only(tmp_path, plugin_env):
    rd = tmp_path / "runs"
    args = ("run", "-p", "digits-novelty", "-m", "nan-scores,tiny-ae", "--seeds", "0", *SMALL)
    res = run_cli(*args, "--results-dir", str(rd), env=plugin_env)
    assert res.returncode == 0, res.stderr
    recs = {p.parent.name: json.loads(p.read_text()) for p in rd.rglob("seed-0.json")}
    assert recs["nan-scores"]["status"] == "failed"
    assert recs["nan-scores"]["reason"].startswith(
        "ValueError: the anomaly score gave NaN or infinite values for "
    )
    assert recs["tiny-ae"]["status"] == "ok" and recs["tiny-ae"]["metrics"]["anomaly.auroc"] > 0


# -- the results directory -------------------------------------------------------------------


def test_show_reports_and_skips_invalid_and_newer_records(tmp_path, reference, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # every status on one line
    rd = tmp_path / "runs"
    shutil.copytree(reference, rd)
    group = next(rd.iterdir())
    bad = group / "digits" / "pca" / "seed-1.json"
    bad.write_text(bad.read_text()[:200])  # cut short, as by a tool that is not aebench
    newer = group / "digits" / "mean" / "seed-1.json"
    newer.write_text(json.dumps({**json.loads(newer.read_text()), "format": 2}))
    assert main(["show", "--results-dir", str(rd)]) == 0
    out, err = capsys.readouterr()
    newer_line, bad_line = sorted(err.splitlines())  # one line each, in path order
    assert newer_line == (
        f"warning: skipped {newer}: record format 2 is newer than this aebench reads (1); "
        "upgrade aebench"
    )
    assert bad_line.startswith(f"warning: skipped {bad}: not a valid JSON record (")
    # tiny-ae learns nothing at SMALL's budget: the learning gate says so before its count
    tiny = r"^tiny-ae \[did not learn\] .* DID NOT LEARN \([^)]*\); ok 2/2\b"
    assert re.search(r"^pca .* ok 1/1\b", out, re.M) and re.search(tiny, out, re.M)


def test_a_run_never_overwrites_a_record_it_cannot_read(tmp_path, reference, capsys):
    rd = tmp_path / "runs"
    shutil.copytree(reference, rd)
    group = next(rd.iterdir())
    bad, newer = group / "digits" / "pca" / "seed-1.json", group / "digits" / "mean" / "seed-1.json"
    bad.write_text("{not json")
    newer_text = json.dumps({**json.loads(newer.read_text()), "format": 2})
    newer.write_text(newer_text)
    args = ["run", "-m", "pca,mean", "--seeds", "0,1", *SMALL, "--results-dir", str(rd)]
    assert main([*args, "--force"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {newer}: written by a newer aebench; left as it is, not rerun" in err
    (kept,) = bad.parent.glob("seed-1.json.unreadable-*")
    assert f"warning: {bad} is not a readable record; kept as {kept.name}" in err
    assert kept.read_text() == "{not json"
    assert newer.read_text() == newer_text
    assert json.loads(bad.read_text())["status"] == "ok"  # rerun, in its place


def _drop_dac_override() -> None:
    """In the child: as root, lose the capabilities that let root write anywhere (setting file
    modes is then enough to make a directory read-only to it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _unprivileged() -> dict:
    if os.geteuid() != 0:
        return {}
    probe = subprocess.run(["true"], preexec_fn=_drop_dac_override, check=False)
    if probe.returncode != 0:
        pytest.skip("running as root without CAP_SETPCAP: cannot make a directory read-only")
    return {"preexec_fn": _drop_dac_override}


@pytest.mark.e2e
@pytest.mark.parametrize("where", ["the results directory", "one model's folder"])
def test_a_read_only_results_directory_fails_before_any_training(
    where, tmp_path, plugin_env, reference
):
    rd, marker = tmp_path / "runs", tmp_path / "trained"
    shutil.copytree(reference, rd)
    locked = rd if where == "the results directory" else next(rd.glob("*/digits/tiny-ae"))
    before = files(rd)
    env = {**plugin_env, "FAULTY_PAUSE_FIT": f"1:{marker}", "FAULTY_PAUSE_S": "0"}
    locked.chmod(0o555)
    try:
        res = run_cli_subprocess(
            *GRID, "--force", "--results-dir", str(rd), env=env, **_unprivileged()
        )
    finally:
        locked.chmod(0o755)
    assert res.returncode == 2
    assert [ln for ln in res.stderr.splitlines() if not ln.startswith("warning:")] == [
        f"error: results directory {locked} is not writable (Permission denied); fix its "
        "permissions or pass --results-dir DIR"
    ]
    assert not marker.exists()  # no model started training
    assert files(rd) == before


@pytest.mark.e2e
def test_a_record_that_cannot_be_written_stops_the_suite_in_one_line(tmp_path, plugin_env):
    rd = tmp_path / "runs"
    assert (
        run_cli("run", "-m", "mean", "--seeds", "0", *SMALL, "--results-dir", str(rd)).returncode
        == 0
    )
    before = files(rd)

    def small_files() -> None:  # what a full disk or a quota does to the next write
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    res = run_cli_subprocess(
        "run",
        "-m",
        "mean",
        "--seeds",
        "1",
        *SMALL,
        "--results-dir",
        str(rd),
        preexec_fn=small_files,
    )
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.splitlines()
    assert re.fullmatch(
        rf"error: cannot write the record {re.escape(str(rd))}/.*/mean/seed-1\.json \(File too "
        r"large\); the 0 run\(s\) recorded before it are kept",
        line,
    )
    assert files(rd) == before  # no temporary file, no half record, the old one untouched
